"""Issue 14, item 4: one delivery lifecycle.

The table below is the lifecycle written out: for every event (and the variants of its facts
that matter), what each state becomes, or why the event is refused there. Then the store's
statements, which decide some of these changes in SQL, are checked against the functions
state by state on both backends; and ``validate``, ``dry-run`` and the daemon's sync are
checked to agree on what is still to publish.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher import lifecycle as lc
from publisher.clock import SystemClock
from publisher.engine.decide import Triage
from publisher.lifecycle import Change as C
from publisher.lifecycle import Event as E
from publisher.lifecycle import Hand, Refused, Result
from publisher.lifecycle import Why as W
from publisher.states import CANCELED_BY_SYNC, Outcome
from publisher.states import DeliveryState as S
from publisher.store import Delivery, LoadState, PlanChanges, Store, TakeDue, Transition
from publisher.sync import SyncCache, sync_queue
from tests.conftest import Project

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
STORED_AT = NOW - timedelta(hours=3)  # when the stored plan has the delivery
TOMORROW = NOW + timedelta(days=1)
HAND_DROP = "resolved by hand: drop"

# ---------------------------------------------------------------------------- the table


def fire(state: S, event: E, variant: str) -> Result:
    """Apply ``event`` (with the facts its ``variant`` names) to a delivery in ``state``."""
    if event is E.CLAIM:
        return lc.claim(state)
    if event is E.PUBLISH:
        return lc.published(state, rehearsal=variant == "rehearsal")
    if event is E.RETRY:
        return lc.retry(
            state,
            at=LATER,
            reason="503 (retry in 10s)",
            error="503 Service Unavailable",
            outcome=Outcome.TRANSIENT,
        )
    if event is E.HOLD:
        return lc.hold(state, until=LATER, reason="account needs attention", error="401")
    if event is E.GIVE_UP:
        return lc.give_up(state, error="422 text too long", outcome=Outcome.PERMANENT)
    if event is E.UNRESOLVED:
        return lc.unresolved(state, reason="timed out after the request left", lookup_at=LATER)
    if event is E.RELEASE:
        attempts = {"first claim": 1, "claimed again": 2}[variant]
        return lc.released(state, attempts=attempts, due_at=LATER, reason="stopped before")
    if event is E.LAPSE:
        return lc.lapsed(state, attempts=2, now=NOW)
    if event is E.CRASH:
        return lc.interrupted(state, lookup_at=LATER)
    if event is E.TAKE_LOOKUP:
        return lc.taken_for_lookup(state, next_lookup=LATER)
    if event is E.FOUND:
        return lc.found(state)
    if event is E.FOUND_PART:
        return lc.found_part(state, now=NOW, found=1, total=3)
    if event is E.ABSENT:
        return lc.absent(state, now=NOW)
    if event is E.NOT_YET:
        return lc.not_yet(state, recheck_at=LATER, lookups=0)
    if event is E.UNKNOWABLE:
        lookups = {"first lookup": 0, "sixth lookup": 5}[variant]
        return lc.unknowable(state, now=NOW, lookups=lookups, why="no timeline", delivery_id=7)
    if event is E.SAME_KEY:
        return lc.same_key(state, now=NOW)
    if event is E.MISS:
        return lc.missed(state, why="3h late")
    if event is E.DEFER:
        return lc.deferred(state, until=LATER, why="max_per_day 2 reached")
    if event is E.PLAN:
        edit, _, by = variant.partition(", ")
        plan_hash, plan_at = {
            "as stored": ("h1", STORED_AT),
            "text edited": ("h2", STORED_AT),
            "moved into the future": ("h1", TOMORROW),
            "moved within the past": ("h1", NOW - timedelta(hours=1)),
        }[edit]
        return lc.planned(
            state,
            reason=HAND_DROP if by == "dropped by hand" else CANCELED_BY_SYNC,
            stored_hash="h1",
            stored_at=STORED_AT,
            plan_hash=plan_hash,
            plan_at=plan_at,
            now=NOW,
        )
    if event is E.UNPLAN:
        return lc.unplanned(state)
    assert event is E.BY_HAND
    return lc.by_hand(state, Hand(variant), now=NOW)


PUBLISHED = C(S.PUBLISHED, publishes=True)
REHEARSED = C(S.DRY_RUN, last_error=None, error_class=None, publishes=True)
RETRIED = C(
    S.RETRYING,
    due_at=LATER,
    reason="503 (retry in 10s)",
    last_error="503 Service Unavailable",
    error_class="transient",
)
HELD = C(
    S.RETRYING,
    due_at=LATER,
    reason="account needs attention",
    last_error="401",
    error_class="permanent",
)
FAILED = C(S.FAILED, last_error="422 text too long", error_class="permanent")
UNRESOLVED = C(
    S.UNKNOWN,
    due_at=LATER,
    reason="timed out after the request left",
    last_error="timed out after the request left",
    error_class="ambiguous",
)
# A claim handed back unsent hands its attempt back: the count is one less than claimed.
RELEASED_FIRST = C(
    S.SCHEDULED,
    due_at=LATER,
    reason="stopped before",
    last_error=None,
    error_class=None,
    attempts=0,
)
RELEASED_AGAIN = C(
    S.RETRYING,
    due_at=LATER,
    reason="stopped before",
    last_error=None,
    error_class=None,
    attempts=1,
)
LAPSED = C(
    S.RETRYING,
    due_at=NOW,
    reason="not sent: the lease ran out before the request left (daemon paused or starved)",
    last_error=None,
    error_class=None,
    attempts=1,
)
CRASHED = C(
    S.UNKNOWN,
    due_at=LATER,
    reason="the daemon stopped while the request was out",
    error_class="interrupted",
    lookups=0,
)
TAKEN = C(S.UNKNOWN, due_at=LATER)
FOUND = C(S.PUBLISHED, reason="found on the network", publishes=True)
FOUND_PART = C(
    S.RETRYING,
    due_at=NOW,
    reason="1 of 3 parts found on the network; sending the rest",
    last_error=None,
    error_class=None,
)
ABSENT = C(
    S.RETRYING,
    due_at=NOW,
    reason="proven absent from the network: sending again",
    last_error=None,
    error_class=None,
)
NOT_YET = C(
    S.UNKNOWN,
    due_at=LATER,
    lookups=1,
    reason="not on the network yet, but its daemon may only be paused with the request about "
    "to leave: looking again at 09:00:00Z before sending",
)
LOOK_AGAIN = C(
    S.UNKNOWN,
    due_at=NOW + timedelta(minutes=15),
    lookups=1,
    reason="no timeline; next lookup at 2026-12-01 08:15Z",
)
GAVE_UP_LOOKING = C(
    S.UNKNOWN,
    due_at=NOW + timedelta(days=3650),
    lookups=6,
    reason="no timeline; gave up looking after 6 lookups: "
    "settle it with `publisher resolve 7 published|resend|drop`",
)
SAME_KEY = C(
    S.RETRYING,
    due_at=NOW,
    reason="resending under the same idempotency key, which the network deduplicates",
    last_error=None,
    error_class=None,
)
MISSED = C(S.MISSED, reason="3h late")
BACK = C(
    S.SCHEDULED,
    reason="back in the queue file",
    last_error=None,
    error_class=None,
    afresh=True,
)
EDITED_AFTER_FAILURE = C(
    S.SCHEDULED,
    reason="edited after a failure",
    last_error=None,
    error_class=None,
    attempts=0,
    afresh=True,
)
RESCHEDULED = C(
    S.SCHEDULED,
    reason="rescheduled after being missed",
    last_error=None,
    error_class=None,
    afresh=True,
)
UNPLANNED = C(S.CANCELED, reason="removed from the queue file")
HAND_PUBLISHED = C(S.PUBLISHED, reason="resolved by hand: published", publishes=True)
HAND_RESEND = C(
    S.RETRYING, due_at=NOW, reason="resolved by hand: resend", last_error=None, error_class=None
)
HAND_DROP_CHANGE = C(S.CANCELED, reason=HAND_DROP, last_error=None, error_class=None)

# A ``Why`` in the table: the event is refused in that state, for that reason.
NW, NS, NU, NR = W.NOT_WAITING, W.NOT_SENDING, W.NOT_UNKNOWN, W.NOT_RESOLVABLE
IN_FLIGHT, ALREADY, DROPPED, SETTLED = W.IN_FLIGHT, W.PUBLISHED, W.DROPPED, W.SETTLED

# (event, variant): {state: its change, or why the event is refused}. States in enum order.
TABLE: dict[tuple[E, str], dict[S, C | W]] = {
    (E.CLAIM, ""): {
        S.SCHEDULED: C(S.SENDING),
        S.SENDING: NW,
        S.PUBLISHED: NW,
        S.RETRYING: C(S.SENDING),
        S.FAILED: NW,
        S.UNKNOWN: NW,
        S.CANCELED: NW,
        S.MISSED: NW,
        S.DRY_RUN: NW,
    },
    (E.PUBLISH, "live"): {
        S.SCHEDULED: NS,
        S.SENDING: PUBLISHED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.PUBLISH, "rehearsal"): {
        S.SCHEDULED: NS,
        S.SENDING: REHEARSED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.RETRY, ""): {
        S.SCHEDULED: NS,
        S.SENDING: RETRIED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.HOLD, ""): {
        S.SCHEDULED: NS,
        S.SENDING: HELD,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.GIVE_UP, ""): {
        S.SCHEDULED: NS,
        S.SENDING: FAILED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.UNRESOLVED, ""): {
        S.SCHEDULED: NS,
        S.SENDING: UNRESOLVED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.RELEASE, "first claim"): {
        S.SCHEDULED: NS,
        S.SENDING: RELEASED_FIRST,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.RELEASE, "claimed again"): {
        S.SCHEDULED: NS,
        S.SENDING: RELEASED_AGAIN,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.LAPSE, ""): {
        S.SCHEDULED: NS,
        S.SENDING: LAPSED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.CRASH, ""): {
        S.SCHEDULED: NS,
        S.SENDING: CRASHED,
        S.PUBLISHED: NS,
        S.RETRYING: NS,
        S.FAILED: NS,
        S.UNKNOWN: NS,
        S.CANCELED: NS,
        S.MISSED: NS,
        S.DRY_RUN: NS,
    },
    (E.TAKE_LOOKUP, ""): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: TAKEN,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.FOUND, ""): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: FOUND,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.FOUND_PART, ""): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: FOUND_PART,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.ABSENT, ""): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: ABSENT,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.NOT_YET, ""): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: NOT_YET,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.UNKNOWABLE, "first lookup"): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: LOOK_AGAIN,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.UNKNOWABLE, "sixth lookup"): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: GAVE_UP_LOOKING,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.SAME_KEY, ""): {
        S.SCHEDULED: NU,
        S.SENDING: NU,
        S.PUBLISHED: NU,
        S.RETRYING: NU,
        S.FAILED: NU,
        S.UNKNOWN: SAME_KEY,
        S.CANCELED: NU,
        S.MISSED: NU,
        S.DRY_RUN: NU,
    },
    (E.MISS, ""): {
        S.SCHEDULED: MISSED,
        S.SENDING: NW,
        S.PUBLISHED: NW,
        S.RETRYING: MISSED,
        S.FAILED: NW,
        S.UNKNOWN: NW,
        S.CANCELED: NW,
        S.MISSED: NW,
        S.DRY_RUN: NW,
    },
    (E.DEFER, ""): {
        S.SCHEDULED: C(S.SCHEDULED, due_at=LATER, reason="max_per_day 2 reached"),
        S.SENDING: NW,
        S.PUBLISHED: NW,
        S.RETRYING: C(S.RETRYING, due_at=LATER, reason="max_per_day 2 reached"),
        S.FAILED: NW,
        S.UNKNOWN: NW,
        S.CANCELED: NW,
        S.MISSED: NW,
        S.DRY_RUN: NW,
    },
    # A sync finds the delivery in the file. Canceled ones were canceled by a sync (their
    # post had left the file) unless the variant says "dropped by hand".
    (E.PLAN, "as stored"): {
        S.SCHEDULED: C(S.SCHEDULED),
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: ALREADY,
        S.RETRYING: C(S.RETRYING),
        S.FAILED: SETTLED,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: BACK,
        S.MISSED: SETTLED,
        S.DRY_RUN: ALREADY,
    },
    (E.PLAN, "text edited"): {
        S.SCHEDULED: C(S.SCHEDULED),
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: ALREADY,
        S.RETRYING: C(S.RETRYING),
        S.FAILED: EDITED_AFTER_FAILURE,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: BACK,
        S.MISSED: SETTLED,
        S.DRY_RUN: ALREADY,
    },
    (E.PLAN, "moved into the future"): {
        S.SCHEDULED: C(S.SCHEDULED, reason=None),
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: ALREADY,
        S.RETRYING: C(S.RETRYING, reason=None),
        S.FAILED: EDITED_AFTER_FAILURE,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: BACK,
        S.MISSED: RESCHEDULED,
        S.DRY_RUN: ALREADY,
    },
    (E.PLAN, "moved within the past"): {
        S.SCHEDULED: C(S.SCHEDULED, reason=None),
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: ALREADY,
        S.RETRYING: C(S.RETRYING, reason=None),
        S.FAILED: EDITED_AFTER_FAILURE,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: BACK,
        S.MISSED: SETTLED,
        S.DRY_RUN: ALREADY,
    },
    (E.PLAN, "as stored, dropped by hand"): {
        S.SCHEDULED: C(S.SCHEDULED),
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: ALREADY,
        S.RETRYING: C(S.RETRYING),
        S.FAILED: SETTLED,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: DROPPED,
        S.MISSED: SETTLED,
        S.DRY_RUN: ALREADY,
    },
    (E.PLAN, "moved into the future, dropped by hand"): {
        S.SCHEDULED: C(S.SCHEDULED, reason=None),
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: ALREADY,
        S.RETRYING: C(S.RETRYING, reason=None),
        S.FAILED: EDITED_AFTER_FAILURE,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: DROPPED,
        S.MISSED: RESCHEDULED,
        S.DRY_RUN: ALREADY,
    },
    (E.UNPLAN, ""): {
        S.SCHEDULED: UNPLANNED,
        S.SENDING: IN_FLIGHT,
        S.PUBLISHED: NW,
        S.RETRYING: UNPLANNED,
        S.FAILED: NW,
        S.UNKNOWN: IN_FLIGHT,
        S.CANCELED: NW,
        S.MISSED: NW,
        S.DRY_RUN: NW,
    },
    (E.BY_HAND, "published"): {
        S.SCHEDULED: NR,
        S.SENDING: NR,
        S.PUBLISHED: NR,
        S.RETRYING: NR,
        S.FAILED: HAND_PUBLISHED,
        S.UNKNOWN: HAND_PUBLISHED,
        S.CANCELED: NR,
        S.MISSED: NR,
        S.DRY_RUN: NR,
    },
    (E.BY_HAND, "resend"): {
        S.SCHEDULED: NR,
        S.SENDING: NR,
        S.PUBLISHED: NR,
        S.RETRYING: NR,
        S.FAILED: HAND_RESEND,
        S.UNKNOWN: HAND_RESEND,
        S.CANCELED: NR,
        S.MISSED: NR,
        S.DRY_RUN: NR,
    },
    (E.BY_HAND, "drop"): {
        S.SCHEDULED: NR,
        S.SENDING: NR,
        S.PUBLISHED: NR,
        S.RETRYING: NR,
        S.FAILED: HAND_DROP_CHANGE,
        S.UNKNOWN: HAND_DROP_CHANGE,
        S.CANCELED: NR,
        S.MISSED: NR,
        S.DRY_RUN: NR,
    },
}


def test_item4_lifecycle_table_every_state_and_event() -> None:
    # The table covers every (state, event) pair, each variant for every state.
    assert {event for event, _ in TABLE} == set(E)
    for key, row in TABLE.items():
        assert set(row) == set(S), key
    wrong = []
    for (event, variant), row in TABLE.items():
        for state, expected in row.items():
            want = Refused(event, state, expected) if isinstance(expected, W) else expected
            got = fire(state, event, variant)
            if got != want:
                wrong.append(f"{state.value} × {event.value} ({variant}): {got} != {want}")
    assert not wrong, "\n".join(wrong)


def test_item4_final_states_are_left_only_by_a_sync() -> None:
    # What a sync's cache relies on: a delivery out of the plan in a final state stays so.
    for (event, _variant), row in TABLE.items():
        if event is E.PLAN:
            continue
        for state in lc.FINAL:
            assert isinstance(row[state], W), (event, state)


def test_item4_expect_raises_on_a_refusal_only() -> None:
    assert lc.expect(lc.claim(S.SCHEDULED)) == C(S.SENDING)
    try:
        lc.expect(lc.claim(S.PUBLISHED))
    except lc.InvalidTransition as err:
        assert err.refused == Refused(E.CLAIM, S.PUBLISHED, W.NOT_WAITING)
    else:
        raise AssertionError("a refused claim was taken for a change")


# ------------------------------------------------------- the store's statements agree

FIELDS = (
    "state",
    "due_at",
    "reason",
    "last_error",
    "error_class",
    "lookups",
    "attempts",
)


def seed_row(state: S) -> dict[str, Any]:
    """One delivery in ``state``, on an account of its own, due a minute ago."""
    due = NOW - timedelta(minutes=1)
    return {
        "post_id": f"p-{state.value}",
        "account": f"a-{state.value}",
        "network": "log",
        "state": state.value,
        "scheduled_at": due,
        "due_at": due,
        "not_after": None,
        "from_slot": False,
        "content_hash": "h1",
        "content": "{}",
        "attempts": 1,
        "parts": "[]",
        "fence": 3,
        "updated_at": NOW,
        "reason": "stored reason",
        "last_error": "stored error",
        "error_class": "transient",
        "lookups": 2,
        "lease_owner": "w0" if state is S.SENDING else None,
        "lease_until": due if state is S.SENDING else None,
    }


async def seeded_store(url: str) -> tuple[Store, dict[S, Delivery]]:
    store = await Store.open(url)
    posts = [
        {
            "id": f"p-{s.value}",
            "content_hash": "x",
            "line": 1,
            "removed_at": None,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for s in S
    ]
    changes = PlanChanges(posts_upsert=posts, inserts=[seed_row(s) for s in S])
    await store.apply(changes, LoadState(NOW, True, "f", "ok", NOW))
    return store, {d.state: d for d in await store.all_deliveries()}


def applies(fn: Any) -> set[S]:
    """The states where a lifecycle function gives a change."""
    return {s for s in S if isinstance(fn(s), C)}


def written(before: Delivery, change: C) -> dict[str, Any]:
    """A row's fields after ``change``: its own, and those the change does not keep."""
    out = {name: getattr(before, name) for name in FIELDS}
    for name in FIELDS:
        value = getattr(change, name)
        if value is not lc.KEEP:
            out[name] = value
    return out


