"""`check --policy-ref`: the policy, and the keys and registry it names, come from the target revision of a real
git repository, so a change that relaxes its own gate (fail_on: never, a waiver, a swapped signer key) still
fails; the edit is reported as WG645 and takes effect after merge."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import REPO_ROOT
from example_copy import fix_example, make_example
from weightgate.cli import main
from weightgate.errors import PolicyError
from weightgate.evidence.signatures import SignatureStatus
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.gate import CheckOptions, run_check
from weightgate.policy import LOCATION_FIELDS, TRUST_FILE_FIELDS, trust_file_names
from weightgate.policy_ref import policy_at_ref

TODAY = datetime.date(2026, 11, 26)
AS_OF = ["--as-of", TODAY.isoformat()]
PLANTED = ("support-embedder", "WG201")  # the example's mutable `revision: main`, planted again by the change


def git(repo: Path, *args: str) -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(example: Path) -> tuple[Path, str]:
    """A repository whose main branch holds the example with its planted problems fixed: the base commit."""
    fix_example(example)
    root = example.parent
    git(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text("/report.json\n")
    return example, commit(root, "base")


def manifest_doc(example: Path) -> dict:
    return yaml.safe_load((example / "deployment.yaml").read_text())


def relax_policy(example: Path, digest: str) -> None:
    """What a change that wants to pass would do to the policy and the key beside it."""
    policy = yaml.safe_load((example / "policy.yaml").read_text())
    policy["fail_on"] = "never"
    policy["waivers"] = [{"rule": "WG201", "digest": digest, "reason": "trust me", "expires": "2027-01-01",
                          "approved_by": "the-author@example.com"}]
    (example / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    (example / "keys" / "example-org.pub").write_bytes(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def plant_mutable_revision(example: Path) -> None:
    doc = manifest_doc(example)
    embedder = next(a for a in doc["artifacts"] if a["id"] == "support-embedder")
    embedder["source"]["revision"] = "main"
    (example / "deployment.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def check(example: Path, *extra: str) -> tuple[int, dict]:
    out = example.parent / "report.json"
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--json", str(out), "-q", *AS_OF, *extra])
    return code, json.loads(out.read_text()) if out.exists() else {}


def active(report: dict) -> set[tuple[str, str]]:
    return {(f["artifact"], f["rule"]) for f in report["findings"] if not f["waived"]}


def embedder_digest(example: Path) -> str:
    report = run_check(CheckOptions(manifest=example / "deployment.yaml", policy=example / "policy.yaml",
                                    today=TODAY))
    return report.digests["support-embedder"].value


@pytest.mark.parametrize("committed", [False, True], ids=["working-tree", "pr-commit"])
def test_a_change_cannot_relax_its_own_gate(repo, committed):
    example, base = repo
    plant_mutable_revision(example)
    relax_policy(example, embedder_digest(example))
    if committed:
        git(example.parent, "checkout", "-q", "-b", "pr")
        commit(example.parent, "pr: relax the gate")
    # Without --policy-ref the change's own policy judges it, and lets it through.
    code, report = check(example)
    assert code == EXIT_PASS
    assert PLANTED not in active(report)
    # With the base commit's policy the planted problem fails the gate, and the policy edit is noted.
    code, report = check(example, "--policy-ref", base)
    assert code == EXIT_FINDINGS
    assert PLANTED in active(report)
    notes = [f for f in report["findings"] if f["rule"] == "WG645"]
    assert len(notes) == 1 and notes[0]["severity"] == "low"
    assert notes[0]["message"] == (
        f"the change edits {example / 'policy.yaml'} (and 1 file beside it: examples/keys/example-org.pub); the "
        f"gate applied the policy at {base[:12]}; the edit takes effect after merge")
    assert notes[0]["line"] == 1 and notes[0]["path"].endswith("examples/policy.yaml")
    assert report["policy"]["sha256"] == _sha256(git(example.parent, "show", f"{base}:examples/policy.yaml"))


def test_the_swapped_key_is_not_used(repo):
    example, base = repo
    relax_policy(example, "sha256:" + "0" * 64)
    # The change's key cannot verify the publisher's signatures: read from the working tree, the signers fail.
    report = run_check(CheckOptions(manifest=example / "deployment.yaml", policy=example / "policy.yaml",
                                    today=TODAY))
    assert {s.status for s in report.governance.signatures.values()} != {SignatureStatus.VERIFIED}
    report = run_check(CheckOptions(manifest=example / "deployment.yaml", policy=example / "policy.yaml",
                                    today=TODAY, policy_ref=base))
    assert {s.status for s in report.governance.signatures.values()} == {SignatureStatus.VERIFIED}
    assert report.policy.revision == base and report.policy.fail_on.value == "error"
    assert report.policy.source == str(example / "policy.yaml")
    assert report.governance.registry.uri == f"{base}:examples/registry.yaml"  # not the temporary copy


def test_no_edit_no_note_and_the_same_verdict(repo, capsys):
    example, base = repo
    code, report = check(example, "--policy-ref", "main")
    assert code == EXIT_PASS
    main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"), *AS_OF,
          "--policy-ref", "main"])
    assert f"policy {example / 'policy.yaml'} at {base[:12]}" in capsys.readouterr().out.splitlines()[0]
    assert not [f for f in report["findings"] if f["rule"] == "WG645"]
    # Near miss: the manifest beside the policy changes in every change; that is not a policy edit.
    plant_mutable_revision(example)
    code, report = check(example, "--policy-ref", base)
    assert code == EXIT_FINDINGS and PLANTED in active(report)
    assert "WG645" not in {f["rule"] for f in report["findings"]}


def test_an_edited_key_alone_is_reported(repo):
    example, base = repo
    (example / "keys" / "example-org.pub").write_text("not a key\n")
    with policy_at_ref(example / "policy.yaml", base) as at_ref:
        assert not at_ref.policy_edited and at_ref.other_edits == ("examples/keys/example-org.pub",)
        assert at_ref.policy.signatures.signers[0].keys[0].read_bytes() == git(
            example.parent, "show", f"{base}:examples/keys/example-org.pub").encode()
        copy = at_ref.copy_root
    assert not copy.exists(), "the private copy is removed after the check"
    code, report = check(example, "--policy-ref", base)
    assert code == EXIT_PASS  # the broken key in the working tree is never read
    (note,) = [f for f in report["findings"] if f["rule"] == "WG645"]
    assert note["message"].startswith(f"the change edits 1 file the policy {example / 'policy.yaml'} names "
                                      "(examples/keys/example-org.pub);")


def test_relative_mirror_roots_stay_in_the_working_tree(repo):
    example, base = repo
    with policy_at_ref(example / "policy.yaml", base) as at_ref:
        assert at_ref.policy.approved_roots[0] == str((example / "mirror").resolve()) + "/"
        assert at_ref.policy.governance.registry_file is not None
        assert at_ref.policy.governance.registry_file.is_relative_to(at_ref.copy_root)


def test_a_key_only_the_change_adds_is_not_trusted(repo):
    example, _ = repo
    policy = yaml.safe_load((example / "policy.yaml").read_text())
    policy["signatures"]["signers"][0]["keys"] = ["keys/new.pub"]
    (example / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    base_policy = commit(example.parent, "the policy names a key nobody committed")
    shutil.copy(example / "keys" / "example-org.pub", example / "keys" / "new.pub")  # the change adds it
    with pytest.raises(PolicyError, match=r"examples/keys/new.pub \(named by the policy .*\) is not in the "
                       r"repository at"), policy_at_ref(example / "policy.yaml", base_policy):
        pass


@pytest.mark.parametrize(("ref", "message"), [
    ("no-such-branch", "--policy-ref 'no-such-branch' is not a commit in"),
    ("0" * 40, "is not a commit in"),
    ("--output=/tmp/x", "is not a git revision"),
    ("main two", "is not a git revision"),
    ("", "is not a git revision"),
])
def test_a_bad_ref_is_an_input_error(repo, capsys, ref, message):
    example, _ = repo
    code, _ = check(example, "--policy-ref", ref)
    assert code == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_policy_missing_at_the_ref_is_an_input_error(repo, capsys):
    example, base = repo
    (example / "other-policy.yaml").write_text((example / "policy.yaml").read_text())
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "other-policy.yaml"),
                 "--policy-ref", base, "-q"])
    assert code == EXIT_INPUT_ERROR
    assert "(examples/other-policy.yaml) is not in the repository at" in capsys.readouterr().err


def test_outside_a_repository_or_without_git_is_an_input_error(example, capsys, monkeypatch):
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--policy-ref", "main", "-q"])
    assert code == EXIT_INPUT_ERROR and "cannot find the git repository holding" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(example))  # no git here
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--policy-ref", "main", "-q"])
    assert code == EXIT_INPUT_ERROR and "--policy-ref needs git" in capsys.readouterr().err


def test_policy_ref_needs_a_policy_file(repo, capsys):
    example, base = repo
    code = main(["check", str(example / "deployment.yaml"), "--policy-ref", base, "-q"])
    assert code == EXIT_INPUT_ERROR and "--policy-ref needs --policy" in capsys.readouterr().err


def test_a_directory_turned_into_a_link_does_not_pick_another_policy(repo, tmp_path):
    """The change replaces the policy's directory with a link to a folder that holds a permissive policy at the
    target revision; the path in the repository is taken as written, so the real policy still applies."""
    example, _ = repo
    root = example.parent
    (root / "fixtures").mkdir()
    permissive = yaml.safe_load((example / "policy.yaml").read_text()) | {"fail_on": "never"}
    (root / "fixtures" / "policy.yaml").write_text(yaml.safe_dump(permissive))
    base = commit(root, "a permissive fixture elsewhere in the repository")
    shutil.move(example, root / "moved")
    (root / "examples").symlink_to("fixtures")
    with policy_at_ref(root / "examples" / "policy.yaml", base) as at_ref:
        assert at_ref.repo_path == "examples/policy.yaml" and at_ref.policy.fail_on.value == "error"


def test_the_environment_cannot_point_git_elsewhere(repo, tmp_path, monkeypatch):
    example, base = repo
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    with policy_at_ref(example / "policy.yaml", base) as at_ref:
        assert at_ref.commit == base


# --- the trust-file list and the schema cannot drift -------------------------------------------------------

def _relative_path_fields(node: dict, defs: dict, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every field whose description says "relative to the policy file", following $refs, and mapping values
    (`additionalProperties`, e.g. reviewers per role) as `*`."""
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    found = set()
    if re.search(r"relative to the policy file", node.get("description", ""), re.I):
        found.add(path)
    for key, child in node.get("properties", {}).items():
        found |= _relative_path_fields(child, defs, (*path, key))
    for each in ("items", "additionalProperties"):
        if isinstance(node.get(each), dict):
            found |= _relative_path_fields(node[each], defs, (*path, "*"))
    return found


