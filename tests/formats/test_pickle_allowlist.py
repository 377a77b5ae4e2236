"""The pickle allowlist, the deny set nothing lifts, and what a policy may add."""

from __future__ import annotations

import pytest

from weightgate.formats.base import Issue
from weightgate.formats.pickle_allowlist import (
    ALLOWED_GLOBALS,
    allowed_by_policy,
    denied_family,
    is_allowlisted,
    policy_entry_problem,
)
from weightgate.rules import PICKLE_DENIED_GLOBAL, PICKLE_GLOBAL_NOT_ALLOWLISTED


@pytest.mark.parametrize("name", [
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch._tensor._rebuild_from_type_v2", "torch.FloatStorage", "torch.BFloat16Storage", "torch.Size",
    "torch.device", "torch.float32", "torch.storage.UntypedStorage", "_codecs.encode", "builtins.set",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray.scalar", "numpy.ndarray", "numpy.dtype",
])
def test_what_weights_only_loading_accepts_is_allowlisted(name: str) -> None:
    assert is_allowlisted(name)


def test_the_allowlist_and_the_deny_set_do_not_overlap() -> None:
    assert [name for name in ALLOWED_GLOBALS if denied_family(name)] == []


@pytest.mark.parametrize(("name", "family"), [
    ("os.system", "processes and the operating system"),
    ("os.path.join", "processes and the operating system"),  # the whole module, not only its famous members
    ("builtins.eval", "code execution"),
    ("torch.load", "nested deserialization"),
    ("torch.jit.load", "imports and code loading"),
    ("mylib.io.loads", "nested deserialization"),  # dangerous names under any module
    ("torch.Tensor.__reduce_ex__", "object internals (dunder attributes)"),
])
def test_deny_families(name: str, family: str) -> None:
    assert denied_family(name) == family


@pytest.mark.parametrize("name", ["torch.Size", "collections.Counter", "mylib.Loader", "osmium.Thing"])
def test_near_misses_are_not_denied(name: str) -> None:
    assert denied_family(name) is None  # "osmium" is not "os"; "Loader" is not "load"


def test_policy_entries_add_names_and_whole_modules_but_never_denied_ones() -> None:
    assert is_allowlisted("mylib.layers.Custom", ["mylib.layers.Custom"])
    assert is_allowlisted("mylib.layers.Other", ["mylib.*"])
    assert not is_allowlisted("mylibrary.X", ["mylib.*"])
    assert not is_allowlisted("torch.load", ["torch.*"])  # a wholesale module entry leaves the deny set alone
    assert not is_allowlisted("os.system", ["os.system"])


@pytest.mark.parametrize(("entry", "fragment"), [
    ("os.system", "deny set (processes and the operating system)"),
    ("builtins.eval", "deny set (code execution)"),
    ("subprocess.*", "module in the deny set"),
    ("nodots", "dotted name"),
    ("bad name.x", "dotted name"),
])
def test_unusable_policy_entries(entry: str, fragment: str) -> None:
    problem = policy_entry_problem(entry)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("entry", ["mylib.Layer", "mylib.*", "torch.*", "builtins.*"])
def test_usable_policy_entries(entry: str) -> None:
    assert policy_entry_problem(entry) is None


def test_only_named_non_allowlisted_globals_can_be_allowed_by_policy() -> None:
    named = Issue(PICKLE_GLOBAL_NOT_ALLOWLISTED, "m", evidence=(("global", "mylib.Layer"),))
    unnamed = Issue(PICKLE_GLOBAL_NOT_ALLOWLISTED, "m", evidence=(("opcode", "STACK_GLOBAL"),))
    denied = Issue(PICKLE_DENIED_GLOBAL, "m", evidence=(("global", "os.system"),))
    assert allowed_by_policy(named, ["mylib.*"])
    assert not allowed_by_policy(named, [])
    assert not allowed_by_policy(unnamed, ["mylib.*"])
    assert not allowed_by_policy(denied, ["os.*"])


@pytest.mark.parametrize("name", [
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.restore_type_tag",
])
def test_torchscript_list_builders_are_allowed_in_zips_and_denied_nowhere(name: str) -> None:
    assert denied_family(name) is None  # identity functions, though torch.jit is denied
    assert is_allowlisted(name, in_zip=True)
    assert not is_allowlisted(name)  # near miss: a plain pickle has no use for them


def test_the_rest_of_torch_jit_stays_denied_in_zips() -> None:
    assert denied_family("torch.jit._pickle.other") == "imports and code loading"
    assert not is_allowlisted("torch.jit.load", in_zip=True)
    assert policy_entry_problem("torch.jit._pickle.*") is not None


def test_plain_protocol_0_to_2_instances_are_allowlisted() -> None:
    # pickle.dumps(instance, protocol=0..1) names copyreg._reconstructor and builtins.object.
    assert is_allowlisted("copyreg._reconstructor") and is_allowlisted("builtins.object")
    assert denied_family("builtins.type") == "attribute access gadgets"  # near miss: type() makes classes
