"""One delivery lifecycle: every change of state a delivery goes through, as pure functions.

The daemon, the store, the sync, ``publisher resolve`` and the plan ``validate`` and
``dry-run`` show all ask here, so they cannot disagree on what a delivery becomes (they did:
a sync revived deliveries the plan view did not count as pending).

Each function takes the delivery's current state and the facts its event needs (``now``, a
reason, the content hashes a sync compares) and returns a ``Change`` (the new state and the
fields to write) or a ``Refused`` (the event does not apply in that state, and why). Where
each event applies is data (``APPLIES``): the store's SQL reads its state lists from it, so a
claim or a recovery decided inside a statement follows the same table as the functions.

What the store adds to a change is bookkeeping, not a decision: ``updated_at``, the fencing
token, the lease, and a claim's attempt count. What happened on the network (remote ids,
parts, the ledger's attempt) is carried next to a change by its caller.

This module imports nothing from the engine, the store or the adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Final

from publisher.states import CANCELED_BY_SYNC, DeliveryState, Outcome

S = DeliveryState


class Keep(Enum):
    """A field a change leaves as stored."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


class Event(StrEnum):
    CLAIM = "claim"  # its time came: `sending` is committed before the request leaves
    PUBLISH = "publish"  # the network took it (or a rehearsal rendered it)
    RETRY = "retry"  # a transient error or a rate limit: tried again later
    HOLD = "hold"  # the account's credentials stopped working: it waits for a human
    GIVE_UP = "give-up"  # a permanent error, retries used up, or it cannot be rendered
    UNRESOLVED = "unresolved"  # the request may have landed: looked up, never resent blindly
    RELEASE = "release"  # claimed ahead of its time and not sent after all
    LAPSE = "lapse"  # its lease ran out before the request left
    CRASH = "crash"  # its daemon died (or lost its lease) with the request out
    TAKE_LOOKUP = "take-lookup"  # a daemon takes an unknown delivery to look it up
    FOUND = "found"  # the lookup found it on the network, whole
    FOUND_PART = "found-part"  # the lookup found the start of its thread only
    ABSENT = "absent"  # the lookup proved it absent
    NOT_YET = "not-yet"  # absent, but its daemon may only be paused with the request out
    UNKNOWABLE = "unknowable"  # the lookup could not tell
    SAME_KEY = "same-key"  # sent again under an idempotency key the network deduplicates
    MISS = "miss"  # later than max_lateness or not_after
    DEFER = "defer"  # waits for an account's cap or hold
    PLAN = "plan"  # a sync finds it in the queue file (edited, moved, back, or as it was)
    UNPLAN = "unplan"  # a sync finds its post (or account) gone from the queue file
    BY_HAND = "by-hand"  # `publisher resolve ID published|resend|drop`


class Why(StrEnum):
    """Why an event does not apply to a delivery in its state."""

    NOT_WAITING = "it is not waiting to be sent"
    NOT_SENDING = "no request of it is out"
    NOT_UNKNOWN = "its outcome is not in doubt"
    NOT_RESOLVABLE = "only unknown or failed deliveries are resolved by hand"
    IN_FLIGHT = "it may already be out"
    PUBLISHED = "it is already published"
    DROPPED = "it was canceled by hand"
    SETTLED = "it is settled: nothing in the file changes that"


class Hand(StrEnum):
    """A human's word on an unknown or failed delivery."""

    PUBLISHED = "published"  # it is on the network: record it, never send it
    RESEND = "resend"  # it is not there: send it again now
    DROP = "drop"  # give it up: canceled


