"""https:// mirrors against a real nginx, and every network fault the proxy can inject.

Each fault must end in a finding (never a pass), and retries must stay bounded: the proxy counts requests.
"""

from __future__ import annotations

import pytest

from conftest import safetensors_bytes
from mirror.netcase import line_of, mirror_ids, mirror_policy, only

pytestmark = pytest.mark.server

WEIGHTS = safetensors_bytes(64)


def _publish(ws, nginx, artifact_id, files=None, prefix=""):
    files = files if files is not None else {"model.safetensors": WEIGHTS}
    for path, data in files.items():
        nginx.put(f"{prefix}{artifact_id}/{path}", data)
    return ws.artifact(artifact_id, files)


def test_https_mirror_verifies(ws, nginx, test_ca):
    art = _publish(ws, nginx, "plain-ok")
    art["mirror"] = f"{nginx.https_url}/plain-ok"
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem))
    assert mirror_ids(report) == []
    (facts,) = report.facts
    assert facts.intact and facts.files[0].uri == f"{nginx.https_url}/plain-ok/model.safetensors"
    # A web server offers no listing: recorded as a fact, not a finding (fetching pinned URLs sees nothing else).
    listing = report.governance.listings["plain-ok"]
    assert listing.status.value == "not-listable" and "no file listing" in listing.reason


def test_tampered_file_is_caught_at_its_line(ws, nginx, test_ca):
    art = _publish(ws, nginx, "tampered")
    nginx.put("tampered/model.safetensors", WEIGHTS[:-1] + b"\1")  # same size: nginx's ETag cannot tell
    art["mirror"] = f"{nginx.https_url}/tampered"
    path = ws.write_manifest([art])
    report = ws.check(path, policy=mirror_policy(ws, test_ca.pem))
    assert mirror_ids(report) == ["WG305"]
    assert line_of(path, report, "WG305") == "- path: model.safetensors"


@pytest.mark.parametrize(("data", "rule"), [(WEIGHTS + b"\0", "WG304"), (None, "WG303")])
def test_size_and_presence(ws, nginx, test_ca, data, rule):
    name = f"changed-{rule}"
    art = _publish(ws, nginx, name)
    target = nginx.root / name / "model.safetensors"
    if data is None:
        target.unlink()
    else:
        target.write_bytes(data)
    art["mirror"] = f"{nginx.https_url}/{name}"
    assert mirror_ids(ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem))) == [rule]


def test_tls_is_verified_without_the_internal_ca(ws, nginx):
    art = _publish(ws, nginx, "untrusted")
    art["mirror"] = f"{nginx.https_url}/untrusted"
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, None))
    assert mirror_ids(report) == ["WG308"]
    assert "TLS verification" in only(report, "WG308").message


def test_plain_http_only_when_the_policy_allows_it(ws, nginx, test_ca):
    art = _publish(ws, nginx, "plain-http")
    art["mirror"] = f"{nginx.http_url}/plain-http"
    path = ws.write_manifest([art])
    denied = ws.check(path, policy=mirror_policy(ws, test_ca.pem))
    assert mirror_ids(denied) == ["WG206", "WG308"]
    assert line_of(path, denied, "WG206").startswith("mirror: http://")
    allowed = ws.check(path, policy=mirror_policy(ws, test_ca.pem, allow_http=True))
    assert mirror_ids(allowed) == []


# fault, expected rule ids (empty: the file verifies), requests the proxy sees for the file
FAULTS = [
    ("ok", [], 1),
    ("redirect-same", [], 1),
    ("redirect-away", ["WG306"], 1),
    ("redirect-http", ["WG306"], 1),
    ("truncate", ["WG307"], 3),
    ("truncate-once", [], 2),
    ("truncate-once-norange", ["WG307"], 2),
    ("drop", ["WG307"], 3),
    ("wrong-length", ["WG304"], 1),
    ("slow", ["WG307"], 1),
    ("error503", ["WG307"], 3),
    ("error503-once", [], 2),
]


@pytest.mark.parametrize(("fault", "expected", "requests"), FAULTS, ids=[f[0] for f in FAULTS])
def test_network_faults_never_pass(ws, nginx, fault_proxy, test_ca, fault, expected, requests):
    name = f"fault-{fault}"
    art = _publish(ws, nginx, name)
    art["mirror"] = f"{fault_proxy.url(fault)}/{name}"
    path = ws.write_manifest([art])
    report = ws.check(path, policy=mirror_policy(ws, test_ca.pem, file_deadline_seconds=2))
    assert mirror_ids(report) == expected, [f.message for f in report.active_findings]
    assert fault_proxy.count(fault, f"{name}/model.safetensors") == requests
    for rule in expected:
        assert line_of(path, report, rule) == "- path: model.safetensors"


def test_redirect_into_an_approved_root_is_followed_without_credentials(ws, nginx, fault_proxy, test_ca,
                                                                       monkeypatch):
    monkeypatch.setenv("WEIGHTGATE_MIRROR_TOKEN", "tok-never-forwarded")
    name = "fault-redirect-approved"
    art = _publish(ws, nginx, name)
    art["mirror"] = f"{fault_proxy.url('redirect-away')}/{name}"
    roots = [fault_proxy.url("redirect-away") + "/", f"https://localhost:{fault_proxy.port}/ok/"]
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem, approved_roots=roots))
    assert mirror_ids(report) == []
    hosts = {host for host, path in fault_proxy.seen.authorized if name in path}
    assert hosts == {f"127.0.0.1:{fault_proxy.port}"}, "the token must not follow the redirect to localhost"
