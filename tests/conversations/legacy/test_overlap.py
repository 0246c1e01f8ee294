"""The content match behind re-runs: longest stored suffix that the source continues."""

from conversations.services.legacy_import import overlap


def test_overlap_of_an_unchanged_list_is_all_of_it():
    assert overlap(list("abc"), list("abc")) == 3


def test_overlap_of_a_grown_list_is_the_stored_part():
    assert overlap(list("abc"), list("abcde")) == 3


def test_overlap_of_a_trimmed_and_grown_list_is_what_both_hold():
    assert overlap(list("abcdef"), list("defgh")) == 3


def test_overlap_with_nothing_stored_is_zero():
    assert overlap([], list("abc")) == 0


def test_overlap_of_unrelated_lists_is_zero():
    assert overlap(list("abc"), list("xyz")) == 0


def test_overlap_takes_the_longest_match_among_repeats():
    assert overlap(list("abab"), list("ababab")) == 4


def test_overlap_never_matches_messages_without_a_fingerprint():
    assert overlap([None, None], [None, "a"]) == 0