@dataclass(frozen=True, slots=True)
class Change:
    """The event applies: the delivery's new state, and the fields it writes (``KEEP``: as
    stored; ``None``: emptied)."""

    state: DeliveryState
    due_at: datetime | Keep = KEEP
    reason: str | Keep | None = KEEP
    last_error: str | Keep | None = KEEP
    error_class: str | Keep | None = KEEP
    lookups: int | Keep = KEEP
    # A count set: started afresh by a sync, or handed back by a claim that was not sent.
    attempts: int | Keep = KEEP
    # It is out: published_at is the change's time, published_hash the delivery's content
    # hash (what was claimed is what went out).
    publishes: bool = False
    # A sync writes the file's plan anew (time, content, not_after, slot): it starts over.
    afresh: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """The event does not apply to a delivery in this state: nothing is written."""

    event: Event
    state: DeliveryState
    why: Why


Result = Change | Refused


class InvalidTransition(Exception):
    """A refusal where the caller's own reading made the event certain: a bug, not input."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(f"{refused.event.value} refused for a {refused.state.value} delivery")
        self.refused = refused


def expect(result: Result) -> Change:
    """The change, where a refusal cannot happen (the caller holds the delivery in the state
    the event needs, e.g. a claimed one it is sending)."""
    if isinstance(result, Refused):
        raise InvalidTransition(result)
    return result


# ------------------------------------------------------------------ where events apply

WAITING: Final = frozenset({S.SCHEDULED, S.RETRYING})  # to be sent at due_at: claimable
SENDING: Final = frozenset({S.SENDING})  # a request is (or may be) out under a lease
IN_DOUBT: Final = frozenset({S.UNKNOWN})  # looked up at due_at
BY_HAND_FROM: Final = frozenset({S.UNKNOWN, S.FAILED})
# Something to do at due_at: send it, or look it up.
DUE_WORK: Final = WAITING | IN_DOUBT
# States no event but a sync's plan leaves (``planned``): a delivery in one of them that is
# out of the plan stays as it is for good.
FINAL: Final = frozenset({S.PUBLISHED, S.DRY_RUN, S.CANCELED, S.MISSED})

APPLIES: Final[Mapping[Event, frozenset[DeliveryState]]] = {
    Event.CLAIM: WAITING,
    Event.PUBLISH: SENDING,
    Event.RETRY: SENDING,
    Event.HOLD: SENDING,
    Event.GIVE_UP: SENDING,
    Event.UNRESOLVED: SENDING,
    Event.RELEASE: SENDING,
    Event.LAPSE: SENDING,
    Event.CRASH: SENDING,
    Event.TAKE_LOOKUP: IN_DOUBT,
    Event.FOUND: IN_DOUBT,
    Event.FOUND_PART: IN_DOUBT,
    Event.ABSENT: IN_DOUBT,
    Event.NOT_YET: IN_DOUBT,
    Event.UNKNOWABLE: IN_DOUBT,
    Event.SAME_KEY: IN_DOUBT,
    Event.MISS: WAITING,
    Event.DEFER: WAITING,
    # A sync looks at every state: ``planned`` says which it changes (revives, moves).
    Event.PLAN: frozenset(S),
    Event.UNPLAN: WAITING,
    Event.BY_HAND: BY_HAND_FROM,
}

# The refusal outside ``APPLIES`` (``planned`` and ``unplanned`` say theirs state by state).
_OUTSIDE: Final[Mapping[frozenset[DeliveryState], Why]] = {
    WAITING: Why.NOT_WAITING,
    SENDING: Why.NOT_SENDING,
    IN_DOUBT: Why.NOT_UNKNOWN,
    BY_HAND_FROM: Why.NOT_RESOLVABLE,
}


def _refuse(event: Event, state: DeliveryState) -> Refused | None:
    """The refusal if ``event`` does not apply in ``state``."""
    allowed = APPLIES[event]
    return None if state in allowed else Refused(event, state, _OUTSIDE[allowed])


def waits(result: Result) -> bool:
    """Does this result leave the delivery waiting to be sent (what ``validate`` and
    ``dry-run`` list, and what the daemon claims)?"""
    return isinstance(result, Change) and result.state in WAITING


# ------------------------------------------------------------------- reasons written

INTERRUPTED = "the daemon stopped while the request was out"
LAPSED = "not sent: the lease ran out before the request left (daemon paused or starved)"
FOUND_REASON = "found on the network"
ABSENT_REASON = "proven absent from the network: sending again"
SAME_KEY_REASON = "resending under the same idempotency key, which the network deduplicates"
BACK = "back in the queue file"
EDITED_AFTER_FAILURE = "edited after a failure"
RESCHEDULED_AFTER_MISS = "rescheduled after being missed"
LOOKUP_BACKOFF = timedelta(minutes=15)
LOOKUP_BACKOFF_MAX = timedelta(hours=6)
MAX_LOOKUPS = 6
GAVE_UP_LOOKING = timedelta(days=3650)  # no more lookups: a human settles it


# ------------------------------------------------------------------------ the engine

CLAIMED: Final = Change(S.SENDING)


def claim(state: DeliveryState) -> Result:
    """Its time came (and its caps allow it): ``sending`` before the request leaves. The
    store counts the attempt and takes the lease."""
    return _refuse(Event.CLAIM, state) or CLAIMED


# Results that depend on the state alone are built once: the burst path allocates none.
PUBLISHED: Final = Change(S.PUBLISHED, publishes=True)
REHEARSED: Final = Change(S.DRY_RUN, last_error=None, error_class=None, publishes=True)


def published(state: DeliveryState, *, rehearsal: bool = False) -> Result:
    """The network took it. The last error stays for the record; a rehearsal
    (``run --dry-run``) clears it, and never counts as published."""
    refused = _refuse(Event.PUBLISH, state)
    if refused is not None:
        return refused
    return REHEARSED if rehearsal else PUBLISHED


def retry(
    state: DeliveryState, *, at: datetime, reason: str, error: str, outcome: Outcome
) -> Result:
    """A transient error or a rate limit: tried again at ``at``."""
    return _refuse(Event.RETRY, state) or Change(
        S.RETRYING, due_at=at, reason=reason, last_error=error, error_class=outcome.value
    )


def hold(state: DeliveryState, *, until: datetime, reason: str, error: str) -> Result:
    """The account's credentials were refused: nothing is dropped, it waits (and is tried
    again at ``until``, by when a human may have fixed them)."""
    return _refuse(Event.HOLD, state) or Change(
        S.RETRYING,
        due_at=until,
        reason=reason,
        last_error=error,
        error_class=Outcome.PERMANENT.value,
    )


def give_up(state: DeliveryState, *, error: str, outcome: Outcome) -> Result:
    """A permanent error, the retries used up, or a post that cannot be rendered: failed,
    until an edit or a human revives it."""
    return _refuse(Event.GIVE_UP, state) or Change(
        S.FAILED, last_error=error, error_class=outcome.value
    )


def unresolved(state: DeliveryState, *, reason: str, lookup_at: datetime) -> Result:
    """The request may have landed: ``unknown``, looked up at ``lookup_at``."""
    return _refuse(Event.UNRESOLVED, state) or Change(
        S.UNKNOWN,
        due_at=lookup_at,
        reason=reason,
        last_error=reason,
        error_class=Outcome.AMBIGUOUS.value,
    )


def released(state: DeliveryState, *, attempts: int, due_at: datetime, reason: str) -> Result:
    """Claimed ahead of its time and not sent (the daemon stopped, the account was held):
    it waits again as it was, ``scheduled`` if this claim was its first. The claim counted an
    attempt that was never made: it is handed back, so the retry budget counts sends only."""
    return _refuse(Event.RELEASE, state) or Change(
        S.SCHEDULED if attempts <= 1 else S.RETRYING,
        due_at=due_at,
        reason=reason,
        last_error=None,
        error_class=None,
        attempts=max(attempts - 1, 0),
    )


def lapsed(state: DeliveryState, *, attempts: int, now: datetime) -> Result:
    """Its lease ran out before the request left: handed back unsent, due at once (another
    daemon may have taken it over; then this write is fenced out), its claim's attempt with
    it, as for ``released``."""
    return _refuse(Event.LAPSE, state) or Change(
        S.RETRYING,
        due_at=now,
        reason=LAPSED,
        last_error=None,
        error_class=None,
        attempts=max(attempts - 1, 0),
    )


def interrupted(state: DeliveryState, *, lookup_at: datetime) -> Result:
    """Its daemon died, or lost its lease, with the request out: ``unknown``, looked up at
    ``lookup_at`` (timelines lag). Its lookups count afresh, and the error class says its
    daemon may only be paused (``not_yet``)."""
    return _refuse(Event.CRASH, state) or Change(
        S.UNKNOWN,
        due_at=lookup_at,
        reason=INTERRUPTED,
        error_class=Outcome.INTERRUPTED.value,
        lookups=0,
    )


def taken_for_lookup(state: DeliveryState, *, next_lookup: datetime | None) -> Result:
    """A daemon looks it up: it stays ``unknown``; with ``next_lookup``, others leave it
    alone until then (the store bumps its fence)."""
    refused = _refuse(Event.TAKE_LOOKUP, state)
    if refused is not None:
        return refused
    return Change(S.UNKNOWN, due_at=KEEP if next_lookup is None else next_lookup)


_FOUND: Final = Change(S.PUBLISHED, reason=FOUND_REASON, publishes=True)


def found(state: DeliveryState) -> Result:
    """The lookup found it, whole: published, never sent again."""
    return _refuse(Event.FOUND, state) or _FOUND


def found_part(state: DeliveryState, *, now: datetime, found: int, total: int) -> Result:
    """Only the start of its thread is out: the rest is sent now, the start never again."""
    return _refuse(Event.FOUND_PART, state) or Change(
        S.RETRYING,
        due_at=now,
        reason=f"{found} of {total} parts found on the network; sending the rest",
        last_error=None,
        error_class=None,
    )


def absent(state: DeliveryState, *, now: datetime) -> Result:
    """Proven absent from the network: sent again, now."""
    return _refuse(Event.ABSENT, state) or Change(
        S.RETRYING, due_at=now, reason=ABSENT_REASON, last_error=None, error_class=None
    )


def not_yet(state: DeliveryState, *, recheck_at: datetime, lookups: int) -> Result:
    """Absent, but taken over from a lapsed lease whose daemon may only be paused, its
    request about to leave: looked up once more at ``recheck_at`` before anything is sent."""
    return _refuse(Event.NOT_YET, state) or Change(
        S.UNKNOWN,
        due_at=recheck_at,
        lookups=lookups + 1,
        reason=(
            "not on the network yet, but its daemon may only be paused with the request "
            f"about to leave: looking again at {recheck_at:%H:%M:%S}Z before sending"
        ),
    )


def unknowable(
    state: DeliveryState, *, now: datetime, lookups: int, why: str, delivery_id: int
) -> Result:
    """The lookup could not tell: looked up again later and later, and after
    ``MAX_LOOKUPS`` left to a human. ``lookups`` counts those made before this one."""
    refused = _refuse(Event.UNKNOWABLE, state)
    if refused is not None:
        return refused
    made = lookups + 1
    if made >= MAX_LOOKUPS:
        when = now + GAVE_UP_LOOKING
        reason = (
            f"{why}; gave up looking after {made} lookups: "
            f"settle it with `publisher resolve {delivery_id} published|resend|drop`"
        )
    else:
        when = now + min(LOOKUP_BACKOFF * 2 ** (made - 1), LOOKUP_BACKOFF_MAX)
        reason = f"{why}; next lookup at {when:%Y-%m-%d %H:%M}Z"
    return Change(S.UNKNOWN, due_at=when, lookups=made, reason=reason)


def same_key(state: DeliveryState, *, now: datetime) -> Result:
    """Within the network's idempotency window: sending again under the same key settles it."""
    return _refuse(Event.SAME_KEY, state) or Change(
        S.RETRYING, due_at=now, reason=SAME_KEY_REASON, last_error=None, error_class=None
    )