def fields(d: Delivery) -> dict[str, Any]:
    return {name: getattr(d, name) for name in FIELDS}


async def after(store: Store) -> dict[S, Delivery]:
    """Each seeded delivery as stored now, by the state it was seeded in."""
    return {S(d.post_id.removeprefix("p-")): d for d in await store.all_deliveries()}


def take(choose: str) -> Any:
    """A ``decide`` for ``take_due`` that claims, misses or defers every candidate."""

    def decide(candidates: list[Delivery], *_: Any) -> Triage:
        if choose == "claim":
            return Triage(chosen=list(candidates))
        if choose == "miss":
            return Triage(missed=[(d, "3h late") for d in candidates])
        return Triage(deferred=[(d, LATER, "max_per_day 2 reached") for d in candidates])

    return decide


async def test_item4_store_claims_where_the_lifecycle_claims(db_url: str) -> None:
    """The engine's claim (plain SQL on SQLite, SQLAlchemy on PostgreSQL), the one-by-one
    claim and ``due`` take exactly the states ``lifecycle.claim`` applies to."""
    store, rows = await seeded_store(db_url)
    try:
        assert {d.state for d in await store.due(NOW, 100)} == applies(lc.claim)
        taken = await store.take_due(TakeDue(NOW, 100, "w", timedelta(minutes=5), take("claim")))
        assert {rows[S(d.post_id.removeprefix("p-"))].state for d in taken.plan.chosen} == (
            applies(lc.claim)
        )
        now = await after(store)
        for s in S:
            change = lc.claim(s)
            want = change.state if isinstance(change, C) else s
            assert now[s].state is want, s
        store, rows = await _reseeded(store, db_url)
        won = await store.claim(list(rows.values()), NOW, "w", timedelta(minutes=5))
        assert {S(d.post_id.removeprefix("p-")) for d in won} == applies(lc.claim)
        assert all(d.state is lc.CLAIMED.state for d in won)
    finally:
        await store.close()


