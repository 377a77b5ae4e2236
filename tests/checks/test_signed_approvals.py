"""WG602-WG605, WG636-WG640 under `approvals.require_signed`: only signed review records from the approvals store
count, and only when a reviewer the policy names for the role signed them for this exact digest."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import rule_ids
from evidence.signing import write_ca_and_leaf, write_key
from weightgate.approve import Subject, approval_record, record_line
from weightgate.cli import main
from weightgate.evidence.dsse import load_signer, sign_statement
from weightgate.evidence.reviews import Decision, Review, review_statement
from weightgate.evidence.store import store_file_name
from weightgate.facts import artifact_digest

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
PRODUCTION = [{"name": "svc", "environment": "production", "artifacts": ["v2"]}]
OWNER = "team@example.com"  # the workspace artifacts' owner


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


class Signed:
    """A workspace whose policy names reviewers by key and by certificate, with an approvals store."""

    def __init__(self, ws, min_security=1, owner=OWNER):
        self.ws = ws
        keys = ws.root / "keys"
        self.keys = {name: write_key(keys, name) for name in ("appsec", "sec2", "owner", "outsider")}
        self.ca, self.leaf_key, self.leaf = write_ca_and_leaf(ws.root / "pki", "reviewers", "legal@example.com")
        self.other_ca, self.other_leaf_key, self.other_leaf = write_ca_and_leaf(ws.root / "pki-other", "rogue",
                                                                                "legal@example.com")
        self.store = ws.root / "approvals"
        self.store.mkdir()
        self.art = ws.artifact("v2", owner=owner, approvals=[])
        self.manifest = ws.write_manifest([self.art], PRODUCTION)
        self.digest = _digest(self.art)
        self.policy = ws.write_policy(approvals={
            "require_signed": True, "store": "approvals", "max_age_days": 365,
            "required_roles": [{"environment": "production", "roles": ["security"]}],
            "reviewers": {
                "security": {"min": min_security, "signers": [
                    {"identity": "appsec@example.com", "key": "keys/appsec.pub"},
                    {"identity": "sec2@example.com", "key": "keys/sec2.pub"},
                    {"identity": OWNER, "key": "keys/owner.pub"}]},
                "legal": {"signers": [{"identity": "legal@example.com", "ca": "pki/reviewers-ca.pem"}]},
            }})

    def approve(self, key="appsec", *extra, ticket="SEC-1"):
        args = ["approve", str(self.manifest), "--artifact", "v2", "--role", "security", "--key",
                str(self.keys[key][0]), "--reviewer", f"{key}@example.com", "--store", str(self.store), *extra]
        args += ["--ticket", ticket] if ticket else []
        assert main(args) == 0

    def append(self, record: dict | bytes) -> None:
        line = record if isinstance(record, bytes) else record_line(record).encode()
        with (self.store / store_file_name(self.digest)).open("ab") as handle:
            handle.write(line.rstrip(b"\n") + b"\n")

    def record(self, key="appsec", role="security", decision=Decision.APPROVED, time=NOW, digest=None, **fields):
        fields.setdefault("ticket", "SEC-1")  # the workspace's sources are tier 2: approvals name a ticket
        signer = load_signer(self.keys[key][0].read_bytes(), key)
        review = Review(role, decision, f"{key}@example.com", time, **fields)
        return approval_record(Subject("v2", digest or self.digest, False), review, signer)

    def check(self, **options):
        return self.ws.check(self.manifest, policy=self.policy, today=TODAY, **options)


@pytest.fixture
def signed(ws):
    return Signed(ws)


def test_a_reviewer_named_for_the_role_approves(signed):
    signed.approve("appsec")
    assert rule_ids(signed.check()) == []
    assert rule_ids(signed.check(offline=True)) == []  # a local store is read offline too (pre-commit)


def test_text_approval_does_not_count(signed, ws):
    art = ws.artifact("v2", approvals=[{"approver": "appsec@example.com", "role": "security",
                                        "date": TODAY.isoformat(), "digest": signed.digest, "ticket": "SEC-1"}])
    signed.manifest = ws.write_manifest([art], PRODUCTION)
    assert rule_ids(signed.check()) == ["WG605", "WG636"]


def test_a_key_the_policy_does_not_name_does_not_count(signed):
    signed.approve("outsider")
    report = signed.check()
    assert rule_ids(report) == ["WG605", "WG638"]
    assert "no key the policy names" in next(f.message for f in report.active_findings if f.rule.id == "WG638")


def test_a_key_named_for_another_role_does_not_count(signed):
    signed.append(signed.record("appsec", role="legal"))
    report = signed.check()
    assert rule_ids(report) == ["WG605", "WG638"]


def test_the_owner_cannot_approve_with_their_own_key(signed):
    signed.approve("owner")
    assert rule_ids(signed.check()) == ["WG603", "WG605"]


def test_a_look_alike_owner_spelling_is_still_the_owner(ws):
    signed = Signed(ws, owner="t\u0435am@example.com")  # Cyrillic e: a different string, the same person
    signed.approve("owner")
    assert rule_ids(signed.check()) == ["WG603", "WG605"]


def test_a_record_for_another_digest_does_not_count(signed):
    signed.append(signed.record(digest="sha256:" + "ab" * 32))
    assert rule_ids(signed.check()) == ["WG602", "WG605"]


def test_a_tampered_payload_does_not_count(signed):
    record = signed.record()
    statement = json.loads(base64.b64decode(record["payload"]))
    statement["predicate"]["role"] = "security"
    statement["predicate"]["reviewer"] = "someone-else@example.com"
    record["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signed.append(record)
    report = signed.check()
    assert rule_ids(report) == ["WG605", "WG637"]
    assert "altered" in next(f.message for f in report.active_findings if f.rule.id == "WG637")


def test_a_rejection_blocks_until_a_later_approval(signed):
    signed.append(signed.record("appsec", time=NOW - datetime.timedelta(hours=2)))
    signed.append(signed.record("sec2", decision=Decision.REJECTED, time=NOW - datetime.timedelta(hours=1),
                                justification="prompt-injection eval failed", ticket="SEC-9"))
    report = signed.check()
    assert rule_ids(report) == ["WG639"]
    assert "prompt-injection eval failed" in report.active_findings[0].message
    signed.append(signed.record("appsec", time=NOW))
    assert rule_ids(signed.check()) == []


@pytest.mark.parametrize("shift, words", [(datetime.timedelta(days=400), "days ago"),
                                          (-datetime.timedelta(days=2), "in the future")])
def test_expired_and_future_dated_records_do_not_count(signed, shift, words):
    signed.append(signed.record(time=NOW - shift))
    report = signed.check()
    assert rule_ids(report) == ["WG604", "WG605"]
    assert words in next(f.message for f in report.active_findings if f.rule.id == "WG604")


def test_a_threshold_needs_distinct_signers(ws):
    signed = Signed(ws, min_security=2)
    signed.approve("appsec")
    assert rule_ids(signed.check()) == ["WG640"]
    signed.append(signed.record("appsec", time=NOW - datetime.timedelta(minutes=1)))  # same signer again
    assert rule_ids(signed.check()) == ["WG640"]
    signed.approve("sec2")
    assert rule_ids(signed.check()) == []


def test_a_copied_record_line_is_reported_and_counts_once(ws):
    signed = Signed(ws, min_security=2)
    record = signed.record()
    signed.append(record)
    signed.append(record)
    assert rule_ids(signed.check()) == ["WG637", "WG640"]


def test_a_review_for_another_environment_does_not_count(signed):
    signed.approve("appsec", "--environment", "staging")
    assert rule_ids(signed.check()) == ["WG605"]


def _wrong_payload_type(signed):
    record = signed.record()
    from securesystemslib.dsse import Envelope

    envelope = Envelope(base64.b64decode(record["payload"]), "application/json", {})
    envelope.sign(load_signer(signed.keys["appsec"][0].read_bytes(), "k"))
    return envelope.to_dict()


def _unknown_predicate(signed):
    statement = review_statement("v2", signed.digest.removeprefix("sha256:"),
                                 Review("security", Decision.APPROVED, "a", NOW))
    statement["predicateType"] = "https://example.com/anything/v1"
    return sign_statement(statement, load_signer(signed.keys["appsec"][0].read_bytes(), "k"))


def _bad_predicate(signed):
    statement = review_statement("v2", signed.digest.removeprefix("sha256:"),
                                 Review("security", Decision.APPROVED, "a", NOW))
    statement["predicate"]["decision"] = "maybe"
    return sign_statement(statement, load_signer(signed.keys["appsec"][0].read_bytes(), "k"))


BAD_RECORDS = {
    "not json": lambda s: b"{not json",
    "a JSON list": lambda s: b"[1, 2]",
    "duplicate keys": lambda s: b'{"payload": "e30=", "payload": "e30=", "payloadType": "x", "signatures": []}',
    "no signatures": lambda s: json.dumps({"payload": "e30=", "payloadType": "x", "signatures": []}).encode(),
    "bad base64": lambda s: json.dumps({"payload": "%%%", "payloadType": "x",
                                        "signatures": [{"keyid": "k", "sig": "%%%"}]}).encode(),
    "oversize": lambda s: b'{"payload": "' + b"A" * (1024 * 1024 + 10) + b'"}',
    "wrong payload type": _wrong_payload_type,
    "unknown predicate type": _unknown_predicate,
    "predicate off its schema": _bad_predicate,
}


@pytest.mark.parametrize("name", list(BAD_RECORDS))
def test_bad_records_are_findings_and_never_count(signed, name):
    made = BAD_RECORDS[name](signed)
    signed.append(made if isinstance(made, bytes) else record_line(made).encode())
    report = signed.check()
    assert rule_ids(report) == ["WG605", "WG637"], name


def test_an_unreadable_store_fails_closed(signed):
    (signed.store / store_file_name(signed.digest)).mkdir()  # a folder where the records file should be
    report = signed.check()
    assert "WG637" in rule_ids(report) and "WG605" in rule_ids(report)


def test_a_certificate_reviewer_signs_with_a_chain_to_the_policy_ca(signed):
    args = ["approve", str(signed.manifest), "--artifact", "v2", "--role", "legal", "--key", str(signed.leaf_key),
            "--cert", str(signed.leaf), "--store", str(signed.store), "--ticket", "LIC-1",
            "--license-expression", "Apache-2.0",
            "--commercial-use", "--redistribution"]
    assert main(args) == 0
    signed.approve("appsec")
    report = signed.check()
    assert rule_ids(report) == [], [f.message for f in report.active_findings]
    reviews = report.governance.records["v2"].reviews()
    legal = next(r.review for r in reviews if r.review.role == "legal")
    assert legal.reviewer == "legal@example.com" and legal.license.commercial_use is True


def test_a_certificate_from_another_ca_does_not_count(signed):
    args = ["approve", str(signed.manifest), "--artifact", "v2", "--role", "legal", "--key",
            str(signed.other_leaf_key), "--cert", str(signed.other_leaf), "--store", str(signed.store)]
    assert main(args) == 0
    assert rule_ids(signed.check()) == ["WG605", "WG638"]


def test_approve_verify_signs_only_bytes_that_match_the_pins(signed, capsys):
    (signed.ws.mirror / "v2" / "model.safetensors").write_bytes(b"other bytes")
    args = ["approve", str(signed.manifest), "--artifact", "v2", "--role", "security", "--key",
            str(signed.keys["appsec"][0]), "--reviewer", "a@example.com", "--verify", "-o",
            str(signed.ws.root / "r.json")]
    assert main(args) == 2
    assert "do not verify" in capsys.readouterr().err
    assert not Path(signed.ws.root / "r.json").exists()


def test_a_tier_two_approval_must_name_its_ticket(signed):
    signed.approve("appsec", ticket=None)  # hf://org/v2 matches no tier rule: tier 2, full records required
    assert rule_ids(signed.check()) == ["WG606"]
    signed.approve("sec2")
    assert rule_ids(signed.check()) == ["WG606"]  # the first record still lacks one


def test_a_license_needing_review_needs_a_signed_review_of_that_expression(ws):
    signed = Signed(ws)
    art = ws.artifact("v2", approvals=[], license={"spdx": "LicenseRef-acme", "review": {
        "reviewer": "legal@example.com", "date": TODAY.isoformat(), "outcome": "approved"}})
    signed.manifest = ws.write_manifest([art], PRODUCTION)
    signed.policy = ws.write_policy(licenses={"declared": {"LicenseRef-acme": {"restrictions": ["attribution"]}}},
                                    approvals=json.loads(json.dumps(_approvals_section(signed))))
    signed.approve("appsec")
    report = signed.check()
    assert rule_ids(report) == ["WG612"]  # the text review is a claim
    assert "signed license review" in report.active_findings[0].message
    legal = ["approve", str(signed.manifest), "--artifact", "v2", "--role", "legal", "--key", str(signed.leaf_key),
             "--cert", str(signed.leaf), "--store", str(signed.store), "--ticket", "LIC-1"]
    assert main([*legal, "--license-expression", "MIT"]) == 0  # another expression: not a review of this one
    assert rule_ids(signed.check()) == ["WG612"]
    assert main([*legal, "--license-expression", "LicenseRef-acme", "--no-redistribution"]) == 0
    assert rule_ids(signed.check()) == []


def _approvals_section(signed):
    import yaml

    return yaml.safe_load(signed.policy.read_text())["approvals"]


def test_check_evidence_option_overrides_the_policy_store(signed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    args = ["approve", str(signed.manifest), "--artifact", "v2", "--role", "security", "--key",
            str(signed.keys["appsec"][0]), "--reviewer", "appsec@example.com", "--ticket", "SEC-1", "--store",
            str(elsewhere)]
    assert main(args) == 0
    check = ["check", str(signed.manifest), "--policy", str(signed.policy), "--as-of", TODAY.isoformat(), "-q"]
    assert main(check) == 1  # the policy's store holds nothing for this digest
    assert main([*check, "--evidence", str(elsewhere)]) == 0


@pytest.mark.server
def test_a_store_served_over_https_is_read_with_the_mirror_transport(signed, nginx, test_ca):
    """The store as a mirror URI: records read through the same HTTPS transport (CA, limits) as artifacts."""
    import yaml

    signed.approve("appsec")
    name = f"store-{signed.digest[7:19]}"
    data = (signed.store / store_file_name(signed.digest)).read_bytes()
    nginx.put(f"{name}/{store_file_name(signed.digest)}", data)
    policy = yaml.safe_load(signed.policy.read_text())
    policy["approvals"]["store"] = f"{nginx.https_url}/{name}"
    policy["mirrors"] = {"ca_bundle": str(test_ca.pem), "require_object_versions": False}
    signed.policy.write_text(yaml.safe_dump(policy))
    report = signed.check()
    assert rule_ids(report) == []
    assert report.governance.records["v2"].uri.startswith(nginx.https_url)
    assert rule_ids(signed.check(offline=True)) == []  # offline, a network store is not read, not judged empty
    assert not signed.check(offline=True).governance.records["v2"].fetched
    policy["approvals"]["store"] = f"{nginx.https_url}/{name}-missing"
    signed.policy.write_text(yaml.safe_dump(policy))
    assert rule_ids(signed.check()) == ["WG605"]  # an empty store: no records, so no approval


def _written(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("change, words", [
    (lambda s, a: a.__setitem__(a.index("--artifact") + 1, "nope"), "declares no artifact 'nope'"),
    (lambda s, a: a.__setitem__(a.index("--key") + 1, str(_written(s.ws.root / "bad.pem", "not a key"))),
     "signing key"),
    (lambda s, a: a.extend(["-o", str(s.ws.root / "r.json")]), "give one of -o FILE or --store DIR"),
    (lambda s, a: a.extend(["--commercial-use"]), "need --license-expression"),
])
def test_approve_refuses_bad_input_with_a_clear_message(signed, capsys, change, words):
    args = ["approve", str(signed.manifest), "--artifact", "v2", "--role", "security", "--key",
            str(signed.keys["appsec"][0]), "--reviewer", "a@example.com", "--store", str(signed.store)]
    change(signed, args)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not list(signed.store.glob("*.jsonl"))


def test_the_approval_schema_is_published_and_describes_what_approve_writes(signed, capsys):
    import jsonschema

    assert main(["schema", "approval"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    signed.approve("appsec", "--justification", "ok", "--environment", "prod*")
    line = (signed.store / store_file_name(signed.digest)).read_text().splitlines()[0]
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    jsonschema.validate(statement["predicate"], schema)
    assert statement["subject"][0]["digest"]["sha256"] == signed.digest.removeprefix("sha256:")


SIGSTORE = Path(__file__).resolve().parents[1] / "assets" / "sigstore"


@pytest.mark.parametrize("identity, rule, words", [
    ("stefanb@us.ibm.com", "WG637", "predicate type"),  # verified offline, but it is a model signature
    ("someone@example.com", "WG638", "stefanb@us.ibm.com"),  # a real signature by somebody not named
])
def test_a_real_sigstore_bundle_goes_through_the_gate(ws, identity, rule, words):
    """A real production Sigstore bundle (DSSE over an in-toto statement) in the store: the gate verifies it
    offline against the policy's trusted root. It is a model-signing statement, not a review, so it never counts;
    by an identity the policy does not name it is a signer not allowed."""
    import shutil

    import yaml

    signed = Signed(ws)
    shutil.copy(SIGSTORE / "production-trusted-root.json", ws.root / "trusted_root.json")
    policy = yaml.safe_load(signed.policy.read_text())
    policy["approvals"]["trust_root"] = "trusted_root.json"
    policy["approvals"]["reviewers"]["security"]["signers"].append(
        {"identity": identity, "issuer": "https://sigstore.verify.ibm.com/oauth2"})
    signed.policy.write_text(yaml.safe_dump(policy))
    signed.append((SIGSTORE / "production-dsse-rekor-v1.sigstore.json").read_bytes().replace(b"\n", b""))
    report = signed.check()
    assert rule_ids(report) == sorted(["WG605", rule])
    assert words in next(f.message for f in report.active_findings if f.rule.id == rule)


@pytest.mark.parametrize("make", [
    ed25519.Ed25519PrivateKey.generate,
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
], ids=["ed25519", "p384", "rsa"])
def test_every_key_type_approve_signs_is_verified(signed, make):
    """The gate verifies with cryptography what approve signs with securesystemslib, for each key type."""
    key = make()
    signed.keys["appsec"][0].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    signed.keys["appsec"][1].write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    signed.approve("appsec")
    assert rule_ids(signed.check()) == []
