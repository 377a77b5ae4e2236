"""Transport and mirror-URI rules that need no server: what is refused before any request is made."""

from __future__ import annotations

import pytest

from conftest import rule_ids
from weightgate.mirror import MirrorLocation, open_mirror
from weightgate.mirror.base import MirrorUnavailable
from weightgate.mirror.hf import parse_hf_uri
from weightgate.mirror.mlflow import parse_mlflow_uri
from weightgate.mirror.settings import MirrorSettings
from weightgate.mirror.transport import Transport, url_refusal
from weightgate.pin import _indentation

STRICT = MirrorSettings()


@pytest.mark.parametrize(("url", "refused"), [
    ("https://mirror.internal/x", None),
    ("http://mirror.internal/x", "plain http"),
    ("https://user:pw@mirror.internal/x", "credentials in the URL"),
    ("ftp://mirror.internal/x", "not HTTP(S)"),
])
def test_url_refusal(url, refused):
    reason = url_refusal(url, STRICT)
    assert (reason is None) if refused is None else (refused in (reason or ""))


@pytest.mark.parametrize(("target", "followed"), [
    ("https://mirror.internal:443/other/path", True),  # same origin
    ("https://cdn.internal/blob", True),  # inside an approved root
    ("https://evil.example/blob", False),
    ("https://huggingface.co/org/x", False),
    ("http://mirror.internal/x", False),  # downgrade
    ("https://cdn.internal.evil.example/blob", False),  # a prefix of the root's host is not the root
])
def test_redirect_policy(target, followed):
    transport = Transport(MirrorSettings(approved_roots=("https://cdn.internal/",),
                                         public_hubs=frozenset({"huggingface.co"})))
    assert (transport.redirect_refusal("https://mirror.internal/models/a", target) is None) is followed


def test_uri_parsing():
    assert parse_hf_uri("hf://datasets/org/name").url_prefix == "datasets/org/name"
    assert parse_hf_uri("hf://org/name@" + "a" * 40).revision == "a" * 40
    assert parse_mlflow_uri("models:/support/4").version == "4"
    assert parse_mlflow_uri("models:/support@champion").alias == "champion"
    assert parse_mlflow_uri("models:/support/Production").stage == "Production"
    with pytest.raises(MirrorUnavailable):
        parse_hf_uri("hf://just-a-name")


@pytest.mark.parametrize(("uri", "message"), [
    ("gs://bucket/a", "not supported"),
    ("hf://org/a", "internal Hugging Face-compatible endpoint"),
    ("models:/a@champion", "weightgate pin"),
    ("models:/a/3", "tracking server"),
    ("http://mirror.internal/a", "plain http"),
])
def test_unusable_mirrors_say_why(uri, message):
    with pytest.raises(MirrorUnavailable, match=message):
        open_mirror(MirrorLocation(uri, None, "b" * 40), STRICT)


def test_plain_http_rule_fires_and_near_miss(ws):
    http = ws.artifact("a", mirror="http://mirror.internal/a")
    assert "WG206" in rule_ids(ws.check(ws.write_manifest([http]), offline=True))
    https = ws.artifact("a", mirror="https://mirror.internal/a")
    assert "WG206" not in rule_ids(ws.check(ws.write_manifest([https]), offline=True))
    allowed = ws.write_policy(mirrors={"allow_http": True})
    assert "WG206" not in rule_ids(ws.check(ws.write_manifest([http]), policy=allowed, offline=True))


def test_hf_mirror_is_internal_once_an_endpoint_is_configured(ws):
    art = ws.artifact("a", mirror="hf://org/a")
    assert "WG202" in rule_ids(ws.check(ws.write_manifest([art]), offline=True))
    internal = ws.write_policy(mirrors={"hf_endpoint": "https://hf.internal.example"})
    assert "WG202" not in rule_ids(ws.check(ws.write_manifest([art]), policy=internal, offline=True))


@pytest.mark.parametrize(("text", "expected"), [
    ("artifacts:\n  - id: a\n    files: []\n", (2, 4, 2)),
    ("artifacts:\n- id: a\n  files: []\n", (2, 2, 0)),
    ("metadata:\n    name: x\nartifacts:\n    - id: a\n", (4, 6, 4)),
])
def test_pin_keeps_the_authors_indentation(text, expected):
    assert _indentation(text) == expected