async def _reseeded(store: Store, url: str) -> tuple[Store, dict[S, Delivery]]:
    """The seeded deliveries again, as they were."""
    await store.wipe()
    await store.close()
    fresh, rows = await seeded_store(url)
    return fresh, rows


async def test_item4_store_misses_and_defers_as_the_lifecycle_says(db_url: str) -> None:
    """A claim pass's missed and deferred deliveries are written as ``lifecycle.missed`` and
    ``lifecycle.deferred`` say, where they apply; so is an account's hold."""
    store, rows = await seeded_store(db_url)
    try:
        await store.take_due(TakeDue(NOW, 100, "w", timedelta(minutes=5), take("miss")))
        now = await after(store)
        for s in S:
            change = lc.missed(s, why="3h late")
            want = written(rows[s], change) if isinstance(change, C) else fields(rows[s])
            assert fields(now[s]) == want, s
        store, rows = await _reseeded(store, db_url)
        await store.take_due(TakeDue(NOW, 100, "w", timedelta(minutes=5), take("defer")))
        now = await after(store)
        for s in S:
            change = lc.deferred(s, until=LATER, why="max_per_day 2 reached")
            want = written(rows[s], change) if isinstance(change, C) else fields(rows[s])
            assert fields(now[s]) == want, s
        store, rows = await _reseeded(store, db_url)
        for s in S:
            await store.defer_account(f"a-{s.value}", LATER, "account held")
        now = await after(store)
        for s in S:
            change = lc.deferred(s, until=LATER, why="account held")
            want = written(rows[s], change) if isinstance(change, C) else fields(rows[s])
            assert fields(now[s]) == want, s
    finally:
        await store.close()


