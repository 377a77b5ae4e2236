"""Separation of duties compares identities as a reader would see them: case, compatibility forms, invisible
characters and look-alikes (Unicode confusables) make no difference."""

import pytest

from weightgate.governance import identities
from weightgate.governance.identities import same_person, skeleton


@pytest.mark.parametrize("other", [
    "appsec@example.com", "APPSEC@EXAMPLE.COM", "\u0430ppsec@example.com",  # Cyrillic a
    "app\u200bsec@example.com", "\uff41ppsec@example.com",  # zero-width space; fullwidth a
    "appsec@examp1e.com", "appsec@examp|e.com",
])
def test_look_alikes_are_the_same_person(other):
    assert same_person("appsec@example.com", other)


@pytest.mark.parametrize("other", ["appsec2@example.com", "ml-lead@example.com", "dane@example.com",
                                   "appsec@example.org", "", None])
def test_different_people_stay_different(other):
    assert not same_person("appsec@example.com", other)
    assert not same_person("dave@example.com", "dane@example.com")


def test_the_ascii_table_is_what_the_confusables_data_gives():
    expected = {ord(k): v for k, v in identities.ascii_skeleton_table().items()
                if k.casefold() == k}  # capitals are folded before the table applies
    assert identities.ASCII_SKELETON == expected
    for c in map(chr, range(32, 127)):
        assert skeleton(c) == "".join(map(identities._prototype, c.casefold())).replace(" ", ""), repr(c)
