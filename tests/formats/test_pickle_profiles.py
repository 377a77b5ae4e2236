"""Allowlist profiles: curated, never overlapping the deny set, and in step with the policy schema."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from weightgate.formats.pickle_allowlist import ALLOWED_GLOBALS, denied_family, is_allowlisted
from weightgate.formats.pickle_profiles import PROFILES, denied_profile_entries, profile_globals


def test_no_profile_entry_is_in_the_deny_set() -> None:
    assert denied_profile_entries() == []


@pytest.mark.parametrize("denied", ["os.system", "builtins.eval", "functools.partial", "torch.load",
                                    "gensim.utils.pickle.loads", "sklearn.externals.joblib.load"])
def test_profiles_cannot_allow_a_denied_global_even_if_listed(denied: str) -> None:
    # is_allowlisted checks the deny set before any extra entry, whatever a profile (or policy) lists.
    assert denied_family(denied) is not None
    assert not is_allowlisted(denied, (*profile_globals(PROFILES), denied))


def test_profiles_hold_exact_names_only_but_torchscripts_own_classes() -> None:
    wildcards = {entry for entries in PROFILES.values() for entry in entries if entry.endswith(".*")}
    assert wildcards == {"__torch__.*"}


def test_profiles_do_not_repeat_the_built_in_allowlist() -> None:
    assert [entry for entries in PROFILES.values() for entry in entries if entry in ALLOWED_GLOBALS] == []


def test_the_schema_lists_exactly_the_profiles() -> None:
    schema = json.loads(resources.files("weightgate").joinpath("schemas/policy.schema.json").read_text())
    enum = schema["properties"]["pickle"]["properties"]["allow_profiles"]["items"]["enum"]
    assert sorted(enum) == sorted(PROFILES)


@pytest.mark.parametrize(("profile", "name"), [
    ("gensim", "gensim.models.word2vec.Word2Vec"),
    ("numpy", "numpy.random.__RandomState_ctor"),
    ("sklearn", "sklearn.linear_model._logistic.LogisticRegression"),
    ("xgboost", "xgboost.sklearn.XGBClassifier"),
    ("lightgbm", "lightgbm.basic.Booster"),
    ("torchscript", "__torch__.torch.nn.modules.linear.Linear"),
])
def test_each_profile_allows_its_librarys_classes_and_not_the_others(profile: str, name: str) -> None:
    assert is_allowlisted(name, profile_globals([profile]))
    others = [other for other in PROFILES if other != profile]
    assert not is_allowlisted(name, profile_globals(others))


def test_crfsuites_file_resource_is_in_no_profile() -> None:
    # Its __del__ unlinks a path the pickle names.
    assert not is_allowlisted("sklearn_crfsuite._fileresource.FileResource", profile_globals(PROFILES))
