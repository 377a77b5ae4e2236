"""Hypothesis profiles for the fuzz tests, registered before pytest reads `--hypothesis-profile`.

tests/conftest.py loads this module as a plugin (`pytest_plugins`): the hypothesis plugin applies the profile
option while pytest configures itself, before a sub-folder's conftest is imported, so the profiles must be
known by then.

- `ci` (the default): a few dozen derandomized cases per test, so the whole tests/hardening suite stays well
  under a minute on two cores and a CI run is reproducible.
- `long`: at least 100,000 cases per parser, random seeds; for `pytest -m fuzz --hypothesis-profile=long`.
  A test that shares its parser with others runs its share (`fuzzing.shares_parser`).
  WEIGHTGATE_FUZZ_CASES changes the 100,000 for a shorter or longer run.

Neither keeps an example database: a crash found is turned into a named regression test instead.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG_CASES = int(os.environ.get("WEIGHTGATE_FUZZ_CASES", "100000"))  # override for a shorter run

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=2000,  # ms per case; the hard bound is fuzzing.CASE_TIMEOUT_S
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=LONG_CASES,
    deadline=5000,  # two parsers fuzzed per core: generous against scheduling noise, still a bound
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def parser_share(tests: int) -> settings | None:
    """Under the `long` profile, a parser fuzzed by `tests` tests gets its LONG_CASES split between them; under
    any other profile, None (the profile decides)."""
    if settings.get_current_profile_name() != "long":
        return None
    return settings(max_examples=-(-LONG_CASES // tests))


if settings.get_current_profile_name() == "default":
    settings.load_profile("ci")
