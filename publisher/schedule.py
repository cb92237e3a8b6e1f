"""When each delivery is due: timed posts at their time, the others in their accounts' slots.

Pure: ``now`` and the slot times already given out (``kept``) are arguments, so a re-sync
gives every post the slot it had before and only new posts take new slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from publisher.config import Config
from publisher.diagnostics import Diagnostic, Severity
from publisher.durations import format_duration
from publisher.queuefile import QueueFile
from publisher.queueset import file_of, is_glob
from publisher.slots import Slot
from publisher.times import format_local, localize

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    post_id: str
    account: str
    network: str
    due_at: datetime  # aware UTC
    from_slot: bool
    not_after: datetime | None
    content_hash: str


def next_slot_times(slots: Sequence[Slot], zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Slot instants strictly after ``after``, ascending, without end (none if no slots).

    Each day's slots are localized like editors' times (a gap moves forward, an overlap takes
    the first occurrence), then sorted: on a spring-forward day 02:30 becomes 03:30 and may
    pass a 03:15 slot. Two slots landing on one instant count once.
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    by_day: list[list[time]] = [sorted({s.at for s in slots if d in s.days}) for d in range(7)]
    if not any(by_day):
        return
    last = after.astimezone(UTC)
    day = last.astimezone(zone).date() - timedelta(days=1)
    while True:
        times = by_day[day.weekday()]
        instants = sorted({localize(datetime.combine(day, t), zone).at for t in times})
        for instant in instants:
            if instant > last:
                last = instant
                yield instant
        day += timedelta(days=1)


def plan_deliveries(
    queue: QueueFile,
    config: Config,
    now: datetime,
    kept: Mapping[tuple[str, str], datetime],
    previous: Mapping[tuple[str, str], PlannedDelivery] | None = None,
    *,
    ordered: bool = True,
    held: Mapping[str, set[datetime]] | None = None,
) -> list[PlannedDelivery]:
    """Every (post, account) delivery of the file, ordered by due time, then file order.

    Timed posts are due at ``at``. A post without ``at`` keeps the slot in ``kept`` for that
    account if it has one; otherwise, in file order, it takes the account's first slot after
    ``now`` at which no other delivery of the account (timed or slotted) is due.

    ``held`` are times per account that deliveries outside ``queue`` keep (a queue file with
    errors keeps its plan, publisher.queueset): no slot is given at them.

    ``previous`` is the last plan: a delivery planned as it was is that very object, so a
    re-sync of a big file builds only what changed (and can tell it by identity). Without
    ``ordered``, the deliveries come in file order (``plan_order`` sorts some of them).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    accounts = config.accounts
    before = previous or {}
    taken: dict[str, set[datetime]] | None = None  # due times per account, once a slot is due
    free: dict[str, Iterator[datetime]] = {}
    out: list[PlannedDelivery] = []
    order: list[int] = []  # (due, index, position) as one int: no tuple per delivery to sort
    for index, post in enumerate(queue.posts):
        at, not_after = post.at, post.not_after
        for position, name in enumerate(post.accounts):
            account = accounts[name]
            key = (post.id, name)
            if at is not None:
                due, from_slot = at, False
            elif key in kept:
                due, from_slot = kept[key].astimezone(UTC), True
            else:
                if not account.slots:
                    raise ValueError(
                        f"{post.id}: account {name} has no slots (load_queue reports this)"
                    )
                if taken is None:
                    taken = _taken(queue, kept, held)
                slots = free.get(name)
                if slots is None:
                    slots = free[name] = next_slot_times(account.slots, config.timezone, now)
                busy = taken.setdefault(name, set())
                due = next(t for t in slots if t not in busy)
                busy.add(due)
                from_slot = True
            content_hash = post.content_hash(account)
            old = before.get(key)
            if (
                old is not None
                and old.due_at == due
                and old.content_hash == content_hash
                and old.not_after == not_after
                and old.from_slot == from_slot
                and old.network == account.network
            ):
                planned = old
            else:
                planned = PlannedDelivery(
                    post_id=post.id,
                    account=name,
                    network=account.network,
                    due_at=due,
                    from_slot=from_slot,
                    not_after=not_after,
                    content_hash=content_hash,
                )
            out.append(planned)
            if ordered:
                order.append(_order(due, index, position))
    if not ordered:
        return out
    ranks = sorted(range(len(out)), key=order.__getitem__)
    return [out[i] for i in ranks]