def test_every_relative_path_in_the_policy_schema_is_trust_or_location():
    schema = json.loads((REPO_ROOT / "schemas" / "policy.schema.json").read_text())
    assert _relative_path_fields(schema, schema.get("$defs", {})) == set(TRUST_FILE_FIELDS) | set(LOCATION_FIELDS)


def test_trust_file_names_of_the_example():
    doc = yaml.safe_load((REPO_ROOT / "examples" / "policy.yaml").read_text())
    assert trust_file_names(doc) == ("registry.yaml", "keys/example-org.pub", "keys/appsec.pub", "keys/ml-lead.pub",
                                     "keys/legal.pub", "keys/reviewers-ca.pem", "keys/eval-harness.pub")
    assert trust_file_names({"signatures": {"signers": [{"keys": ["/etc/k.pub", 3, "a.pub"]}, "x"]},
                             "registry": {"file": ["odd"]}}) == ("odd", "a.pub")


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


# --- approvals: the store is read from the change, who may sign from the target branch ----------------------

def _approve(example: Path, key: Path, role: str = "security") -> None:
    assert main(["approve", str(example / "deployment.yaml"), "--artifact", "support-embedder", "--role", role,
                 "--key", str(key), "--reviewer", "x@example.com", "--ticket", "SEC-9", "--store",
                 str(example / "approvals")]) == 0


