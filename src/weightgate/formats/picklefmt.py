"""Pickle streams: judging every global one imports (recognising one from its first bytes is `picklehead`).

Nothing here unpickles.

`PickleInspector` walks the whole stream with `pickle_walk.PickleWalker` and judges what it saw against
`pickle_allowlist`: denied globals (WG502), globals off the allowlist or that cannot be named (WG501),
extension opcodes (WG504), broken streams (WG503) and limits (WG505). The globals seen are recorded as facts.

A pickle file of its own, plain or compressed, is what joblib.load opens: there the walker steps over the
array data joblib writes between opcodes (`joblib_arrays`), so the opcodes after each array are judged too,
and reports what it cannot step over with certainty as incomplete (WG505). Inside zip and tar members and
numpy object arrays the loader is torch.load, numpy or pickle, which read no such data.
"""

from __future__ import annotations

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Inspector, Issue
from weightgate.formats.compressed import MIN_HEAD_BYTES, CompressedInspector, stream_kind
from weightgate.formats.joblib_arrays import WRAPPER_CLASS
from weightgate.formats.members import DepthLimitInspector, Nesting
from weightgate.formats.pickle_allowlist import denied_family, is_allowlisted
from weightgate.formats.pickle_walk import (
    END,
    NEXT,
    RAW_REST,
    GlobalValue,
    Layout,
    PickleWalker,
    RawGap,
    Reference,
    Step,
    Unresolved,
    WalkResult,
)
from weightgate.formats.picklehead import JOBLIB_MODULE_PREFIX
from weightgate.rules import (
    PICKLE_DENIED_GLOBAL,
    PICKLE_EXTENSION_OPCODE,
    PICKLE_GLOBAL_NOT_ALLOWLISTED,
    PICKLE_INSPECTION_INCOMPLETE,
    PICKLE_MALFORMED,
    Rule,
)

# Containers joblib.load opens itself (joblib.dump's compress=); a pickle inside anything else is not its file.
JOBLIB_COMPRESSIONS = frozenset({"zlib", "gzip", "bzip2", "xz"})


# --- deep inspection: every opcode of every pickle in the stream -----------------------------------------

MAX_LISTED_GLOBALS = 50
MAX_REPORTED_GLOBALS = 64  # distinct globals reported one by one per stream; the rest in one summary
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
TORCH_LEGACY_PICKLES = 5  # magic, protocol version, sys_info, the object, storage keys; raw storages follow
MAX_LEGACY_RECORDS = 10_000_000
# Element sizes of torch's legacy storage classes, for the raw storage data in legacy tar checkpoints.
LEGACY_STORAGE_ELEMENT_SIZES = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1,
    "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "QUInt8": 1, "QInt8": 1, "QInt32": 4, "QUInt4x2": 1,
    "QUInt2x4": 1,
}
TENSOR_RECORD_HEADER_BYTES = 8  # int32 ndim and 4 bytes of padding, before sizes, strides and offset


class PlainLayout:
    """Pickles one after the other; legacy `torch.save` streams end in raw storage data after 5 pickles."""

    def __init__(self) -> None:
        self.name = "pickle"

    def after_stop(self, index: int, value: object) -> Step:
        if index == 0 and value == TORCH_LEGACY_MAGIC and not isinstance(value, bool):
            self.name = "pytorch-legacy"
        if self.name == "pytorch-legacy" and index == TORCH_LEGACY_PICKLES - 1:
            return RAW_REST
        return NEXT

    def at_end(self, pickles: int) -> str | None:
        if pickles == 0:
            return "stream holds no complete pickle"
        if self.name == "pytorch-legacy" and pickles < TORCH_LEGACY_PICKLES:
            return f"legacy torch.save stream ends after {pickles} of its {TORCH_LEGACY_PICKLES} pickles"
        return None


class TorchTarRecords:
    """The `storages` and `tensors` members of a legacy torch tar checkpoint: a count, then that many
    records, each a pickle followed by raw data whose size the record and a small raw header give."""

    def __init__(self, member: str) -> None:
        self.name = f"pytorch-legacy-{member}"
        self._storages = member == "storages"
        self._count = -1

    def after_stop(self, index: int, value: object) -> Step:
        if index == 0:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_LEGACY_RECORDS:
                return Step("next", problem=f"{self.name} does not start with a record count")
            self._count = value
            return NEXT if value or self._storages else END
        if index <= self._count:
            return self._record(index, value)
        return END  # the storage views pickle after the storages; nothing follows it

    def _record(self, index: int, value: object) -> Step:
        last = index == self._count
        if not self._storages:
            return Step("gap", RawGap(TENSOR_RECORD_HEADER_BYTES, _tensor_record_size, then_end=last))
        element = _storage_element_size(value)
        if element is None:
            return Step("next", problem=f"storage record {index} is not (key, location, storage type)")
        return Step("gap", RawGap(8, lambda header: _signed(header) * element))

    def at_end(self, pickles: int) -> str | None:
        expected = self._count + (2 if self._storages else 1)
        if pickles < expected:
            return f"{self.name} ends after {pickles} of its {expected} pickles"
        return None


