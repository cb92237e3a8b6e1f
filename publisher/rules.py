"""Repeat and evergreen posts turned into dated posts, each a delivery with its own identity.

The file is the plan, the database the record: a rule in the file becomes, at each sync, the
posts it stands for *now*, and the store diffs them like any other post.

- A repeat's occurrences are ``<id>@<local date>`` (``publisher.repeat``): those from ``now``
  to ``now + HORIZON`` (and the rule's ``until``/``count``; the next one always, even
  beyond: ``validate`` checks it, ``status`` shows it), plus the past ones still in play
  in the store (waiting, sending, in doubt), so that time passing cancels nothing that is
  about to go out. One that went out (published, failed, missed) leaves the plan and stays as
  recorded; one the edited rule no longer has is canceled like a removed post.
- An evergreen post goes out as ``<id>~<local date>T<HHMM>``: for each account, the next
  slot after ``now`` that nothing else of the plan takes and the account's caps allow
  (``max_per_day``, ``min_interval``), to the post least recently published there and not
  within the account's ``evergreen_gap``. Only that next one is planned: a post added later
  takes the slot back (the evergreen choice moves on), and the daemon plans again once it is
  due (``Expansion.replan_at``).

Pure: ``now`` and the store's entries (with their ``published_at``) are arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from publisher import lifecycle
from publisher.config import AccountConfig, Config
from publisher.queuefile import PostSpec, QueueFile
from publisher.repeat import EVERGREEN_MARK, HORIZON, occurrence_id, occurrences
from publisher.schedule import PlannedDelivery, next_slot_times, plan_deliveries
from publisher.states import CANCELED_BY_SYNC, DeliveryState
from publisher.store.plan import PlanEntry
from publisher.times import format_local

Key = tuple[str, str]  # (post id, account)

# States of a stored delivery still in play: it may yet go out, so the plan keeps it.
IN_PLAY = lifecycle.WAITING | lifecycle.SENDING | lifecycle.IN_DOUBT
# How far ahead an evergreen post looks for a free slot it may take.
LOOKAHEAD = timedelta(days=14)
# A plan with rules is made again at least this often: the repeat horizon moves on.
REPLAN_EVERY = timedelta(days=1)
# After an evergreen slot's time, how long before planning the next one (it is out by then,
# or still in play and counted as such).
REPLAN_AFTER = timedelta(minutes=1)


def has_rules(queue: QueueFile) -> bool:
    return any(p.repeat is not None or p.evergreen for p in queue.posts)


def evergreen_id(post_id: str, at: datetime, config: Config) -> str:
    """An evergreen delivery's post id: the post's, and the slot's local date and time."""
    return f"{post_id}{EVERGREEN_MARK}{at.astimezone(config.timezone):%Y-%m-%dT%H%M}"


def rule_of(post_id: str) -> str | None:
    """``evergreen`` or ``repeat`` for a generated post id (audit, status), else None."""
    if EVERGREEN_MARK in post_id:
        return "evergreen"
    if "@" in post_id:
        return "repeat"
    return None


@dataclass(frozen=True, slots=True)
class Choice:
    """An evergreen post given a slot, and why: what the log and ``status`` say."""

    account: str
    post_id: str  # the evergreen post, as written
    occurrence: str  # its delivery's post id
    at: datetime
    last: datetime | None  # when it last went out to ``account``

    def reason(self, config: Config) -> str:
        zone = config.timezone
        last = (
            f"least recently published ({format_local(self.last, zone)})"
            if self.last is not None
            else "never published there yet"
        )
        return (
            f"evergreen {self.post_id!r} → {self.account} at {format_local(self.at, zone)}: "
            f"the slot was free; this post was {last}"
        )


@dataclass
class Expansion:
    queue: QueueFile  # the rules replaced by their dated posts
    choices: list[Choice]  # evergreen posts given a slot at this sync, new ones
    replan_at: datetime | None  # when to plan again (None: the file has no rules)


def expand(
    queue: QueueFile,
    config: Config,
    now: datetime,
    index: Mapping[Key, PlanEntry],
    kept: Mapping[Key, datetime],
) -> Expansion:
    """``queue`` with each rule replaced by the dated posts it stands for at ``now``.

    ``index`` is every stored delivery, ``kept`` the slot times already given out (what
    ``plan_deliveries`` takes).
    """
    if not has_rules(queue):
        return Expansion(queue, [], None)
    in_play = {k[0] for k, e in index.items() if e.state in IN_PLAY}
    zone = config.timezone
    posts: list[PostSpec] = []
    evergreen: list[PostSpec] = []
    for post in queue.posts:
        if post.evergreen:
            evergreen.append(post)
        elif post.repeat is not None and post.at is not None:
            window = None if post.not_after is None else post.not_after - post.at
            ahead = False  # the next occurrence is planned even beyond the horizon
            for occ in occurrences(post.repeat, post.at, zone):
                oid = occurrence_id(post.id, occ.day)
                if occ.at < now:
                    if oid not in in_play:
                        continue  # gone out (or never planned in time): as recorded
                elif occ.at > now + HORIZON and ahead:
                    break
                else:
                    ahead = True
                not_after = None if window is None else occ.at + window
                posts.append(_dated(post, oid, occ.at, not_after, post.accounts))
        else:
            posts.append(post)
    replan = now + REPLAN_EVERY
    choices: list[Choice] = []
    if evergreen:
        base = QueueFile(queue.path, tuple(posts), queue.warnings)
        planned = plan_deliveries(base, config, now, kept, ordered=False)
        chosen: dict[str, tuple[PostSpec, datetime, list[str]]] = {}
        for name in sorted({a for p in evergreen for a in p.accounts}):
            account = config.accounts[name]
            mine = [p for p in evergreen if name in p.accounts]
            held, choice = _fill(account, mine, config, now, index, planned)
            for post, oid, at in held:
                chosen.setdefault(oid, (post, at, []))[2].append(name)
            if choice is not None:
                post = next(p for p in mine if p.id == choice.post_id)
                chosen.setdefault(choice.occurrence, (post, choice.at, []))[2].append(name)
                if (choice.occurrence, name) not in index:
                    choices.append(choice)
                replan = min(replan, choice.at + REPLAN_AFTER)
        for oid, (post, at, names) in chosen.items():
            accounts = tuple(a for a in post.accounts if a in names)
            posts.append(_dated(post, oid, at, post.not_after, accounts))
    return Expansion(QueueFile(queue.path, tuple(posts), queue.warnings), choices, replan)


