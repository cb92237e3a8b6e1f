"""The kit's helpers that turn what a network gave into a reading: a figure is a count or it
is unavailable, never a made-up zero."""

from __future__ import annotations

import pytest

from publisher.adapters.engagement import (
    LIKES,
    REPLIES,
    REPOSTS,
    PostNumbers,
    counted,
    numbers_from,
)

NAMES = {LIKES: "like_count", REPOSTS: "share_count", REPLIES: "reply_count"}


@pytest.mark.parametrize(
    ("value", "count"),
    [(0, 0), (7, 7), (10**12, 10**12), (None, None), (-1, None), (True, None),
     (False, None), ("12", None), (3.0, None), ({"count": 1}, None)],
)
def test_only_a_whole_number_of_zero_or_more_is_a_count(value: object, count: int | None) -> None:
    assert counted(value) == count


def test_figures_given_are_counted_and_the_others_named_unavailable() -> None:
    doc = {"like_count": 4, "share_count": None, "ignored": 9}
    assert numbers_from("p1", doc, NAMES) == PostNumbers("p1", {LIKES: 4}, (REPOSTS, REPLIES))


def test_zero_is_a_count_and_extra_figures_keep_only_counts() -> None:
    doc = {"like_count": 1, "share_count": 0, "reply_count": 2, "unique": 5, "rate": 0.4}
    reading = numbers_from("p1", doc, NAMES, {"unique": "unique", "rate": "rate"})
    assert reading == PostNumbers(
        "p1", {LIKES: 1, REPOSTS: 0, REPLIES: 2}, (), {"unique": 5}
    )