def test_a_reviewer_the_change_adds_to_the_policy_does_not_count(repo, tmp_path):
    """With no approval of the embedder on record, the change adds its author's key as a security reviewer in
    the policy and signs an approval with it: under --policy-ref the base policy decides who may sign, so the
    record is a signer not allowed; an approval by the reviewer the base policy names, added by the same
    change, counts (records are signed: the store is read from the change)."""
    from evidence.signing import write_key

    example, base = repo
    shutil.rmtree(example / "approvals")
    private, public = write_key(tmp_path / "k", "author")
    shutil.copy(public, example / "keys" / "author.pub")
    policy = yaml.safe_load((example / "policy.yaml").read_text())
    policy["approvals"]["reviewers"]["security"]["signers"].append({"identity": "author@example.com",
                                                                   "key": "keys/author.pub"})
    (example / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    _approve(example, private)
    today = ("--as-of", datetime.datetime.now(datetime.timezone.utc).date().isoformat())  # records are signed now
    code, report = check(example, *today)
    assert ("support-embedder", "WG605") not in active(report)  # the change's own policy would let it pass
    code, report = check(example, "--policy-ref", base, *today)
    assert code == 1
    assert {("support-embedder", "WG605"), ("support-embedder", "WG638")} <= active(report)
    assert "WG645" in {rule for _, rule in active(report)}  # the policy edit is reported, applied after merge
    module = make_example()
    appsec = tmp_path / "appsec.pem"
    appsec.write_bytes(module._example_key("appsec@example.com").private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _approve(example, appsec)  # the reviewer the target branch names signs, in the change: that counts
    code, report = check(example, "--policy-ref", base, *today)
    assert ("support-embedder", "WG605") not in active(report)
