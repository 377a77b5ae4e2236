"""Credentials reach only their own mirror and never any output: console, JSON, SARIF, BOM, or the logs."""

from __future__ import annotations

import logging

import pytest

from conftest import safetensors_bytes
from mirror.netcase import mirror_ids, mirror_policy, only
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
    policy = mirror_policy(ws, test_ca.pem, approved_roots=[f"{nginx.https_url}/private/"])
    code = main(["-vv", "check", str(manifest), "--policy", str(policy),
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


def _requests(nginx, path: str) -> list[str]:
    log = nginx.root.parent / "access.log"
    return [line for line in log.read_text().splitlines() if path in line] if log.exists() else []


@pytest.mark.server
def test_mirror_outside_approved_roots_is_never_contacted(ws, nginx, test_ca, monkeypatch):
    """issue 14, class 4: approval is decided before any I/O; the manifest's host receives nothing."""
    monkeypatch.setenv("WEIGHTGATE_MIRROR_TOKEN", nginx.token)
    nginx.put("private/unapproved/model.safetensors", WEIGHTS)
    art = ws.artifact("unapproved", {"model.safetensors": WEIGHTS}, mirror=f"{nginx.https_url}/private/unapproved")
    policy = mirror_policy(ws, test_ca.pem, approved_roots=[f"{nginx.https_url}/approved/"])
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert mirror_ids(report) == ["WG203", "WG308"]
    assert "never opened" in only(report, "WG308").message
    assert [f.status.value for f in report.facts[0].files] == ["not-checked"]
    assert _requests(nginx, "/private/unapproved") == []


@pytest.mark.server
def test_token_goes_only_to_approved_https_roots(ws, nginx, test_ca, monkeypatch):
    """issue 14, class 4: without the origin among the approved roots (none listed here) the token stays
    home: /private/ answers 401, which it does only to a request without the right bearer token."""
    monkeypatch.setenv("WEIGHTGATE_MIRROR_TOKEN", nginx.token)
    nginx.put("private/no-roots/model.safetensors", WEIGHTS)
    art = ws.artifact("no-roots", {"model.safetensors": WEIGHTS}, mirror=f"{nginx.https_url}/private/no-roots")
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem))
    assert "denied (HTTP 401)" in only(report, "WG308").message


@pytest.mark.server
def test_token_never_travels_over_plain_http(ws, nginx, test_ca, monkeypatch):
    """issue 14, class 4: even an approved root over http (allow_http) never gets the token."""
    monkeypatch.setenv("WEIGHTGATE_MIRROR_TOKEN", nginx.token)
    nginx.put("private/plain/model.safetensors", WEIGHTS)
    art = ws.artifact("plain", {"model.safetensors": WEIGHTS}, mirror=f"{nginx.http_url}/private/plain")
    policy = mirror_policy(ws, test_ca.pem, allow_http=True, approved_roots=[f"{nginx.http_url}/private/"])
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert "denied (HTTP 401)" in only(report, "WG308").message


@pytest.mark.server
def test_credentials_written_in_mirror_urls_are_redacted_everywhere(ws, nginx, test_ca, capfd):
    """issue 14, class 4: user info and signed query parameters never reach an output file or stream."""
    secret = "s3cr3t-in-url"
    art = ws.artifact("in-url", {"model.safetensors": WEIGHTS},
                      mirror=f"https://ci:{secret}@127.0.0.1:{nginx.https_port}/m?X-Amz-Signature={secret}")
    manifest = ws.write_manifest([art])
    outputs = {kind: ws.root / f"out.{kind}" for kind in ("sarif", "bom", "json", "cq")}
    main(["check", str(manifest), "--policy", str(mirror_policy(ws, test_ca.pem)), "--as-of", "2026-11-26",
          "--sarif", str(outputs["sarif"]), "--bom", str(outputs["bom"]), "--json", str(outputs["json"]),
          "--gitlab-codequality", str(outputs["cq"])])
    captured = capfd.readouterr()
    texts = [captured.out, captured.err, *(p.read_text() for p in outputs.values())]
    assert all(secret not in text for text in texts)
    assert "REDACTED" in outputs["json"].read_text()
