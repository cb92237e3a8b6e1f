"""The lifecycle's edges that its state × event table leaves open (issue 22): the lookup
backoff as a table, a missed delivery moved to exactly now, the defaults of an event's facts,
``waits``, and the message of an impossible transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher import lifecycle as lc
from publisher.lifecycle import KEEP, Change, Event, Refused, Why
from publisher.states import DeliveryState as S

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("lookups", "after", "reason_end"),
    [
        (0, timedelta(minutes=15), "next lookup at 2026-12-02 09:15Z"),  # the first: 15 min
        (1, timedelta(minutes=30), "next lookup at 2026-12-02 09:30Z"),  # then doubling
        (2, timedelta(hours=1), "next lookup at 2026-12-02 10:00Z"),
        (3, timedelta(hours=2), "next lookup at 2026-12-02 11:00Z"),
        (4, timedelta(hours=4), "next lookup at 2026-12-02 13:00Z"),
    ],
)
def test_unknowable_looks_again_later_and_later(
    lookups: int, after: timedelta, reason_end: str
) -> None:
    got = lc.unknowable(S.UNKNOWN, now=NOW, lookups=lookups, why="timeline lags", delivery_id=7)
    assert got == Change(
        S.UNKNOWN, due_at=NOW + after, lookups=lookups + 1, reason=f"timeline lags; {reason_end}"
    )


@pytest.mark.parametrize("lookups", [5, 6, 40])
def test_unknowable_leaves_it_to_a_human_after_max_lookups(lookups: int) -> None:
    assert lc.MAX_LOOKUPS == 6
    got = lc.unknowable(S.UNKNOWN, now=NOW, lookups=lookups, why="no answer", delivery_id=7)
    assert got == Change(
        S.UNKNOWN,
        due_at=NOW + timedelta(days=3650),
        lookups=lookups + 1,
        reason=(
            f"no answer; gave up looking after {lookups + 1} lookups: "
            "settle it with `publisher resolve 7 published|resend|drop`"
        ),
    )


@pytest.mark.parametrize(
    ("plan_at", "revived"),
    [(NOW - TICK, False), (NOW, False), (NOW + TICK, True)],  # only strictly in the future
)
def test_a_missed_delivery_moved_to_now_stays_missed(plan_at: datetime, revived: bool) -> None:
    got = lc.planned(
        S.MISSED,
        reason="too late",
        stored_hash="h",
        stored_at=NOW - timedelta(hours=3),
        plan_hash="h",
        plan_at=plan_at,
        now=NOW,
    )
    if revived:
        assert isinstance(got, Change) and got.state is S.SCHEDULED and got.afresh
    else:
        assert got == Refused(Event.PLAN, S.MISSED, Why.SETTLED)


def test_published_is_no_rehearsal_unless_said() -> None:
    assert lc.published(S.SENDING) == Change(S.PUBLISHED, publishes=True)
    assert lc.published(S.SENDING, rehearsal=True) == Change(
        S.DRY_RUN, last_error=None, error_class=None, publishes=True
    )


def test_taken_for_lookup_keeps_its_time_without_a_next_lookup() -> None:
    assert lc.taken_for_lookup(S.UNKNOWN, next_lookup=None) == Change(S.UNKNOWN, due_at=KEEP)
    later = NOW + timedelta(minutes=5)
    assert lc.taken_for_lookup(S.UNKNOWN, next_lookup=later) == Change(S.UNKNOWN, due_at=later)


@pytest.mark.parametrize(
    ("result", "waits"),
    [
        (Change(S.SCHEDULED), True),
        (Change(S.RETRYING), True),
        (Change(S.SENDING), False),
        (Change(S.UNKNOWN), False),
        (Change(S.PUBLISHED), False),
        (Refused(Event.CLAIM, S.SCHEDULED, Why.NOT_WAITING), False),
        (Refused(Event.PLAN, S.RETRYING, Why.IN_FLIGHT), False),
    ],
)
def test_waits(result: lc.Result, waits: bool) -> None:
    assert lc.waits(result) is waits


def test_an_impossible_transition_says_which() -> None:
    with pytest.raises(lc.InvalidTransition) as err:
        lc.expect(lc.claim(S.PUBLISHED))
    assert str(err.value) == "claim refused for a published delivery"