def missed(state: DeliveryState, *, why: str) -> Result:
    """Too late to go out (``decide.lateness`` says why): never sent."""
    return _refuse(Event.MISS, state) or Change(S.MISSED, reason=why)


def deferred(state: DeliveryState, *, until: datetime, why: str) -> Result:
    """An account's cap or hold: it keeps its state and waits until ``until``."""
    return _refuse(Event.DEFER, state) or Change(state, due_at=until, reason=why)


# --------------------------------------------------------------------------- the sync

_FOLLOWS: Final = {s: Change(s) for s in WAITING}
_MOVED: Final = {s: Change(s, reason=None) for s in WAITING}


def planned(
    state: DeliveryState,
    *,
    reason: str | None,
    stored_hash: str,
    stored_at: datetime,
    plan_hash: str,
    plan_at: datetime,
    now: datetime,
) -> Result:
    """A sync finds the delivery in the queue file, planned at ``plan_at`` with content
    ``plan_hash``; it is stored with ``stored_hash`` at ``stored_at`` (and ``reason``).

    A waiting one follows the file (a moved one loses a deferral's reason). One back in the
    file after the sync canceled it, one failed and then edited (text or time), and one
    missed and then moved into the future start afresh. Anything else stays as it is: what
    was published, or may be out, is never changed by an edit; a delivery dropped by hand
    stays dropped.
    """
    edited = stored_hash != plan_hash
    moved = stored_at != plan_at
    if state in WAITING:
        return _MOVED[state] if moved else _FOLLOWS[state]
    if state is S.CANCELED:
        if reason == CANCELED_BY_SYNC:
            return _revive(BACK)
        return Refused(Event.PLAN, state, Why.DROPPED)
    if state is S.FAILED:
        if edited or moved:
            return _revive(EDITED_AFTER_FAILURE, attempts=0)
        return Refused(Event.PLAN, state, Why.SETTLED)
    if state is S.MISSED:
        if moved and plan_at > now:
            return _revive(RESCHEDULED_AFTER_MISS)
        return Refused(Event.PLAN, state, Why.SETTLED)
    if state in (S.PUBLISHED, S.DRY_RUN):
        return Refused(Event.PLAN, state, Why.PUBLISHED)
    return Refused(Event.PLAN, state, Why.IN_FLIGHT)  # sending, unknown


