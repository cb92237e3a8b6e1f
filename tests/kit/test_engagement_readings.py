"""The kit's helpers that turn what a network gave into readings: a figure is a count or
it is unavailable, never a made-up zero; reads are cut into the network's batches."""

from __future__ import annotations

import pytest

from publisher.adapters.engagement import (
    LIKES,
    REPLIES,
    REPOSTS,
    PostNumbers,
    chunked,
    count_of,
    nothing_read,
    post_numbers,
)

ASKED = (LIKES, REPOSTS, REPLIES)


@pytest.mark.parametrize(
    ("value", "count"),
    [(0, 0), (7, 7), (10**12, 10**12), (None, None), (-1, None), (True, None),
     (False, None), ("12", None), (3.0, None), ({"count": 1}, None)],
)
def test_only_a_whole_number_of_zero_or_more_is_a_count(value: object, count: int | None) -> None:
    assert count_of(value) == count


def test_figures_given_are_counted_and_the_others_named_unavailable() -> None:
    reading = post_numbers("p1", {LIKES: 4, REPOSTS: None, "ignored": 9}, ASKED)
    assert reading == PostNumbers("p1", {LIKES: 4}, (REPOSTS, REPLIES))


def test_extra_figures_keep_only_counts() -> None:
    reading = post_numbers("p1", {LIKES: 1, REPOSTS: 0, REPLIES: 2}, ASKED,
                           extra={"unique": 5, "rate": 0.4})
    assert reading.extra == {"unique": 5}
    assert reading.unavailable == ()
    assert reading.counts == {LIKES: 1, REPOSTS: 0, REPLIES: 2}


def test_nothing_read_names_every_figure_unavailable() -> None:
    assert nothing_read("p1", ASKED) == PostNumbers("p1", {}, ASKED)


@pytest.mark.parametrize(
    ("n", "size", "sizes"),
    [(0, 100, []), (1, 100, [1]), (100, 100, [100]), (101, 100, [100, 1]), (5, 2, [2, 2, 1]),
     (3, 0, [1, 1, 1])],
)
def test_reads_are_cut_into_batches_in_order(n: int, size: int, sizes: list[int]) -> None:
    ids = [str(i) for i in range(n)]
    batches = chunked(ids, size)
    assert [len(b) for b in batches] == sizes
    assert [i for b in batches for i in b] == ids