def _dated(
    post: PostSpec,
    oid: str,
    at: datetime,
    not_after: datetime | None,
    accounts: tuple[str, ...],
) -> PostSpec:
    """The post as one dated delivery: its own id, its time, no rule."""
    return replace(
        post,
        id=oid,
        at=at,
        not_after=not_after,
        accounts=accounts,
        repeat=None,
        evergreen=False,
    )


def _fill(
    account: AccountConfig,
    posts: Sequence[PostSpec],
    config: Config,
    now: datetime,
    index: Mapping[Key, PlanEntry],
    planned: Sequence[PlannedDelivery],
) -> tuple[list[tuple[PostSpec, str, datetime]], Choice | None]:
    """The evergreen deliveries of ``account`` still in play, and the post for its next free
    slot (None when every post is within its gap or no slot is free in ``LOOKAHEAD``)."""
    name = account.name
    by_id = {p.id: p for p in posts}
    held: list[tuple[PostSpec, str, datetime]] = []
    last: dict[str, datetime] = {}
    # Each delivery of the account once, at its time: planned, or when it went out.
    busy: dict[Key, datetime] = {(p.post_id, name): p.due_at for p in planned if p.account == name}
    ahead = False  # an evergreen delivery of the account is already on its way
    dropped: set[datetime] = set()  # slots whose evergreen delivery a human canceled
    for (pid, acc), e in index.items():
        if acc != name:
            continue
        if e.state is DeliveryState.PUBLISHED or e.state is DeliveryState.DRY_RUN:
            busy[(pid, acc)] = e.published_at or e.scheduled_at
        base, mark, _ = pid.partition(EVERGREEN_MARK)
        if not mark or base not in by_id:
            continue
        if e.state is DeliveryState.CANCELED and e.reason != CANCELED_BY_SYNC:
            dropped.add(e.scheduled_at)  # `publisher resolve ID drop`: not that slot again
        when: datetime | None = None
        if e.state in (DeliveryState.PUBLISHED, DeliveryState.DRY_RUN):
            when = e.published_at or e.scheduled_at
        elif e.state in IN_PLAY and (e.scheduled_at <= now or e.state not in lifecycle.WAITING):
            when = e.scheduled_at  # kept as it is: it may be going out
            held.append((by_id[base], pid, e.scheduled_at))
            busy[(pid, acc)] = e.scheduled_at
            ahead = ahead or e.scheduled_at > now
        if when is not None and (base not in last or when > last[base]):
            last[base] = when
    if ahead or not account.slots:
        return held, None
    taken = {p.due_at for p in planned if p.account == name}
    zone = config.timezone
    for at in next_slot_times(account.slots, zone, now):
        if at > now + LOOKAHEAD:
            break
        if (
            at in taken
            or at in dropped
            or not _within_caps(account, at, list(busy.values()), config)
        ):
            continue
        ready = [
            p
            for p in posts
            if (p.id not in last or at - last[p.id] >= account.evergreen_gap)
            and (p.not_after is None or at <= p.not_after)  # its end, for an evergreen post
        ]
        if not ready:
            continue
        # Never published first (in file order), then the least recently published.
        order = {p.id: i for i, p in enumerate(posts)}
        best = min(ready, key=lambda p: (p.id in last, last.get(p.id, at), order[p.id]))
        oid = evergreen_id(best.id, at, config)
        return held, Choice(name, best.id, oid, at, last.get(best.id))
    return held, None


def _within_caps(
    account: AccountConfig, at: datetime, busy: Sequence[datetime], config: Config
) -> bool:
    """Whether one more delivery at ``at`` keeps the account within max_per_day (the zone's
    calendar day) and min_interval, counting what is planned, in play and published."""
    if account.min_interval is not None and any(abs(at - b) < account.min_interval for b in busy):
        return False
    if account.max_per_day is not None:
        zone = config.timezone
        day = at.astimezone(zone).date()
        if sum(1 for b in busy if b.astimezone(zone).date() == day) >= account.max_per_day:
            return False
    return True
