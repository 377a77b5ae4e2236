"""Credentials reach only their own mirror and never any output: console, JSON, SARIF, BOM, or the logs."""

from __future__ import annotations

import logging

import pytest

from conftest import safetensors_bytes
from mirror.netcase import mirror_policy
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS
from weightgate.mirror.transport import bearer_or_netrc

WEIGHTS = safetensors_bytes(8)


@pytest.mark.server
@pytest.mark.parametrize("token_ok", [True, False], ids=["accepted", "rejected"])
def test_token_never_appears_in_any_output(ws, nginx, test_ca, monkeypatch, capfd, caplog, token_ok):
    token = nginx.token if token_ok else "wrong-" + nginx.token
    monkeypatch.setenv("WEIGHTGATE_MIRROR_TOKEN", token)
    monkeypatch.setenv("HF_TOKEN", "hf_" + nginx.token)
    name = f"secret-{token_ok}"
    nginx.put(f"private/{name}/model.safetensors", WEIGHTS)
    art = ws.artifact(name, {"model.safetensors": WEIGHTS}, mirror=f"{nginx.https_url}/private/{name}")
    manifest = ws.write_manifest([art])
    outputs = {kind: ws.root / f"out.{kind}" for kind in ("sarif", "bom", "json")}
    caplog.set_level(logging.DEBUG)
    code = main(["-vv", "check", str(manifest), "--policy", str(mirror_policy(ws, test_ca.pem)),
                 "--as-of", "2026-11-26", "--sarif", str(outputs["sarif"]), "--bom", str(outputs["bom"]),
                 "--json", str(outputs["json"])])
    captured = capfd.readouterr()
    texts = [captured.out, captured.err, caplog.text, *(p.read_text() for p in outputs.values())]
    assert all(nginx.token not in text for text in texts)
    wg308 = "WG308" in outputs["json"].read_text()
    assert wg308 is not token_ok  # the right token opens /private/, a wrong one is a finding
    if not token_ok:
        assert code == EXIT_FINDINGS and "denied (HTTP 401)" in outputs["json"].read_text()


def test_credential_is_bound_to_its_origin_and_hidden_from_repr(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine mirror.internal login ci password s3cret-pw\n")
    netrc.chmod(0o600)
    cred = bearer_or_netrc("https://mirror.internal/models", {"NETRC": str(netrc)}, ("WEIGHTGATE_MIRROR_TOKEN",))
    assert cred is not None and cred.origin == "https://mirror.internal:443" and cred.source == ".netrc"
    assert "s3cret" not in repr(cred) and cred.header_value.startswith("Basic ")
    token = bearer_or_netrc("https://mirror.internal", {"WEIGHTGATE_MIRROR_TOKEN": "tok-1", "NETRC": str(netrc)},
                            ("WEIGHTGATE_MIRROR_TOKEN",))
    assert token is not None and token.header_value == "Bearer tok-1" and "tok-1" not in repr(token)
    assert bearer_or_netrc("https://other.internal", {"NETRC": str(netrc)}, ()) is None