def _signed(header: bytes) -> int:
    return int.from_bytes(header, "little", signed=True)


def _tensor_record_size(header: bytes) -> int | None:
    ndim = _signed(header[:4])
    return 16 * ndim + 8 if 0 <= ndim <= 64 else None  # sizes and strides (int64 each), then the offset


def _storage_element_size(record: object) -> int | None:
    if not isinstance(record, tuple) or len(record) != 3 or not isinstance(record[2], GlobalValue):
        return None
    name = record[2].name
    for prefix in ("torch.", "torch.cuda."):
        kind = name.removeprefix(prefix).removesuffix("Storage")
        if name.startswith(prefix) and name.endswith("Storage") and kind in LEGACY_STORAGE_ELEMENT_SIZES:
            return LEGACY_STORAGE_ELEMENT_SIZES[kind]
    return None


class NpyObjectLayout:
    """The data section of a .npy object array: numpy's read_array makes one pickle.load call and never looks
    at what follows its STOP (numpy's own test files end in a newline there)."""

    name = "npy-object-array"

    def after_stop(self, index: int, value: object) -> Step:
        return RAW_REST

    def at_end(self, pickles: int) -> str | None:
        return "object array data holds no complete pickle" if pickles == 0 else None


def layout_for(nesting: Nesting) -> Layout:
    """The layout of a pickle stream, from where it sits (legacy torch tars put raw data between pickles)."""
    if nesting.container == "npy":
        return NpyObjectLayout()
    member = nesting.path[-1].removeprefix("./") if nesting.path else ""
    if nesting.container == "tar" and member.rsplit("/", 1)[-1] in ("storages", "tensors"):
        return TorchTarRecords(member.rsplit("/", 1)[-1])
    return PlainLayout()


def loaded_by_joblib(nesting: Nesting) -> bool:
    """Whether joblib.load may be what reads this stream: a file of its own, or the content of one compressed."""
    return nesting.depth == 0 or (nesting.depth == 1 and nesting.container in JOBLIB_COMPRESSIONS)


class PickleInspector:
    """Walks every opcode of a pickle stream (or of the pickle inside a compressed joblib stream)."""

    def __init__(self, fmt: Format, nesting: Nesting) -> None:
        self._format = fmt
        self._nesting = nesting
        self._head = b""
        self._walker: PickleWalker | None = None
        self._compressed: Inspector | None = None

    def feed(self, chunk: memoryview) -> None:
        if self._walker is not None:
            self._walker.feed(chunk)
        elif self._compressed is not None:
            self._compressed.feed(chunk)
        else:
            self._head += bytes(chunk)
            if len(self._head) >= MIN_HEAD_BYTES:
                self._begin()

    def _begin(self) -> None:
        head, self._head = self._head, b""
        if stream_kind(head) is not None:  # joblib.dump(compress=...): the pickle is inside
            self._compressed = (DepthLimitInspector(self._format, self._nesting) if self._nesting.too_deep
                                else CompressedInspector(self._format, self._nesting))
            self._compressed.feed(memoryview(head))
            return
        self._walker = PickleWalker(layout_for(self._nesting), keep_always=_is_denied,
                                    follow_joblib=loaded_by_joblib(self._nesting))
        self._walker.feed(head)

    def finish(self) -> Inspection:
        if self._walker is None and self._compressed is None:
            self._begin()
        if self._compressed is not None:
            return self._compressed.finish()
        assert self._walker is not None
        return judge_walk(self._format, self._walker.finish(), in_zip=self._nesting.container == "zip")


def _is_denied(name: str) -> bool:
    return denied_family(name) is not None


