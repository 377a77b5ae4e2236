"""The rule catalog: every rule weightgate can report, declared once.

Checks refer to these objects, never to id strings. Reporters read id, title, help and fix from here; the
docs table in README.md is tested against this catalog so the two cannot drift.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DOCS_BASE = "https://github.com/weightgate/weightgate/blob/main/docs/rules.md"


class Severity(str, enum.Enum):
    """Severity by capability: critical can run code on load; high is exploitable or breaks integrity
    without code execution; medium weakens a control; low is hygiene."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def level(self) -> Level:
        return _LEVELS[self]

    @property
    def score(self) -> float:
        """GitHub code scanning's `security-severity` (CVSS-like 0-10)."""
        return _SCORES[self]


class Level(str, enum.Enum):
    """The coarse level users fail on, matching SARIF's result levels."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {Level.NOTE: 0, Level.WARNING: 1, Level.ERROR: 2}[self]


_LEVELS = {
    Severity.CRITICAL: Level.ERROR,
    Severity.HIGH: Level.ERROR,
    Severity.MEDIUM: Level.WARNING,
    Severity.LOW: Level.NOTE,
}
_SCORES = {Severity.CRITICAL: 9.8, Severity.HIGH: 8.1, Severity.MEDIUM: 5.5, Severity.LOW: 3.1}


@dataclass(frozen=True)
class Rule:
    """One catalog entry: a stable id, name, default severity, and the help and fix every finding of it carries."""

    id: str
    name: str
    title: str
    severity: Severity
    help: str
    fix: str

    @property
    def docs_url(self) -> str:
        # The anchor GitHub derives from the heading "### WG101 manifest-schema" in docs/rules.md.
        return f"{DOCS_BASE}#{self.id.lower()}-{self.name}"


RULES: dict[str, Rule] = {}


def _rule(id: str, name: str, title: str, severity: Severity, help: str, fix: str) -> Rule:
    if id in RULES:
        raise ValueError(f"duplicate rule id {id}")
    rule = Rule(id, name, title, severity, help, fix)
    RULES[id] = rule
    return rule


C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

# WG1xx: manifest and policy validity
MANIFEST_SCHEMA = _rule(
    "WG101", "manifest-schema", "Manifest does not match the schema", H,
    "The deployment manifest has a field of the wrong type, a missing required field or an unknown field. "
    "Nothing in an invalid manifest can be trusted, so no artifact is verified until it is fixed.",
    "Fix the field named in the message; `weightgate schema manifest` prints the schema.",
)
DUPLICATE_ARTIFACT_ID = _rule(
    "WG102", "duplicate-artifact-id", "Two artifacts share one id", H,
    "Services, rollbacks and lineage refer to artifacts by id; a duplicate makes every such reference ambiguous.",
    "Give each artifact a unique id.",
)
UNKNOWN_ARTIFACT_REFERENCE = _rule(
    "WG103", "unknown-artifact-reference", "A service deploys an artifact the manifest does not declare", H,
    "A service lists an artifact id with no artifact entry, so what it deploys is never verified.",
    "Declare the artifact in `artifacts:` or remove it from the service.",
)
DUPLICATE_FILE_PATH = _rule(
    "WG104", "duplicate-file-path", "An artifact lists the same file twice", H,
    "Two entries for one path can carry different digests; which one is deployed is undefined.",
    "Keep one entry per file path.",
)
NO_FILES = _rule(
    "WG105", "no-files", "An artifact pins no files", H,
    "An artifact without a file list cannot be re-hashed, so nothing about its bytes is known.",
    "List every file of the artifact with its sha256 and size (`weightgate pin` can fill them in).",
)
ROLLBACK_UNKNOWN = _rule(
    "WG106", "rollback-unknown", "Rollback names an artifact the manifest does not declare", H,
    "A rollback that points at nothing cannot be deployed when the new version fails.",
    "Point `rollback:` at the id of a previously approved, pinned artifact declared in this manifest.",
)
ROLLBACK_UNPINNED = _rule(
    "WG107", "rollback-unpinned", "Rollback target is not pinned", H,
    "A rollback target with a mutable reference or without file digests may not be the version that was "
    "known good.",
    "Pin the rollback artifact's revision and list its files with sha256 and size.",
)

# WG2xx: references and sources
MUTABLE_REFERENCE = _rule(
    "WG201", "mutable-reference", "Artifact is referenced by a mutable name", H,
    "Branches, tags, 'latest', registry stages and aliases can be moved to other bytes after review, so what "
    "is deployed may not be what was approved.",
    "Pin the exact revision: a full 40-hex commit for Hugging Face and git, a version number for MLflow, a "
    "version id for object stores, a sha256 digest for URLs and OCI images (`weightgate pin` does this).",
)
PUBLIC_HUB_AT_DEPLOY = _rule(
    "WG202", "public-hub-at-deploy", "Artifact is pulled from a public hub at deploy time", H,
    "Pulling from a public hub at deploy time trusts the hub and the publisher on every deployment; a "
    "compromised account or a re-pushed revision reaches production directly.",
    "Copy the reviewed files to the internal mirror and point `mirror:` at it.",
)
MIRROR_NOT_APPROVED = _rule(
    "WG203", "mirror-not-approved", "Mirror location is outside the approved mirror roots", H,
    "Only mirrors the policy approves are controlled by the organisation; anything else can change unseen.",
    "Move the files under one of the policy's `mirrors.approved_roots`, or have the policy owner add the root.",
)
UNVERSIONED_OBJECT_KEY = _rule(
    "WG204", "unversioned-object-key", "Object-store key has no version id", H,
    "An object-store key without a version id can be overwritten in place; the policy requires versioned keys.",
    "Add the object's version id (`?versionId=` in the URI or `source.revision`; on an s3:// mirror, "
    "`version_id` on each file; `weightgate pin` fills them in).",
)
MIRROR_MISSING = _rule(
    "WG205", "mirror-missing", "Artifact has no mirror location", H,
    "Without an internal mirror location there is nothing weightgate can re-hash, and deploy would pull "
    "from the source.",
    "Set `mirror:` on the artifact (or `mirror_base:` on the manifest, or pass `--mirror`).",
)
PLAIN_HTTP_MIRROR = _rule(
    "WG206", "plain-http-mirror", "Mirror is reached over plain http", H,
    "Without TLS anyone on the network path can swap the bytes or read the credentials sent to the mirror; "
    "the digests still catch swapped bytes, but the deploy job that pulls from the same URL may not check them.",
    "Serve the mirror over https (with `mirrors.ca_bundle` or `--ca-bundle` for an internal CA), or, for a "
    "trusted network only, set `mirrors.allow_http: true` in the policy.",
)

# WG3xx: integrity
DIGEST_MISSING = _rule(
    "WG301", "digest-missing", "File has no sha256 or size", H,
    "Without a pinned sha256 and size, any bytes would pass.",
    "Add the file's sha256 and size (`sha256sum FILE`, `stat -c %s FILE`, or `weightgate pin`).",
)
DIGEST_MALFORMED = _rule(
    "WG302", "digest-malformed", "File sha256 is not 64 hex digits", H,
    "A malformed digest cannot be compared with anything; it is usually a truncated copy or the wrong "
    "algorithm.",
    "Replace it with the full lowercase hex sha256 of the file.",
)
FILE_MISSING = _rule(
    "WG303", "file-missing", "Pinned file is missing from the mirror", H,
    "The manifest pins a file that the mirror does not hold; what would be deployed is unknown.",
    "Upload the reviewed file to the mirror, or correct its path in the manifest.",
)
SIZE_MISMATCH = _rule(
    "WG304", "size-mismatch", "File size differs from the manifest", C,
    "The bytes in the mirror are not the bytes that were pinned: the file was replaced, truncated or "
    "tampered with.",
    "Find out why the mirror copy changed; restore the approved file or re-review and re-pin the new one.",
)
DIGEST_MISMATCH = _rule(
    "WG305", "digest-mismatch", "File sha256 differs from the manifest", C,
    "The bytes in the mirror are not the bytes that were pinned: the file was replaced or tampered with.",
    "Find out why the mirror copy changed; restore the approved file or re-review and re-pin the new one.",
)
PATH_ESCAPE = _rule(
    "WG306", "path-escape", "File path escapes the mirror root", H,
    "Absolute paths, `..` segments and symlinks leading out of the mirror let a manifest make the gate read "
    "(and a deploy job ship) files from anywhere. weightgate never follows them.",
    "Use a plain relative path inside the artifact's mirror folder, and replace escaping symlinks with files.",
)
FILE_UNREADABLE = _rule(
    "WG307", "file-unreadable", "File could not be read", H,
    "A file that cannot be read (permission, I/O error, not a regular file) cannot be verified; the gate "
    "fails closed.",
    "Make the file a readable regular file in the mirror, then re-run.",
)
MIRROR_UNAVAILABLE = _rule(
    "WG308", "mirror-unavailable", "Mirror could not be used", H,
    "The artifact's mirror could not be opened (unknown scheme, missing folder, unreachable), so none of its "
    "files were verified.",
    "Check the mirror location and credentials; `file://`, a local path, or a supported URI scheme is needed.",
)

# WG4xx: formats
FORMAT_PROHIBITED = _rule(
    "WG401", "format-prohibited", "File format is prohibited by policy", H,
    "The policy prohibits this format, usually because loading it can execute code (pickle and the PyTorch "
    "checkpoints built on it) or because its content cannot be inspected.",
    "Convert the weights to a permitted format (e.g. safetensors) and pin the converted file.",
)
FORMAT_SANDBOX = _rule(
    "WG402", "format-sandbox-only", "File format is permitted only in a sandbox", M,
    "The policy permits this format only where it is loaded in an isolated sandbox.",
    "Load it only in the sandboxed runtime, or convert it to a fully permitted format.",
)
FORMAT_UNKNOWN = _rule(
    "WG403", "format-unknown", "File format could not be identified from its bytes", H,
    "A file whose content matches no known format cannot be inspected and is not silently permitted.",
    "Replace it with a file in a recognised format, or waive this exact digest in the policy with a reason.",
)
FORMAT_MISMATCH = _rule(
    "WG404", "format-mismatch", "Content disagrees with the declared format or extension", H,
    "The bytes are not what the name or manifest says (e.g. a `.safetensors` that is really a pickle): a "
    "classic way to smuggle an unsafe format past a review.",
    "Find out where the file came from; replace it with a genuine file of the declared format, or declare "
    "the real format and let the format policy judge it.",
)
MALFORMED_FILE = _rule(
    "WG405", "malformed-file", "File is malformed for its format", H,
    "The file claims a format but its structure is invalid or truncated; loaders may misbehave on it and "
    "its content cannot be inspected.",
    "Re-export the file with the format's reference tooling and pin the new bytes.",
)

# WG5xx: content
# WG501-WG519: pickles and the containers that carry them (zip, tar, compressed streams, numpy).
PICKLE_GLOBAL_NOT_ALLOWLISTED = _rule(
    "WG501", "pickle-global-not-allowlisted", "Pickle imports a global that is not allowlisted", C,
    "Unpickling imports every global the pickle names and may call it, so a pickle runs whatever code it "
    "references. weightgate accepts only an allowlist: what PyTorch's weights-only loader accepts for plain "
    "tensors and containers, plain builtins, numpy's array reconstructors, plain protocol 0-2 instances, "
    "joblib's array wrapper, TorchScript's list builders inside zips, the policy's `pickle.allow_globals` "
    "and the curated library lists it switches on with `pickle.allow_profiles`. Everything else is reported "
    "with its module.name, opcode and byte offset, as is "
    "any import or call the walker cannot name from the bytes (names computed at load time, calls on values "
    "returned by other calls, BUILD on a global itself): denylist scanners have been bypassed exactly there.",
    "Re-save the weights as safetensors. If the global belongs to a library with a profile (numpy, sklearn, "
    "gensim, xgboost, lightgbm, torchscript), add the profile to `pickle.allow_profiles`; if it is a class "
    "you have reviewed and trust, add it to `pickle.allow_globals` in the policy.",
)
PICKLE_DENIED_GLOBAL = _rule(
    "WG502", "pickle-denied-global", "Pickle imports a callable that runs code or reaches the system", C,
    "The pickle names a callable that executes or loads code or other pickles (eval, exec, compile, "
    "__import__, importlib, runpy, marshal, pip, pickle.loads, torch.load, numpy.load, joblib.load), reaches "
    "the operating system, files, the network or native code (os, subprocess, sys, shutil, socket, ctypes), "
    "or is an attribute-access gadget (getattr, attrgetter, methodcaller, functools.partial). No model "
    "weights need them; the message names the family. A policy can never allowlist them, not even by "
    "allowlisting their module wholesale.",
    "Do not load the file. Treat its source as compromised and get the weights from a trusted publisher, "
    "preferably as safetensors.",
)
PICKLE_MALFORMED = _rule(
    "WG503", "pickle-malformed", "Pickle stream is broken", H,
    "The stream breaks where the unpickler would stop: an invalid opcode, a stack underflow, a memo index "
    "never set, a truncation, or bytes after the last pickle that nothing reads. Everything before the break "
    "was inspected and is reported too; loaders and scanners that disagree on broken streams are a known "
    "way to smuggle a payload past a scan.",
    "Re-export the file from the original object with the reference tooling, and pin the new bytes.",
)
PICKLE_EXTENSION_OPCODE = _rule(
    "WG504", "pickle-extension-opcode", "Pickle imports through the extension registry", C,
    "EXT1, EXT2 and EXT4 import whatever callable the loading process registered under a number with "
    "`copyreg.add_extension`; what they call cannot be known from the file, and no model writer emits them.",
    "Re-save the weights as safetensors, or re-export them without copyreg extension codes.",
)
PICKLE_INSPECTION_INCOMPLETE = _rule(
    "WG505", "pickle-inspection-incomplete", "Part of a pickle was not inspected", H,
    "The stream exceeds a resource limit of the inspector (opcodes, memo entries, stack depth) or "
    "interleaves raw data weightgate does not parse, so the rest of it was not inspected. The gate fails "
    "closed rather than guess what the rest imports.",
    "Convert the weights to safetensors. If the file is trusted and legitimately this large, waive this exact "
    "artifact digest in the policy with a reason.",
)
CONTAINER_LIMIT_EXCEEDED = _rule(
    "WG506", "container-limit-exceeded", "Archive or compressed stream exceeds a safety limit", H,
    "Containers are opened recursively with limits on nesting depth, member count, decompressed size and "
    "compression ratio. Crossing one is the signature of a decompression bomb (or of content hidden deep "
    "inside nested archives); the rest is not inspected and the file fails closed.",
    "Ship model files uncompressed or in one flat archive. If the file is legitimate, waive this exact "
    "artifact digest in the policy with a reason.",
)
ZIP_HEADER_TRICKS = _rule(
    "WG507", "zip-header-tricks", "Zip headers disagree or use features readers treat differently", H,
    "The local headers and the central directory disagree (names, sizes, CRCs, compression, entries present "
    "in one and not the other, bytes hidden between members), or headers use flag bits readers handle "
    "differently. PyTorch, Python's zipfile, streaming unzippers and scanners then see different content: a "
    "known way to hide a pickle from a scanner.",
    "Re-create the archive from the original files with standard tooling (torch.save, numpy.savez, Python's "
    "zipfile), and pin the new bytes.",
)
ARCHIVE_MEMBER_UNINSPECTABLE = _rule(
    "WG508", "archive-member-uninspectable", "Archive member cannot be inspected", H,
    "A member is encrypted, uses a compression method weightgate does not decode, or is a 7z or zstd stream. "
    "Its content, possibly a pickle, is unknown, so the gate fails closed.",
    "Store members unencrypted, stored or deflated, and decompress nested 7z/zstd streams before intake.",
)
# WG520-WG549: Keras, ONNX, TensorFlow graphs, chat templates, custom loading code.
KERAS_LAMBDA = _rule(
    "WG520", "keras-lambda", "Keras model carries Python code in a Lambda", C,
    "A Lambda layer (or any `__lambda__` object) stores marshalled Python bytecode in the model config. "
    "Keras runs it when the model is loaded with `safe_mode=False`, and some legacy `.h5` loaders ignore "
    "safe_mode (CVE-2025-9905), so loading the file runs whatever its author wrote.",
    "Replace the Lambda with a built-in layer or a registered custom layer whose code you review, re-save "
    "the model, and pin the new file.",
)
KERAS_CUSTOM_OBJECT = _rule(
    "WG521", "keras-custom-object", "Keras model refers to code outside Keras", H,
    "A layer, function or other object in the model config names a module or registered name outside "
    "keras, keras_hub, keras_nlp, keras_cv and tf.keras. Loading it runs that module's code, and older Keras "
    "versions import any module the config names (CVE-2025-1550), so the model is only as safe as code that "
    "is not in the file.",
    "Use built-in Keras objects; or review the custom module, ship it as reviewed code, and waive this exact "
    "artifact digest in the policy.",
)
KERAS_UNSAFE_DESERIALIZATION = _rule(
    "WG522", "keras-unsafe-deserialization", "Keras config calls a function that defeats safe_mode", C,
    "The config names a Keras function that disables safe mode or loads other files "
    "(`keras.config.enable_unsafe_deserialization`, `keras.utils.get_file`, `keras.models.load_model`, ...). "
    "Crafted configs use them to bypass `safe_mode` (CVE-2025-9906, CVE-2025-8747); no real model needs them.",
    "Do not load the file. Rebuild the model from trusted code and re-save it.",
)
ONNX_EXTERNAL_DATA_ESCAPE = _rule(
    "WG525", "onnx-external-data-escape", "ONNX external data points outside the model folder", H,
    "A tensor's external data `location` is absolute or contains `..`, so loading the model reads a file "
    "anywhere on the host into the model (and saving tools may write there): path traversal, as in "
    "CVE-2022-25882 and CVE-2024-27318.",
    "Re-export the model with its external data files beside it under plain relative names, or embed the "
    "tensors in the model file.",
)
ONNX_CUSTOM_DOMAIN = _rule(
    "WG526", "onnx-custom-domain", "ONNX model uses operators outside the standard domains", M,
    "Nodes in a non-standard operator domain only run when a custom operator library (native code from "
    "outside the model) is registered in the runtime. ONNX Runtime's own `com.microsoft` contrib operators "
    "are reported at low severity.",
    "Make sure the operator library is reviewed and pinned in the runtime image, or re-export with standard "
    "operators; then waive this artifact digest with a reason.",
)
TF_PYTHON_OP = _rule(
    "WG527", "tf-python-op", "TensorFlow graph calls back into Python", C,
    "PyFunc, PyFuncStateless and EagerPyFunc call a Python function of the process that runs the graph; "
    "serving a graph that contains them runs Python chosen outside the reviewed model.",
    "Re-export the model without `tf.py_function` / `tf.numpy_function` and pin the new SavedModel.",
)
TF_FILE_OP = _rule(
    "WG528", "tf-file-op", "TensorFlow graph reads or writes files or the network", H,
    "Ops such as ReadFile, WriteFile, MatchingFiles, file readers and datasets, ImmutableConst and RPC ops "
    "let a graph read host files into its outputs, overwrite files or talk to the network when it runs.",
    "Re-export the model without file and network ops (checkpoint save/restore ops are not reported), or "
    "waive this artifact digest with a reason.",
)
CUSTOM_LOADING_CODE = _rule(
    "WG530", "custom-loading-code", "Model needs custom loading code (trust_remote_code)", C,
    "Python files in the model folder, or `auto_map` / `custom_pipelines` in its JSON configs, make Hugging "
    "Face loaders import and run code from the repository (`trust_remote_code=True`), with the privileges of "
    "the loading process.",
    "Prefer a model the library supports natively; otherwise review the code and waive this exact artifact "
    "digest in the policy (the waiver lapses when any byte changes).",
)
TEMPLATE_INJECTION = _rule(
    "WG535", "template-injection", "Chat template reaches Python object internals", H,
    "Chat templates are Jinja code run on every request. Dunder attributes (`__class__`, `__globals__`, ...), "
    "`|attr`, `.format`, the globals `cycler`, `joiner`, `lipsum`, `self`, and import/include/extends are the "
    "building blocks of server-side template injection; a renderer without a sandbox then runs arbitrary "
    "code (CVE-2024-34359 in llama-cpp-python). Names built while rendering (`{% set u = '_' %}` then "
    "`x[u ~ u ~ 'class' ~ u ~ u]`) are followed through variables, loops, macros, filters and string methods; "
    "a subscript or `attr` name the template builds in a way the checker cannot follow is reported as built at "
    "render time, and methods that change the caller's data in place (`.append()`, `.update()`) too. Names only "
    "printed as text are not lookups and are not reported.",
    "Replace the template with the model family's reference template (loops, conditions and message "
    "fields only), and render templates in a sandboxed Jinja environment.",
)
TEMPLATE_UNCHECKED = _rule(
    "WG536", "template-unchecked", "Chat template could not be checked", H,
    "The template does not parse as Jinja, or is larger than the checker's limit, so what it does when "
    "rendered is unknown; the gate fails closed.",
    "Fix or replace the template (the model family's reference template parses), then re-run.",
)

# WG6xx: governance
REQUIRED_FIELD_MISSING = _rule(
    "WG601", "required-field-missing", "A field the policy requires for this artifact class is missing", M,
    "The policy requires this evidence for the artifact's class; without it the promotion decision cannot "
    "be audited.",
    "Fill in the field named in the message.",
)
APPROVAL_DIGEST_MISMATCH = _rule(
    "WG602", "approval-digest-mismatch", "Approval names another artifact digest", H,
    "An approval binds to one exact artifact digest. One that names another digest approved other bytes "
    "(often a previous version, its record copied forward), so this version was never approved.",
    "Have the approver review this version and record an approval naming the digest weightgate verifies "
    "(shown in the message and in the ML-BOM as `weightgate:artifact-digest`).",
)
SELF_APPROVAL = _rule(
    "WG603", "self-approval", "Artifact is approved by its own owner", H,
    "Separation of duties: the owner who wants an artifact promoted cannot also be the one who approves it, "
    "or a single compromised or mistaken person can ship anything.",
    "Have someone other than the artifact's `owner` review and approve it.",
)
APPROVAL_STALE = _rule(
    "WG604", "approval-stale", "Approval is dated in the future or is too old", M,
    "An approval older than the policy's re-validation age was given under older threats and policies; one "
    "dated in the future was not given yet.",
    "Re-review the artifact and record a fresh approval with today's date.",
)
APPROVAL_ROLE_MISSING = _rule(
    "WG605", "approval-role-missing", "A role the policy requires has not approved this version", H,
    "The policy requires approvals from named roles for this environment or source tier (e.g. security and "
    "compliance for production from a conditional source); without them the promotion was not signed off.",
    "Obtain an approval bound to this digest from each role named in the message.",
)
APPROVAL_RECORD_INCOMPLETE = _rule(
    "WG606", "approval-record-incomplete", "Approval record lacks fields the source tier requires", M,
    "Artifacts from conditional (tier 2) sources need a full approval record, so an auditor can trace who "
    "approved in which role under which ticket.",
    "Add the missing fields (role, ticket) to the approval record.",
)
SOURCE_TIER_PROHIBITED = _rule(
    "WG607", "source-tier-prohibited", "Artifact comes from a prohibited (tier 3) source", H,
    "The policy classifies this registry or publisher as prohibited: artifacts from it are not to be "
    "deployed, whatever their approvals.",
    "Source the model from an approved publisher, or have the policy owner re-classify the source.",
)
LICENSE_INVALID = _rule(
    "WG608", "license-invalid", "License is not a valid SPDX expression or names an undeclared license", H,
    "A license that cannot be parsed, or a `LicenseRef-` the policy does not declare, has unknown terms: "
    "nothing can be said about whether this use is permitted.",
    "Write a valid SPDX expression (e.g. `Apache-2.0 AND LicenseRef-acme-model`) and declare every "
    "`LicenseRef-` with its restrictions under `licenses.declared` in the policy.",
)
REVALIDATION_OVERDUE = _rule(
    "WG609", "revalidation-overdue", "Artifact was last validated too long ago", M,
    "Threats and policies change; an artifact not re-validated within the policy's age may no longer pass.",
    "Re-run the intake checks and update `last_validated`.",
)
WAIVER_EXPIRED = _rule(
    "WG610", "waiver-expired", "A waiver in the policy has expired", M,
    "An expired waiver no longer applies; the findings it covered are reported again.",
    "Renew the waiver with a new expiry and review, or fix what it waived.",
)
LICENSE_DENIED = _rule(
    "WG611", "license-denied", "License is denied or not allowed by policy", H,
    "The policy denies this license (or the license review rejected it), so using the artifact breaks the "
    "organisation's licensing rules.",
    "Replace the artifact with one under an allowed license, or have the policy owner change the license lists.",
)
LICENSE_REVIEW_MISSING = _rule(
    "WG612", "license-review-missing", "License needs a review record and has none", M,
    "The policy requires a license review for this license (or its restrictions, such as a field-of-use or "
    "acceptable-use clause, need a human to judge the intended use).",
    "Have legal review the license for this use and record `license.review` (reviewer, date, outcome, record).",
)
LICENSE_BROADER_THAN_BASE = _rule(
    "WG613", "license-broader-than-base", "Derived artifact's license drops restrictions of its base", H,
    "A fine-tune, adapter or export inherits its base models' license restrictions; declaring a more "
    "permissive license (e.g. MIT over a non-commercial base) misleads every downstream user.",
    "Declare a license that carries the base's terms (e.g. `Apache-2.0 AND LicenseRef-base-license`), or "
    "derive from a base whose license permits it.",
)
LICENSE_USE_CONFLICT = _rule(
    "WG614", "license-use-conflict", "A service's use conflicts with a license restriction in the lineage", H,
    "A non-commercial license (of the artifact or any base it derives from) forbids a commercial or "
    "customer-facing service; a no-derivatives license forbids fine-tunes and adapters.",
    "Replace the model (or the base it derives from) with one licensed for this use, or move it to a "
    "non-commercial, internal service.",
)
LINEAGE_DANGLING = _rule(
    "WG615", "lineage-dangling", "Base model reference names no artifact in the manifest", H,
    "A base model that cannot be found cannot pass on its license, approvals or provenance; the lineage is "
    "broken.",
    "Declare the base as an artifact in this manifest, or reference it externally with `uri`, `revision`, "
    "`digest` and `license`.",
)
LINEAGE_CYCLE = _rule(
    "WG616", "lineage-cycle", "Base model references form a cycle", H,
    "A model cannot derive from itself; a cycle means the lineage was recorded wrongly, and no license or "
    "provenance can be inherited along it.",
    "Fix the `base_models` entries named in the message so the lineage is a tree.",
)
LINEAGE_INCOMPLETE = _rule(
    "WG617", "lineage-incomplete", "External base model is not pinned or has no license", M,
    "An external base without a pinned revision and artifact digest could be any version; one without a "
    "license gives derived artifacts nothing to inherit.",
    "Give the external base a full `revision`, its `digest` (sha256:<hex>) and its SPDX `license`.",
)
EVAL_EVIDENCE_MISSING = _rule(
    "WG618", "eval-evidence-missing", "Evaluation evidence the policy requires is missing", H,
    "The policy requires evaluation evidence for this artifact class; without it nobody can show the "
    "deployed version was evaluated.",
    "Run the evaluation suite on this version, store the report in the artifact's mirror and reference it "
    "under `eval_evidence` with its sha256.",
)
EVAL_EVIDENCE_UNVERIFIED = _rule(
    "WG619", "eval-evidence-unverified", "Evaluation evidence could not be verified", H,
    "The evidence file is missing, unreadable, too large, malformed, or its bytes differ from the sha256 in "
    "the manifest: the evaluation it claims cannot be shown.",
    "Store the exact evidence file in the artifact's mirror and pin its sha256.",
)
EVAL_EVIDENCE_DIGEST_MISMATCH = _rule(
    "WG620", "eval-evidence-digest-mismatch", "Evaluation evidence is for another artifact digest", H,
    "Evidence names the artifact digest it evaluated; evidence for another digest (often copied from a "
    "previous version) says nothing about the bytes being deployed.",
    "Evaluate this exact version and write its digest into the report's `artifact_digest` field.",
)
REGISTRY_ENTRY_MISSING = _rule(
    "WG621", "registry-entry-missing", "Registry entry does not exist", H,
    "The manifest claims the artifact is a model-registry entry that the registry does not hold, so the "
    "promotion it records never happened there.",
    "Register this version in the model registry, or correct `registry_entry.id`.",
)
REGISTRY_ENTRY_MISMATCH = _rule(
    "WG622", "registry-entry-mismatch", "Registry entry carries another digest or stage", H,
    "The registry entry the manifest names holds other bytes (or another stage) than the manifest says: what "
    "the registry promoted is not what would be deployed.",
    "Point the manifest at the registry entry of this exact version, or re-register it with this digest.",
)
REGISTRY_STAGE_INELIGIBLE = _rule(
    "WG623", "registry-stage-ineligible", "Registry entry is not in a production-eligible stage", H,
    "Only entries the registry has promoted to a production-eligible stage may be deployed; others were not "
    "signed off there.",
    "Promote the entry in the registry (through its own approval flow), then re-run the gate.",
)
REGISTRY_UNAVAILABLE = _rule(
    "WG624", "registry-unavailable", "Model registry could not be read", H,
    "The configured registry could not be read or parsed, so no registry entry could be checked; the gate "
    "fails closed.",
    "Fix the registry location in the policy (`registry.file`) or `--registry`, or the registry file itself.",
)
ROLLBACK_UNAPPROVED = _rule(
    "WG625", "rollback-unapproved", "Rollback target has no approval bound to its own digest", H,
    "A rollback is deployed in a hurry, without a new review; only a version approved as exactly those "
    "bytes is safe to fall back to.",
    "Record an approval of the rollback target naming its own artifact digest.",
)
ROLLBACK_UNVERIFIED = _rule(
    "WG626", "rollback-unverified", "Rollback target's bytes failed verification", H,
    "The rollback target's files are missing or differ from their pins; a rollback that cannot be deployed "
    "is no rollback.",
    "Restore the rollback target's approved files in the mirror (see its own findings).",
)
# WG627-WG635: the rest of the intake decision matrix: signatures, model cards, monitoring, source incidents.
SIGNATURE_MISSING = _rule(
    "WG627", "signature-missing", "Artifact has no model signature where the policy requires one", H,
    "The policy requires artifacts from this source tier or publisher to carry an OpenSSF model-signing bundle: "
    "without it nothing shows the files are the ones the publisher released.",
    "Have the publisher sign the model (`model_signing sign …`), store the bundle in the artifact's mirror and "
    "point `signature.bundle` at it.",
)
SIGNATURE_INVALID = _rule(
    "WG628", "signature-invalid", "Model signature is malformed or does not verify", H,
    "The bundle cannot be read, its signature does not verify over its payload (the signed file list was "
    "altered), or its payload is not a model-signing statement weightgate can compare with the digests it "
    "streamed (sharded or non-sha256 signatures). Nothing the bundle claims can be trusted.",
    "Re-sign the model with `model_signing sign` (file serialization, sha256: the defaults) and replace the "
    "bundle; if it was altered in the mirror, find out how.",
)
SIGNATURE_SIGNER_UNTRUSTED = _rule(
    "WG629", "signature-signer-untrusted", "Model is signed by a signer the policy does not trust for it", H,
    "A valid signature proves only that its signer signed the files. A key, certificate or identity the policy "
    "does not name for this publisher could belong to anyone, including whoever replaced the model.",
    "Get the model signed by the publisher's trusted key, certificate or identity, or have the policy owner add "
    "the signer under `signatures.signers` for this publisher.",
)
SIGNATURE_FILES_MISMATCH = _rule(
    "WG630", "signature-files-mismatch", "Signed file list differs from the verified files", H,
    "The signature covers other files or other bytes than the manifest pins and weightgate streamed: a file "
    "was added, left out or changed after signing, so the deployed artifact is not what the publisher signed.",
    "Deploy exactly the files the publisher signed (restore changed files, remove unsigned ones, pin every "
    "signed file), or have the publisher sign this version.",
)
MODEL_CARD_MISSING = _rule(
    "WG631", "model-card-missing", "Model card is missing or cannot be read", M,
    "The policy requires a model card for this artifact class, or the manifest names one that is missing, too "
    "large or not a readable Hugging Face model card: reviewers cannot see intended use, limitations or "
    "training data.",
    "Add the model card (README.md with YAML front matter) to the artifact and set `model_card.path` to it.",
)
MODEL_CARD_INCOMPLETE = _rule(
    "WG632", "model-card-incomplete", "Model card lacks fields or sections the policy requires", M,
    "The policy lists metadata fields (license, base_model, datasets, ...) and sections (intended use, "
    "limitations, ...) a model card of this artifact class must have; a card without them leaves the decision "
    "matrix incomplete.",
    "Fill in the metadata fields and sections named in the message.",
)
MODEL_CARD_DISAGREES = _rule(
    "WG633", "model-card-disagrees", "Model card contradicts the manifest", H,
    "Model cards are self-reported. A card whose license or base model differs from what the manifest records "
    "(and the license review and lineage checks judged) means one of the two is wrong: an undeclared base "
    "brings its own license terms, a different license other obligations.",
    "Find out which is right; correct the manifest's `license` / `base_models` (and re-review), or use a card "
    "that describes this model.",
)
MONITORING_MISSING = _rule(
    "WG634", "monitoring-missing", "Production service names no monitoring", M,
    "The policy requires services in this environment or on these targets to name their monitoring (dashboard "
    "or alert); a model nobody watches can drift, be abused or fail silently.",
    "Set `monitoring:` on the service to its dashboard or alert reference.",
)
SOURCE_INCIDENT = _rule(
    "WG635", "source-incident", "Artifact comes from a source with a recorded incident and was not re-validated",
    H,
    "The policy records an incident (a registry or publisher compromise) for this source. Anything validated "
    "before the incident may have been swapped or poisoned without anyone noticing, so it needs re-validation "
    "now.",
    "Re-run intake validation on the artifact (re-download from a trusted copy, compare digests, re-review) "
    "and set `last_validated` to a date after the incident.",
)
APPROVAL_UNSIGNED = _rule(
    "WG636", "approval-unsigned", "Approval is written in the manifest, not signed", M,
    "The policy counts only signed review records (`approvals.require_signed`). An approval typed into the "
    "manifest is a claim the change's own author can write, with any name in it, so it does not count.",
    "Have the reviewer sign the decision with `weightgate approve MANIFEST --artifact ID --role ROLE --key KEY "
    "--store STORE` and keep the record in the approvals store; the manifest entry can then go.",
)
APPROVAL_RECORD_INVALID = _rule(
    "WG637", "approval-record-invalid", "Signed record is malformed, altered or unreadable", H,
    "A record in the approvals store for this digest is not a well-formed DSSE envelope or Sigstore bundle, its "
    "signature does not verify (it was altered after signing), it is a copy of another record, it carries "
    "another payload or predicate type, or the store could not be read. It counts for nothing, and a store "
    "that cannot be read fails closed.",
    "Remove or re-sign the record (`weightgate approve`, `weightgate attest-eval`); make the store readable.",
)
APPROVAL_SIGNER_NOT_ALLOWED = _rule(
    "WG638", "approval-signer-not-allowed", "Signed record is by a signer the policy does not name for it", H,
    "The record's signature is sound, but its signer is not listed in the policy for the record's role "
    "(`approvals.reviewers`) or for eval results (`eval_evidence.signers`). Anyone can make a key; only the "
    "identities the target branch's policy names can approve.",
    "Have a reviewer the policy names for the role sign the record, or add the reviewer to the policy in a "
    "separately reviewed change to the target branch.",
)
APPROVAL_REJECTED = _rule(
    "WG639", "approval-rejected", "A reviewer rejected this artifact version", H,
    "The latest signed review by a role the policy names is a rejection. It blocks promotion until a later "
    "approval by the same role supersedes it.",
    "Address the reviewer's justification, then ask the role for a new review of this exact digest.",
)
APPROVAL_BELOW_THRESHOLD = _rule(
    "WG640", "approval-below-threshold", "Fewer distinct reviewers approved than the role requires", H,
    "The policy requires `min` distinct signers for this role (a threshold, as in an in-toto layout); fewer "
    "counting approvals were found for this digest.",
    "Ask further reviewers the policy names for the role to sign approvals of this digest.",
)
# WG641-WG644: eval results judged against the policy's suites, signed where the policy says so.
EVAL_RESULT_FAILED = _rule(
    "WG641", "eval-result-failed", "Eval result failed, is malformed, or misses a policy threshold", H,
    "Evidence that an evaluation ran is not evidence that the model is good enough: the result says the suite "
    "failed, a metric the policy bounds is missing or not a number, or a metric is below its floor or above its "
    "ceiling. A malformed result counts as failed, never as a pass.",
    "Fix the model (or the evaluation) and re-run the suite on this exact version; if the bound itself is "
    "wrong, change it in the policy through its own review.",
)
EVAL_REGRESSION = _rule(
    "WG642", "eval-regression", "Eval result is worse than the rollback's by more than the tolerance", H,
    "A new version that scores worse than the version it replaces on a suite the policy tracks is a regression "
    "even when it still meets the bounds; and without the rollback's own result for the suite there is no "
    "baseline to show it is not.",
    "Compare the two versions and fix the regression, or evaluate the rollback target on the suite and pin "
    "that report as its `eval_evidence`; a tolerance change belongs in the policy's review.",
)
EVAL_UNSIGNED = _rule(
    "WG643", "eval-unsigned", "No signed eval result where the policy counts only signed ones", H,
    "The policy counts only eval results signed by an identity it names (`eval_evidence.require_signed`, "
    "`eval_evidence.signers`): an unsigned report is a file the change's own author can write. This artifact "
    "needs eval results and has no signed one that counts, or a signed one is by a signer the policy does not "
    "name or for another digest.",
    "Sign the eval harness's results with `weightgate attest-eval RESULTS.json --digest sha256:... --key KEY` as an "
    "eval signer the policy names, and keep the record in the approvals store under the artifact's digest.",
)
EVAL_SUITE_MISSING = _rule(
    "WG644", "eval-suite-missing", "An eval suite the policy requires has no result", H,
    "The policy requires this suite for the artifact's class and environment, and the evidence reports no "
    "result for it: whatever the suite tests was not shown for this version.",
    "Run the suite on this exact version and add its result to the eval report (`suite`, or one entry of "
    "`results`) that `eval_evidence` pins.",
)
# WG645: the gate's own trust boundary (--policy-ref).
POLICY_EDITED_BY_CHANGE = _rule(
    "WG645", "policy-edited-by-change", "The change edits the policy or the trust files it names", L,
    "With `--policy-ref`, the gate judges a change by the policy as it stands on the target branch, with the "
    "keys, certificates, trust roots and registry that policy names. The change also edits the policy (a "
    "`fail_on`, a waiver, a rule) or one of those files: the edit is not applied to this change, since a change "
    "must never weaken its own gate, and it takes effect only once it is reviewed and merged. This note makes "
    "the edit visible to reviewers; it does not fail the gate by itself.",
    "Have the policy's owners review the edit (CODEOWNERS on the policy directory). If this change needs the "
    "edited policy to pass, merge the policy edit first in a change of its own, then re-run this one.",
)
# WG650: one verdict per digest (issue 19).
DIGEST_SHARED_ACROSS_ENTRIES = _rule(
    "WG650", "digest-shared-across-entries", "Entries of different classes or services share one artifact digest", M,
    "Two or more manifest entries name the same bytes (the same artifact digest) but differ in class or in the "
    "services that run them, for instance a dataset with no service and a production model. Evidence, approvals "
    "and decision records bind to the digest, not to the entry: the gate signs one record for the digest, FAILED "
    "if any entry fails, and an approval or waiver given for one entry also speaks for the other. Usually one of "
    "the entries is a copy-paste slip, or one entry is reviewed more lightly than the use of the bytes deserves.",
    "Keep one entry per set of bytes and list every service that runs it on that entry; if the two uses are "
    "really meant, make sure each was reviewed for the stricter one.",
)
# WG537-WG539: configs that name code to import, files to read, or code to fetch.
CONFIG_CODE_TARGET = _rule(
    "WG537", "config-code-target", "Config names a Python callable that Hydra or NeMo instantiates", C,
    "A `_target_` key in a JSON or YAML config (Hydra, OmegaConf, NeMo's `model_config.yaml` inside a `.nemo` "
    "archive) names a dotted Python path that `hydra.utils.instantiate` imports and calls with the keys beside "
    "it (`_args_`, `_partial_`, `_recursive_`). A target outside the reviewed constructors (`torch.nn` layers, "
    "NeMo's model and module classes, ...) runs any function on load: `os.system`, `builtins.exec`, "
    "`subprocess.Popen` (CVE-2025-23304). A target that is plainly code execution is critical; any other unknown "
    "target is reported at high severity.",
    "Rebuild the config so every `_target_` is a known model, module or layer class; a custom class needs its "
    "code reviewed and this artifact digest waived in the policy.",
)
KERAS_LAYER_LOADS_FILE = _rule(
    "WG538", "keras-layer-loads-file", "Keras layer reads a file or loads another model", H,
    "Built-in Keras layers can read files named in their config when the model is loaded, even in safe mode: "
    "`StringLookup`, `IntegerLookup` and `TextVectorization` read a `vocabulary` given as a path "
    "(CVE-2025-12058), and `TFSMLayer` loads a SavedModel from a path, running its graph (CVE-2026-1462). A model "
    "from outside can so read host files into its weights or pull in another model's code.",
    "Re-save the model with the vocabulary inlined (a list, not a path) and without `TFSMLayer`; then pin the new "
    "file.",
)
CONFIG_FETCHES_CODE = _rule(
    "WG539", "config-fetches-code", "transformers config makes the loader fetch or run code", C,
    "A transformers config asks the loader to run code that is not in the library: `trust_remote_code: true`, "
    "`auto_map` and `custom_pipelines` import Python from the repository (or another one), and "
    "`attn_implementation` naming a hub repository (`kernels-community/flash-attn`, `hub:org/name`) downloads and "
    "loads a compiled kernel at load time.",
    "Remove the field (use a built-in attention implementation such as `sdpa` or `eager`); if the code is needed, "
    "vendor and review it and waive this artifact digest in the policy.",
)
# WG309-WG310: files beside the pinned ones (declared here, after the catalog, so earlier ids keep their place).
UNPINNED_FILE_CODE = _rule(
    "WG309", "unpinned-file-code", "An unpinned file that can run code lies beside the pinned ones", C,
    "The artifact's mirror location holds a file the manifest does not pin and that runs code when loaded or "
    "imported: a pickle or PyTorch checkpoint (`pytorch_model.bin`), a joblib or Keras file, a Python module "
    "(`modeling_*.py`), a native library, or a config naming custom code. `from_pretrained` on the folder, a copy "
    "of the folder into a serving image, or a snapshot download at the same revision takes it along with the "
    "reviewed files. It is judged by its name and, in local mirrors, by its first 64 KiB; ignore globs never "
    "hide it.",
    "Remove the file from the mirror location (or move the artifact's files to a folder of their own); if it is "
    "meant to ship, pin it in `files:` so its digest and format are checked like the rest.",
)
UNPINNED_FILE = _rule(
    "WG310", "unpinned-file", "An unpinned file lies beside the pinned ones, or the location cannot be listed", H,
    "The artifact's mirror location holds a file the manifest neither pins nor references (as its signature "
    "bundle, eval evidence or model card), so whatever copies or loads the folder ships bytes nobody verified; "
    "or the location could not be listed completely (listing refused or failed, or more than 100,000 entries), "
    "so what lies there is unknown. A symlink is reported as itself and never followed. A plain web server "
    "offers no listing: that is recorded in the report, not reported here, since nothing fetching pinned URLs "
    "can see other files either.",
    "Remove the file, pin it in `files:`, or, for documentation and git metadata, add a glob to the policy's "
    "`mirrors.ignore_unpinned`. For a location that cannot be listed, grant list access (s3:ListBucket on the "
    "prefix) or split the folder.",
)
PINNED_VERSION_SUPERSEDED = _rule(
    "WG311", "pinned-version-superseded", "A file pinned by object version is no longer the current version", H,
    "The gate read the pinned object version, but the key now points at another version (or at a delete "
    "marker). A deploy job that syncs or copies the prefix, or reads the key without `versionId`, ships bytes "
    "the gate never verified (or misses the file). Checked when files are pinned with `version_id` on a "
    "versioned S3 mirror, from its listing of object versions.",
    "Make the pinned version current again (copy it over the key), or verify the new version and pin it "
    "(`weightgate pin`); have deploy jobs fetch each file by its version id.",
)
# WG7xx: the runtime that loads the models (dependencies found in artifacts, service lock files, advisories).
RUNTIME_UNPINNED = _rule(
    "WG701", "runtime-unpinned", "A runtime dependency of a production service is not pinned to one version", H,
    "A requirement in an artifact's requirements file, `pyproject.toml`, `setup.cfg` or `environment.yml`, or in "
    "a service's lock file, allows more than one version (`torch>=2.0`, `transformers~=4.40`, `onnx==1.*`, or a "
    "bare name), and a service in a production environment deploys it. Whatever the index serves on deploy day is "
    "what loads the model: a version published after the review, or a vulnerable one, passes unseen, and no "
    "advisory can be matched against a range.",
    "Pin each requirement to one version (`torch==2.6.0`), best in a lock file with hashes (`uv lock`, "
    "`pip-compile --generate-hashes`, `poetry lock`), and name that lock in the service's `runtime.lock`.",
)
RUNTIME_VULNERABLE = _rule(
    "WG702", "runtime-vulnerable", "A pinned runtime dependency has a known vulnerability", H,
    "The advisory snapshot the policy pins lists the pinned version as affected (OSV `affected` ranges or "
    "versions). The library that loads or serves the model is where most model-loading exploits land: the "
    "`torch.load(weights_only=True)` bypass before torch 2.6.0 (CVE-2025-32434), Keras safe-mode bypasses, "
    "llama-cpp-python's chat-template injection. The severity is the advisory's CVSS rating (high when it has "
    "none); the message names the advisory with its aliases (CVE, GHSA, PYSEC) and the fixed versions.",
    "Upgrade to a fixed version named in the message (and re-lock); if no fix exists or the vulnerable code is "
    "provably unreachable, record that decision as a waiver for the artifact's digest with an expiry.",
)
ADVISORIES_STALE = _rule(
    "WG703", "advisories-stale", "The advisory data is older than the policy's maximum age", H,
    "The newest record in the advisory snapshot the policy pins was modified longer ago than "
    "`advisories.max_age_hours` (default 48): vulnerabilities published since then are not matched, so a "
    "runtime that passes may already have a known exploit. This is the 48-hour clock: it runs out without any "
    "commit, so a scheduled re-check of main fails until the snapshot is refreshed.",
    "Refresh the snapshot (`weightgate advisories update --from URI --to PATH`) and put the sha256 it prints in "
    "the policy's `advisories.sha256`; run it on a schedule (e.g. daily) from your internal OSV mirror.",
)
ADVISORIES_UNAVAILABLE = _rule(
    "WG704", "advisories-unavailable", "The advisory snapshot could not be read, so nothing was matched", H,
    "The policy names an advisory snapshot, and it is missing, unreadable, larger than the gate reads, not the "
    "bytes the policy pins (sha256), not an OSV zip or folder, or holds no PyPI advisory at all. The runtime "
    "dependencies were therefore not checked for known vulnerabilities: an empty or broken database never counts "
    "as \"no vulnerabilities\".",
    "Fetch a fresh snapshot with `weightgate advisories update --from URI --to PATH`, pin the sha256 it prints "
    "in `advisories.sha256`, and keep it where the policy's `advisories.snapshot` points.",
)
RUNTIME_LOCK_UNVERIFIED = _rule(
    "WG705", "runtime-lock-unverified", "A service's runtime lock file is missing, changed or unreadable", H,
    "A service names its runtime lock file (`services[].runtime.lock`) pinned by sha256, and the file is missing, "
    "larger than the gate reads, not the pinned bytes, or not a lock file the gate can parse (pip requirements, "
    "`uv.lock`, `poetry.lock`, `pylock.toml`). The service's runtime was not checked.",
    "Point `runtime.lock` at the lock file the service installs from and pin its current sha256 "
    "(`sha256sum uv.lock`); re-pin after each re-lock, so the gate re-checks every dependency update.",
)
RUNTIME_FILE_UNPARSED = _rule(
    "WG706", "runtime-file-unparsed", "Part of a dependency file could not be read as requirements", M,
    "A line of a requirements file, `pyproject.toml`, `setup.cfg` or `environment.yml` in an artifact (or a "
    "service's lock) is not a valid requirement, includes another file (`-r`, `-c`), or installs from a path or "
    "URL (`-e`, `git+https://...`): what it installs is not known, so it was not matched against advisories.",
    "Write the requirement as `name==version` (PEP 508), inline included files, and publish code installed from a "
    "URL or path to the internal index as a versioned package.",
)
ADVISORIES_NOT_CONFIGURED = _rule(
    "WG707", "advisories-not-configured", "Runtime dependencies were found and no advisory snapshot is configured", M,
    "An artifact or a service declares runtime dependencies, and the policy names no advisory snapshot "
    "(`advisories.snapshot`), so they were not checked for known vulnerabilities.",
    "Add `advisories: {snapshot: PATH, sha256: ...}` to the policy; `weightgate advisories update` fetches a "
    "snapshot from an internal mirror of the OSV PyPI export and prints its sha256.",
)

# WG720-WG739: application code that loads models around the gate (`weightgate scan` on Python source).
CODE_LOAD_PUBLIC_HUB = _rule(
    "WG720", "code-load-public-hub", "Code loads a model from a public hub at run time", H,
    "Application code calls `from_pretrained`, `pipeline`, `SentenceTransformer`, `hf_hub_download`, "
    "`snapshot_download` or `torch.hub.load` with a hub id (or a URL on a public hub), so the service pulls "
    "whatever the hub serves at deploy or start time: bytes the manifest never pinned and the gate never "
    "verified. `pipeline(task)` without a model picks the task's default model from huggingface.co. Half of "
    "organisations pull models this way, around their controls.",
    "Declare the model as an artifact in the manifest, mirror it internally, and load it from the verified "
    "mirror path (or set `HF_ENDPOINT` to the internal mirror and pin the revision).",
)
CODE_LOAD_UNPINNED = _rule(
    "WG721", "code-load-unpinned", "Code loads a model by hub id or URL without a pinned revision", H,
    "A hub id without `revision=` (or with a branch, tag or a value the static read cannot follow) resolves to "
    "whatever `main` points at when the code runs; a URL without a commit or content digest serves whatever "
    "is uploaded there next. The bytes loaded in production can so change without any commit or review.",
    "Pass `revision=\"<40-hex commit>\"` as a constant (for torch.hub: `owner/repo:<commit>`), or load from a "
    "URL that carries the commit or sha256 of the file.",
)
CODE_LOAD_REMOTE_CODE = _rule(
    "WG722", "code-load-remote-code", "Code loads a model with remote code enabled", C,
    "`trust_remote_code=True` makes transformers and sentence-transformers import the Python files that come "
    "with the model (`auto_map`), and `torch.hub.load` from GitHub always imports the repository's "
    "`hubconf.py`: code chosen by whoever controls the repository runs in the service. A switch that is not a "
    "constant may be on and is reported the same way.",
    "Remove `trust_remote_code=True` (use a model class built into the library), or vendor and review the "
    "code and load it from a pinned, mirrored artifact; for torch.hub, vendor the model definition.",
)
CODE_LOAD_UNSAFE_DESERIALIZATION = _rule(
    "WG723", "code-load-unsafe-deserialization", "Code switches off a loader's safe mode", C,
    "`torch.load(..., weights_only=False)` unpickles arbitrary objects, so the file can run any code when it is "
    "loaded; `keras.saving.load_model(..., safe_mode=False)` deserialises Lambda layers (Python bytecode). "
    "Whatever file reaches that call, from a mirror or not, can run code in the service.",
    "Load with `weights_only=True` (the default since torch 2.6) or `safe_mode=True`; convert the checkpoint to "
    "safetensors if it needs more than tensors.",
)
CODE_LOAD_REMOTE_PICKLE = _rule(
    "WG724", "code-load-remote-pickle", "Code unpickles a model fetched from a URL or a download", C,
    "`torch.load`, `joblib.load`, `pickle.load(s)`, `dill`, `cloudpickle`, `pandas.read_pickle` or "
    "`torch.hub.load_state_dict_from_url` is given a URL, or the result of a download (`hf_hub_download`, "
    "`urlopen`, `requests.get`, `keras.utils.get_file`): a pickle runs code on load, and these bytes were "
    "fetched at run time, never pinned or scanned. With `weights_only=True` the unpickler is restricted and the "
    "finding is high rather than critical.",
    "Declare the file as an artifact, mirror and verify it with weightgate, and load it from the verified mirror "
    "path; prefer safetensors.",
)
CODE_LOAD_REMOTE_SAVED_MODEL = _rule(
    "WG725", "code-load-remote-saved-model", "Code loads a Keras or TensorFlow model from a remote path", H,
    "`keras.saving.load_model` or `tf.saved_model.load` is given a URL or bucket path (`gs://`, `s3://`, "
    "`https://`, `hf://`) or a downloaded file: a SavedModel's graph and a Keras model's config are run as "
    "loaded, from bytes the gate never verified.",
    "Declare the model as an artifact, mirror and verify it with weightgate, and load it from the verified "
    "mirror path.",
)
CODE_LOAD_UNMANAGED_PATH = _rule(
    "WG726", "code-load-unmanaged-path", "Code loads a model from a path no artifact's mirror covers", H,
    "With `--manifest`, every local path (or remote location) that application code loads a model from must "
    "lie inside an artifact's mirror, the location whose bytes the gate verifies. A load from anywhere else "
    "reads files nobody pinned.",
    "Point the load at the mirror of the artifact it should read (or declare a new artifact whose mirror is "
    "that path).",
)
CODE_LOAD_UNRESOLVED = _rule(
    "WG727", "code-load-unresolved", "Code loads a model from a value the static read cannot follow", M,
    "The model named by `from_pretrained`, `pipeline`, `SentenceTransformer`, `torch.hub.load` or a Keras or "
    "TensorFlow loader comes from a function parameter, the environment, a config file or another module, so "
    "the scan cannot tell whether it is a hub id, a URL or a verified mirror path. What was not checked is "
    "reported, not passed over.",
    "Load from a module-level constant naming the artifact's mirror path, or review the value's origin and "
    "waive this file's digest in the policy.",
)
CODE_SOURCE_UNREADABLE = _rule(
    "WG728", "code-source-unreadable", "A Python file could not be read for model loads", M,
    "The file is larger than the scan reads, not valid Python for the interpreter running weightgate (syntax, "
    "encoding, null bytes), nested too deeply, or could not be opened (a symlink, a special file), so the "
    "model loads in it are unknown.",
    "Fix the syntax or encoding (or run weightgate with the Python version the code targets); split generated "
    "files, or exclude them from the hook if they never load models.",
)