async def test_item4_store_recovers_and_looks_up_as_the_lifecycle_says(db_url: str) -> None:
    """A crash's recovery, the lookups' queries and a lookup's claim follow
    ``lifecycle.interrupted`` and ``lifecycle.taken_for_lookup``, state by state."""
    store, rows = await seeded_store(db_url)
    try:
        found = await store.recover_in_flight(NOW, lookup_at=LATER)
        recovered = {S(d.post_id.removeprefix("p-")) for d in found}
        assert recovered == applies(lambda s: lc.interrupted(s, lookup_at=LATER))
        now = await after(store)
        for s in S:
            change = lc.interrupted(s, lookup_at=LATER)
            want = written(rows[s], change) if isinstance(change, C) else fields(rows[s])
            assert fields(now[s]) == want, s
        store, rows = await _reseeded(store, db_url)

        def lookup(s: S) -> Result:
            return lc.taken_for_lookup(s, next_lookup=LATER)

        assert {d.state for d in await store.due_unknown(NOW, 100)} == applies(lookup)
        # Each delivery offered as if it were unknown: the statement's own guard decides.
        taken = set()
        for s, d in rows.items():
            if await store.take_unknown(replace(d, state=S.UNKNOWN), NOW, "w", LATER - NOW):
                taken.add(s)
        assert taken == applies(lookup)
        now = await after(store)
        for s in S:
            change = lookup(s)
            want = written(rows[s], change) if isinstance(change, C) else fields(rows[s])
            assert fields(now[s]) == want, s
        # Work is due for what is claimed or looked up at its due time, nothing else.
        for s in S:
            others = [f"a-{o.value}" for o in S if o is not s]
            due = await store.next_due(others)
            assert (due is not None) == (s in applies(lc.claim) | applies(lookup)), s
    finally:
        await store.close()


