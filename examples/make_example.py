#!/usr/bin/env python3
"""Regenerate the example: a small internal mirror of real (tiny) model files and the manifest pinning them.

    python examples/make_example.py    # rewrites examples/mirror/, deployment.yaml and registry.yaml

Every file is built here from code, byte for byte, so a reader sees what each one is. Three problems are
planted on purpose, as a reviewer would meet them:
  1. `support-embedder` is pinned to the moving Hugging Face branch `main`;
  2. `ticket-reranker`'s `model.safetensors` is really a pickle that calls `os.system` (never loaded here);
  3. `tiny-chat-gguf`'s file in the mirror was changed after it was pinned and approved.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIRROR = HERE / "mirror"


# --- tiny writers for real formats -------------------------------------------------------------------------
def safetensors_bytes(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {"__metadata__": metadata}
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + data


def floats(n: int, seed: int) -> bytes:
    return b"".join(struct.pack("<f", ((i * 7919 + seed) % 97) / 97.0 - 0.5) for i in range(n))


def _gguf_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(metadata: dict[str, str | int], tensor: tuple[str, list[int], bytes]) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(metadata))
    for key, value in metadata.items():
        if isinstance(value, int):
            out += _gguf_str(key) + struct.pack("<II", 4, value)  # type 4: uint32
        else:
            out += _gguf_str(key) + struct.pack("<I", 8) + _gguf_str(value)  # type 8: string
    name, dims, raw = tensor
    out += _gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
    out += struct.pack("<IQ", 0, 0)  # type 0: F32, offset 0 in the data section
    out += b"\0" * (-len(out) % 32)  # data section is aligned to general.alignment (32)
    return out + raw


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def onnx_bytes() -> bytes:
    """ModelProto: one Relu node, y = relu(x), opset 17."""
    value_info = lambda name: _field(1, name)  # noqa: E731 - ValueInfoProto.name
    node = _field(1, "x") + _field(2, "y") + _field(3, "relu0") + _field(4, "Relu")
    graph = _field(1, node) + _field(2, "support-embedder") + _field(11, value_info("x")) + _field(12, value_info("y"))
    opset = _field(1, "") + _field(2, 17)
    return _field(1, 8) + _field(2, "weightgate-example") + _field(3, "1.0") + _field(7, graph) + _field(8, opset)


def malicious_pickle() -> bytes:
    """Protocol 2 opcodes for os.system('echo weightgate-canary'), written by hand and never loaded."""
    cmd = b"echo weightgate-canary"
    return (b"\x80\x02" + b"cposix\nsystem\n" + b"X" + struct.pack("<I", len(cmd)) + cmd + b"\x85R.")


def tokenizer_json(vocab: list[str]) -> bytes:
    doc = {"version": "1.0", "model": {"type": "WordLevel", "vocab": {w: i for i, w in enumerate(vocab)},
                                       "unk_token": "[UNK]"}, "added_tokens": []}
    return (json.dumps(doc, indent=2) + "\n").encode()


def config_json(**fields: object) -> bytes:
    return (json.dumps(fields, indent=2, sort_keys=True) + "\n").encode()


CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}<|assistant|>"
VOCAB = ["[UNK]", "[PAD]", "hello", "world", "refund", "order", "ticket", "help"]

FILES: dict[str, dict[str, bytes]] = {
    "tiny-chat-base": {
        "model.safetensors": safetensors_bytes({"embed.weight": ("F32", [8, 4], floats(32, 1)),
                                                "lm_head.weight": ("F32", [4, 8], floats(32, 2))},
                                               {"format": "pt"}),
        "config.json": config_json(architectures=["LlamaForCausalLM"], hidden_size=4, vocab_size=8),
        "tokenizer.json": tokenizer_json(VOCAB),
    },
    "tiny-chat-support": {
        "model.safetensors": safetensors_bytes({"embed.weight": ("F32", [8, 4], floats(32, 3)),
                                                "lm_head.weight": ("F32", [4, 8], floats(32, 4))},
                                               {"format": "pt"}),
        "config.json": config_json(architectures=["LlamaForCausalLM"], hidden_size=4, vocab_size=8),
        "tokenizer.json": tokenizer_json(VOCAB),
    },
    "tiny-chat-support-v3": {
        "model.safetensors": safetensors_bytes({"embed.weight": ("F32", [8, 4], floats(32, 5)),
                                                "lm_head.weight": ("F32", [4, 8], floats(32, 6))},
                                               {"format": "pt"}),
        "config.json": config_json(architectures=["LlamaForCausalLM"], hidden_size=4, vocab_size=8),
        "tokenizer.json": tokenizer_json(VOCAB),
    },
    "tiny-chat-gguf": {
        "tiny-chat-support.Q8_0.gguf": gguf_bytes(
            {"general.architecture": "llama", "general.name": "tiny-chat-support", "general.alignment": 32,
             "tokenizer.chat_template": CHAT_TEMPLATE},
            ("token_embd.weight", [4, 8], floats(32, 7))),
    },
    "support-embedder": {
        "model.onnx": onnx_bytes(),
        "tokenizer.json": tokenizer_json(VOCAB),
    },
    "ticket-reranker": {
        "model.safetensors": malicious_pickle(),
        "config.json": config_json(architectures=["BertForSequenceClassification"], num_labels=1),
    },
    "support-eval-set": {
        "eval.jsonl": b"".join((json.dumps({"question": q, "expected": a}) + "\n").encode()
                               for q, a in [("Where is my order?", "order-status"), ("Refund please", "refund")]),
    },
}
# What the mirror holds for the tampered file: same name, same size, different bytes.
TAMPERED = {("tiny-chat-gguf", "tiny-chat-support.Q8_0.gguf"): lambda b: b[:-4] + b"\x00\x00\x80\x7f"}


def digest_of(files: dict[str, bytes]) -> str:
    lines = sorted(f"{p}\0{hashlib.sha256(b).hexdigest()}\0{len(b)}\n" for p, b in files.items())
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def files_yaml(artifact: str, formats: dict[str, str]) -> str:
    lines = []
    for path, data in FILES[artifact].items():
        lines.append(f"      - path: {path}\n        sha256: {hashlib.sha256(data).hexdigest()}\n"
                     f"        size: {len(data)}" + (f"\n        format: {formats[path]}" if path in formats else ""))
    return "\n".join(lines)


# Eval reports, each in its artifact's mirror folder and bound to that artifact's digest: v4's and v3's.
EVIDENCE = {
    "tiny-chat-support": ("evals/tiny-chat-support-4.json", {"exact_match": 0.81, "refusal_rate": 0.02}),
    "tiny-chat-support-v3": ("evals/tiny-chat-support-3.json", {"exact_match": 0.74, "refusal_rate": 0.03}),
}


def eval_evidence(artifact: str) -> bytes:
    """The eval report for one artifact version, naming the artifact digest it evaluated."""
    doc = {"artifact_digest": digest_of(FILES[artifact]), "suite": "support-qa-v2",
           "metrics": EVIDENCE[artifact][1], "passed": True}
    return (json.dumps(doc, indent=2) + "\n").encode()


def registry_yaml() -> str:
    """The file-based model registry standing in for the MLflow server: what it has promoted, and to which
    stage. v4 is in production; v3, the rollback target, was archived when v4 was promoted."""
    entries = [("tiny-chat-support/4", "tiny-chat-support", "production", "2026-10-23"),
               ("tiny-chat-support/3", "tiny-chat-support-v3", "archived", "2026-08-31")]
    lines = ["# Model registry (file-based). Generated by make_example.py.", "apiVersion: weightgate.dev/v1",
             "kind: ModelRegistry", "name: mlflow", "entries:"]
    for entry_id, artifact, stage, date in entries:
        lines += [f"  - id: {entry_id}", f"    digest: {digest_of(FILES[artifact])}", f"    stage: {stage}",
                  "    approvals:", f"      - {{approver: release-bot@example.com, role: registry, date: {date},",
                  f"         digest: {digest_of(FILES[artifact])}}}"]
    return "\n".join(lines) + "\n"


def write_mirror() -> None:
    for artifact, (path, _) in EVIDENCE.items():
        evidence = MIRROR / artifact / path
        evidence.parent.mkdir(parents=True, exist_ok=True)
        evidence.write_bytes(eval_evidence(artifact))
    for artifact, files in FILES.items():
        folder = MIRROR / artifact
        folder.mkdir(parents=True, exist_ok=True)
        for path, data in files.items():
            (folder / path).write_bytes(TAMPERED.get((artifact, path), lambda b: b)(data))


def write_manifest() -> None:
    template = (HERE / "deployment.yaml.in").read_text()
    values = {f"files:{a}": files_yaml(a, {"model.safetensors": "safetensors"}) for a in FILES}
    values.update({f"digest:{a}": digest_of(FILES[a]) for a in FILES})
    values.update({f"sha256:eval:{a}": hashlib.sha256(eval_evidence(a)).hexdigest() for a in EVIDENCE})
    text = template
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    (HERE / "deployment.yaml").write_text(text)
    (HERE / "registry.yaml").write_text(registry_yaml())


if __name__ == "__main__":
    write_mirror()
    write_manifest()
    print(f"wrote {MIRROR}, {HERE / 'deployment.yaml'} and {HERE / 'registry.yaml'}")