def judge_walk(fmt: Format, result: WalkResult, in_zip: bool = False) -> Inspection:
    """The verdict on one walked pickle stream: issues by rule, and the facts worth recording. `in_zip`: the
    stream is a zip member (a torch.save or torch.jit.save archive's pickle)."""
    issues = _global_issues(result, in_zip)
    issues += [_unresolved_issue(item) for item in result.unresolved]
    if result.more_unresolved:
        issues.append(Issue(PICKLE_GLOBAL_NOT_ALLOWLISTED, f"{result.more_unresolved} more imports or calls "
                                                           "the walker cannot name are not listed"))
    issues += [Issue(PICKLE_EXTENSION_OPCODE, f"{ext.opcode} at byte {ext.offset} imports extension code "
                     f"{ext.code} from the loader's copyreg registry", evidence=_where(ext.opcode, ext.offset))
               for ext in result.extensions]
    if result.malformed and _joblib_array_data(result):
        issues.append(Issue(PICKLE_INSPECTION_INCOMPLETE, "pickle continues with the raw array data joblib writes "
                            "after a NumpyArrayWrapper, which weightgate steps over only in a pickle file of its "
                            f"own, plain or compressed ({result.malformed}); the rest of the stream is not "
                            "inspected"))
    elif result.malformed:
        issues.append(Issue(PICKLE_MALFORMED, f"pickle {result.malformed}"))
    if result.limit:
        issues.append(Issue(PICKLE_INSPECTION_INCOMPLETE, f"pickle has {result.limit} (limit); the rest of the "
                                                          "stream is not inspected"))
    if result.not_followed:
        issues.append(Issue(PICKLE_INSPECTION_INCOMPLETE, f"pickle {result.not_followed}, so where joblib.load's "
                                                          "array data ends is not known; the rest of the stream "
                                                          "is not inspected"))
    if any(ref.name.startswith(JOBLIB_MODULE_PREFIX) for ref in result.references):
        fmt = Format.JOBLIB
    return Inspection(fmt, _walk_details(result), issues)


def _joblib_array_data(result: WalkResult) -> bool:
    # Where the walker does not follow joblib.load, an array's bytes right after its BUILD break the walk.
    return (not result.follows_joblib and result.after_opcode == "BUILD"
            and any(ref.name == WRAPPER_CLASS for ref in result.references))


def _global_issues(result: WalkResult, in_zip: bool) -> list[Issue]:
    issues: list[Issue] = []
    unlisted = result.more_globals
    for ref in result.references:
        family = denied_family(ref.name) or (denied_family(ref.written) if ref.written else None)
        if family is not None:
            issues.append(_reference_issue(PICKLE_DENIED_GLOBAL, ref, f" ({family})"))
        elif not is_allowlisted(ref.name, in_zip=in_zip):
            if len(issues) < MAX_REPORTED_GLOBALS:
                issues.append(_reference_issue(PICKLE_GLOBAL_NOT_ALLOWLISTED, ref, " is not allowlisted"))
            else:
                unlisted += 1
    if unlisted:
        issues.append(Issue(PICKLE_GLOBAL_NOT_ALLOWLISTED, f"{unlisted} more globals that are not allowlisted "
                                                           "are not listed"))
    return issues


def _reference_issue(rule: Rule, ref: Reference, verdict: str) -> Issue:
    written = f", written as {ref.written}" if ref.written else ""
    used = f", called {ref.calls} times" if ref.calls > 1 else (", called" if ref.calls else "")
    message = (f"pickle global {ref.name}{verdict} ({ref.opcode} at byte {ref.offset}{written}; "
               f"referenced {ref.count} times{used})" if ref.count > 1 else
               f"pickle global {ref.name}{verdict} ({ref.opcode} at byte {ref.offset}{written}{used})")
    return Issue(rule, message, evidence=(("global", ref.name), *_where(ref.opcode, ref.offset)))


def _unresolved_issue(item: Unresolved) -> Issue:
    return Issue(PICKLE_GLOBAL_NOT_ALLOWLISTED, f"pickle {item.opcode} at byte {item.offset} {item.reason}; "
                                                "what it imports or calls cannot be known statically",
                 evidence=_where(item.opcode, item.offset))


def _where(opcode: str, offset: int) -> tuple[tuple[str, str], ...]:
    return (("opcode", opcode), ("offset", str(offset)))


def _walk_details(result: WalkResult) -> dict[str, str]:
    details = {"protocol": "0-1" if result.protocol is None else str(result.protocol)}
    if result.pickles > 1:
        details["pickles"] = str(result.pickles)
    if result.layout != "pickle":
        details["pickle_layout"] = result.layout
    if result.references:
        details["pickle_globals"] = ",".join(ref.name for ref in result.references[:MAX_LISTED_GLOBALS])
    if len(result.references) > MAX_LISTED_GLOBALS or result.more_globals:
        details["pickle_globals_total"] = str(len(result.references) + result.more_globals)
    if result.persistent_ids:
        details["persistent_ids"] = str(result.persistent_ids)
    if result.unparsed_bytes:
        details["raw_bytes_after_pickles"] = str(result.unparsed_bytes)
    if result.joblib_arrays:
        details["joblib_arrays"] = str(result.joblib_arrays)
        details["joblib_array_bytes"] = str(result.joblib_array_bytes)
    return details