async def test_item4_store_cancels_what_the_lifecycle_unplans(db_url: str) -> None:
    """A sync's cancel applies where ``lifecycle.unplanned`` gives a change (elsewhere the
    whole apply is refused, to be read again), and writes what it says."""
    store, rows = await seeded_store(db_url)
    try:
        for s, d in rows.items():
            load = LoadState(NOW, True, f"f-{s.value}", "ok", NOW)
            ok = await store.apply(PlanChanges(cancels=[d.id]), load)
            assert ok == isinstance(lc.unplanned(s), C), s
        now = await after(store)
        for s in S:
            change = lc.unplanned(s)
            want = written(rows[s], change) if isinstance(change, C) else fields(rows[s])
            assert fields(now[s]) == want, s
    finally:
        await store.close()


# ---------------------------------------- validate, dry-run and the daemon agree


def publisher_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line, as a user runs it."""
    # Generous: a hung command fails the test instead of blocking the suite.
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def queue(posts: dict[str, tuple[datetime, str]]) -> str:
    lines = ["posts:"]
    for pid, (when, text) in posts.items():
        at = when.isoformat()
        lines.append(f"  - {{id: {pid}, at: '{at}', accounts: [alpha], text: {text}}}")
    return "\n".join(lines) + "\n"


async def test_item4_validate_dry_run_and_the_daemon_agree_on_what_is_pending(
    project: Project, tmp_path: Path
) -> None:
    """A store with a delivery in every state, and a file edited since: ``validate``,
    ``dry-run`` and the daemon's sync (incremental, as a running daemon does it, and full,
    as at a start) agree on what is still to publish. Among them the cases they disagreed
    on: a failed delivery whose post was moved, and a missed one moved into the future."""
    now = SystemClock().now()
    base = (now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    past = (now - timedelta(hours=6)).replace(second=0, microsecond=0)

    def hour(n: int) -> datetime:
        return base + timedelta(hours=n)

    posts = {
        "s": (hour(1), "scheduled"),
        "r": (hour(2), "retrying"),
        "p": (hour(3), "published"),
        "d": (hour(4), "rehearsed"),
        "f": (hour(5), "failed then moved"),
        "e": (hour(7), "failed then edited"),
        "g": (hour(8), "failed and left alone"),
        "m": (past, "missed then moved to the future"),
        "n": (past, "missed and left alone"),
        "o": (past, "missed then moved within the past"),
        "u": (hour(10), "unknown"),
        "x": (hour(11), "sending"),
        "c": (hour(12), "canceled by a sync then back"),
        "h": (hour(13), "dropped by hand"),
    }
    project.write_queue(queue(posts))
    config = project.config()
    cache = SyncCache()  # the daemon's, kept from sync to sync
    store = await Store.open(project.database)
    try:
        await sync_queue(config, store, now, cache=cache)
        stored = {d.post_id: d for d in await store.all_deliveries()}
        [sending] = await store.claim([stored["x"]], now, "w", timedelta(minutes=5))
        assert sending.state is S.SENDING
        moves: dict[str, tuple[S, dict[str, Any]]] = {
            "r": (S.RETRYING, {"due_at": hour(2), "reason": "503"}),
            "p": (S.PUBLISHED, {"published_hash": stored["p"].content_hash, "published_at": now}),
            "d": (S.DRY_RUN, {"published_hash": stored["d"].content_hash, "published_at": now}),
            "f": (S.FAILED, {"last_error": "422"}),
            "e": (S.FAILED, {"last_error": "422"}),
            "g": (S.FAILED, {"last_error": "422"}),
            "h": (S.FAILED, {"last_error": "422"}),
            "m": (S.MISSED, {"reason": "6h late"}),
            "n": (S.MISSED, {"reason": "6h late"}),
            "o": (S.MISSED, {"reason": "6h late"}),
            "u": (S.UNKNOWN, {"due_at": hour(20), "reason": "timeout"}),
        }
        await store.finish(
            [
                Transition(stored[pid].id, stored[pid].fence, state, now, **extra)
                for pid, (state, extra) in moves.items()
            ]
        )
        # c leaves the file (the sync cancels it) and comes back below.
        project.write_queue(queue({k: v for k, v in posts.items() if k != "c"}))
        await sync_queue(config, store, now + timedelta(seconds=1), cache=cache)
        assert (await store.find("c"))[0].state is S.CANCELED
    finally:
        await store.close()
    dropped = publisher_cli("resolve", str(stored["h"].id), "drop", "--config", str(config.path))
    assert dropped.returncode == 0, dropped.stderr
    posts["c"] = (hour(12), "canceled by a sync then back")
    posts["f"] = (hour(6), "failed then moved")
    posts["e"] = (hour(7), "failed then edited again")
    posts["m"] = (hour(9), "missed then moved to the future")
    posts["o"] = (past + timedelta(hours=1), "missed then moved within the past")
    project.write_queue(queue(posts))
    expected = ["s", "r", "f", "e", "m", "c"]  # by due time

    # validate and dry-run: read-only, from the file and the store.
    checked = publisher_cli("validate", "--config", str(config.path))
    assert checked.returncode == 0, checked.stderr
    assert f"{len(posts)} deliveries, {len(expected)} still to publish" in checked.stdout
    listed = checked.stdout.split("next:\n", 1)[1].splitlines()
    assert [line.split()[-3] for line in listed] == expected[:5], checked.stdout
    shown = publisher_cli("dry-run", "--json", "--config", str(config.path))
    assert shown.returncode == 0, shown.stderr
    rehearsed = json.loads(shown.stdout)["deliveries"]
    assert [(d["post"], d["account"]) for d in rehearsed] == [(p, "alpha") for p in expected]

    # The daemon's sync, on a copy of the store as validate and dry-run saw it, and full.
    copy = tmp_path / "copy.db"
    shutil.copyfile(tmp_path / "queue.db", copy)
    for suffix in ("-wal", "-shm"):
        if (tmp_path / f"queue.db{suffix}").exists():
            shutil.copyfile(tmp_path / f"queue.db{suffix}", tmp_path / f"copy.db{suffix}")
    later = SystemClock().now()
    for url, memory in ((project.database, cache), (f"sqlite:///{copy}", None)):
        store = await Store.open(url)
        try:
            report = await sync_queue(config, store, later, cache=memory)
            assert report.applied and not report.failed, report
            assert memory is None or memory.incremental
            waiting = await store.by_state(*lc.WAITING)
            assert [d.post_id for d in waiting] == expected, url
            # The hand-dropped one stays canceled; the other settled ones stay as they were.
            states = {d.post_id: d.state for d in await store.all_deliveries()}
            assert states["h"] is S.CANCELED and states["g"] is S.FAILED
            assert states["n"] is S.MISSED and states["o"] is S.MISSED
        finally:
            await store.close()