def _order(due: datetime, index: int, position: int) -> int:
    """(due, index, position) as one int: sorting needs no tuple per delivery (20,000 tuples
    alive at once would set the cyclic GC off on everything a daemon keeps)."""
    return ((due - _EPOCH) // _MICROSECOND << 40) + (index << 16) + position


def plan_order(queue: QueueFile, planned: Iterable[PlannedDelivery]) -> list[PlannedDelivery]:
    """Some deliveries of ``plan_deliveries(..., ordered=False)`` in the order it would give."""
    some = list(planned)
    ids = {p.post_id for p in some}
    where = {post.id: (i, post) for i, post in enumerate(queue.posts) if post.id in ids}

    def rank(p: PlannedDelivery) -> int:
        i, post = where[p.post_id]
        return _order(p.due_at, i, post.accounts.index(p.account))

    return sorted(some, key=rank)


def _taken(
    queue: QueueFile,
    kept: Mapping[tuple[str, str], datetime],
    held: Mapping[str, set[datetime]] | None = None,
) -> dict[str, set[datetime]]:
    """The times already due per account: timed posts, slots given out before, ``held``."""
    taken: dict[str, set[datetime]] = {
        name: {t.astimezone(UTC) for t in times} for name, times in (held or {}).items()
    }
    for post in queue.posts:
        for name in post.accounts:
            if post.at is not None:
                taken.setdefault(name, set()).add(post.at)
            elif (post.id, name) in kept:
                taken.setdefault(name, set()).add(kept[(post.id, name)].astimezone(UTC))
    return taken


def policy_violations(
    planned: Sequence[PlannedDelivery],
    config: Config,
    queue: QueueFile | None = None,
) -> list[Diagnostic]:
    """Deliveries beyond an account's ``max_per_day``, closer than its ``min_interval``, or
    given a slot after their ``not_after``.

    Days are the configured zone's calendar days. The diagnostics are warnings that point at
    the offending post when ``queue`` is given (at the top of the queue file otherwise); the
    caller decides whether they block.
    """
    zone = config.timezone
    where: dict[str, tuple[int, int]] = {}
    filename = str(config.queue_path)
    if queue is not None:
        filename = str(queue.path)
        where = {p.id: (p.line, p.column) for p in queue.posts}

    by_account: dict[str, list[PlannedDelivery]] = {}
    for p in planned:
        by_account.setdefault(p.account, []).append(p)

    out: list[Diagnostic] = []
    many = is_glob(config.queue_path)  # one file per team: each post's own file

    def report(p: PlannedDelivery, key: str, message: str) -> None:
        line, col = where.get(p.post_id, (1, 1))
        file = file_of(config, p.post_id) if many else filename
        out.append(
            Diagnostic(file, line, col, f"accounts.{p.account}.{key}", message, Severity.WARNING)
        )

    for name in sorted(by_account):
        account = config.accounts.get(name)
        if account is None:
            continue
        for p in by_account[name]:
            if p.not_after is not None and p.due_at > p.not_after:
                report(
                    p,
                    "slots",
                    (
                        f"{p.post_id!r} gets {name}'s slot at {format_local(p.due_at, zone)}, "
                        f"after its not_after ({format_local(p.not_after, zone)}): it will be "
                        "missed"
                    ),
                )
        items = sorted(by_account[name], key=lambda p: (p.due_at, p.post_id))
        if account.max_per_day is not None:
            per_day: dict[object, int] = {}
            for p in items:
                day = p.due_at.astimezone(zone).date()
                n = per_day[day] = per_day.get(day, 0) + 1
                if n > account.max_per_day:
                    report(
                        p,
                        "max_per_day",
                        (
                            f"{p.post_id!r} is post number {n} to {name} on {day:%a %Y-%m-%d} "
                            f"({zone.key}); max_per_day is {account.max_per_day}"
                        ),
                    )
        if account.min_interval is not None:
            for before, p in pairwise(items):
                gap = p.due_at - before.due_at
                if gap < account.min_interval:
                    report(
                        p,
                        "min_interval",
                        (
                            f"{p.post_id!r} goes to {name} at {format_local(p.due_at, zone)}, "
                            f"{format_duration(gap)} after {before.post_id!r}; min_interval is "
                            f"{format_duration(account.min_interval)}"
                        ),
                    )
    return out
