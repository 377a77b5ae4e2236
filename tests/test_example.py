"""The README's first command: the bundled example reports its planted problems, and passes once they are
fixed. Its SARIF and ML-BOM validate against the official schemas."""

import datetime
import json
import shutil

from conftest import REPO_ROOT
from example_copy import fix_example, make_example
from validate_outputs import output_errors
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_PASS

EXAMPLES = REPO_ROOT / "examples"
AS_OF = ["--as-of", "2026-11-26"]


def test_example_reports_exactly_the_planted_problems(example, tmp_path):
    out = tmp_path / "r.json"
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--json", str(out), "-q", *AS_OF])
    assert code == EXIT_FINDINGS
    found = {(f["artifact"], f["rule"]) for f in json.loads(out.read_text())["findings"] if not f["waived"]}
    assert found == {
        ("support-embedder", "WG201"),  # revision: main
        ("ticket-reranker", "WG401"),  # a pickle ...
        ("ticket-reranker", "WG404"),  # ... named model.safetensors
        ("tiny-chat-gguf", "WG305"),  # changed after it was pinned
    } | {(a, r) for a, r in found if r.startswith("WG5") and a == "ticket-reranker"}


def test_example_passes_once_the_problems_are_fixed(example):
    manifest_path = example / "deployment.yaml"
    fix_example(example)
    code = main(["check", str(manifest_path), "--policy", str(example / "policy.yaml"), *AS_OF])
    assert code == EXIT_PASS


def test_example_outputs_validate_against_official_schemas(example, tmp_path):
    sarif, bom = tmp_path / "r.sarif", tmp_path / "r.bom.json"
    main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"), "--sarif",
          str(sarif), "--bom", str(bom), "-q", *AS_OF])
    assert output_errors("sarif", sarif) == []
    assert output_errors("bom", bom) == []


def test_committed_example_matches_its_generator(tmp_path):
    """The mirror and manifest are generated; regenerating must not change a byte. Model signatures differ on
    every signing, so the generator writes them only with --sign: they are kept across the regeneration (and
    the planted-problems test shows they still verify against the regenerated files)."""
    module = make_example()
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    module.HERE, module.MIRROR = copy, copy / "mirror"
    kept = {name: (EXAMPLES / name).read_bytes() for name in module.KEPT}
    shutil.rmtree(copy / "mirror")
    module.write_mirror()
    module.write_manifest()
    for name, data in kept.items():
        assert not (copy / name).exists() or name == module.PUBLIC_KEY, f"{name} was regenerated"
        (copy / name).write_bytes(data)
    for path in sorted(p for p in EXAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        assert (copy / path.relative_to(EXAMPLES)).read_bytes() == path.read_bytes(), path


def test_example_signed_models_and_model_cards(example, tmp_path):
    """The example's signed models verify against the committed example-org key with their signed file lists
    equal to the pinned, streamed files; its model cards are complete and agree with the manifest."""
    from weightgate.evidence.signatures import SignatureStatus
    from weightgate.gate import CheckOptions, run_check
    from weightgate.governance.model_card import CardStatus

    module = make_example()
    report = run_check(CheckOptions(manifest=example / "deployment.yaml", policy=example / "policy.yaml",
                                    today=datetime.date(2026, 11, 26)))
    signatures = report.governance.signatures
    assert set(signatures) == set(module.SIGNED)
    for artifact in module.SIGNED:
        assert signatures[artifact].status is SignatureStatus.VERIFIED, signatures[artifact].reason
        assert {f.path for f in signatures[artifact].files} == set(module.FILES[artifact])
    cards = report.governance.model_cards
    assert {a: c.status for a, c in cards.items()} == {"tiny-chat-base": CardStatus.READ,
                                                      "tiny-chat-gguf": CardStatus.READ}
    # A bundle the manifest names but the mirror lacks fails closed.
    (example / "mirror" / "tiny-chat-base" / "model.sig").unlink()
    report = run_check(CheckOptions(manifest=example / "deployment.yaml", policy=example / "policy.yaml",
                                    today=datetime.date(2026, 11, 26)))
    assert ("tiny-chat-base", "WG628") in {(f.artifact_id, f.rule.id) for f in report.active_findings}