def _revive(reason: str, attempts: int | Keep = KEEP) -> Change:
    return Change(
        S.SCHEDULED,
        reason=reason,
        last_error=None,
        error_class=None,
        attempts=attempts,
        afresh=True,
    )


UNPLANNED: Final = Change(S.CANCELED, reason=CANCELED_BY_SYNC)


def unplanned(state: DeliveryState) -> Result:
    """A sync finds its post (or its account) gone from the file: a waiting delivery is
    canceled, and comes back with the post (``planned``). One that may be out is left to its
    outcome; the others have nothing left to cancel."""
    if state in WAITING:
        return UNPLANNED
    if state in SENDING | IN_DOUBT:
        return Refused(Event.UNPLAN, state, Why.IN_FLIGHT)
    return Refused(Event.UNPLAN, state, Why.NOT_WAITING)


# ------------------------------------------------------------------------ by hand


def by_hand(state: DeliveryState, decision: Hand, *, now: datetime) -> Result:
    """A human settles an unknown or failed delivery; the reason records whose word it was."""
    refused = _refuse(Event.BY_HAND, state)
    if refused is not None:
        return refused
    note = f"resolved by hand: {decision.value}"
    if decision is Hand.PUBLISHED:
        return Change(S.PUBLISHED, reason=note, publishes=True)
    if decision is Hand.RESEND:
        return Change(S.RETRYING, due_at=now, reason=note, last_error=None, error_class=None)
    return Change(S.CANCELED, reason=note, last_error=None, error_class=None)
