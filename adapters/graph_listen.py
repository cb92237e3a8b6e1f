"""Listening on the Graph networks (issue 20): Facebook, Instagram and Threads read what is
said to the account list by list, newest first: each recent post's comments (Facebook
``/{post-id}/comments``, Instagram ``/{ig-media-id}/comments``, Threads
``/{media-id}/conversation``) and, where the network has one, the account's mentions
(Threads ``/{user-id}/mentions``). None of them has one notifications stream.

**The sweep.** Each list (an ``Edge``) is read from its newest item down to the ``mark``, the
time of the newest item an earlier sweep read; then the mark moves up to the newest item of
this sweep. A sweep cut short by the page budget keeps where it was (the next page's query)
and goes on at the next read, so nothing between the mark and the newest item is skipped:
items that arrive meanwhile are above the sweep's top, and the next sweep reads them. Items
at the mark's second are read again (Graph times are to the second); the store keeps an item
once. The first read ever (cursor None) reads each list's newest page only and marks it; a
post first seen later (just published) is read down to its publication.

**The budget.** At most ``PAGES_PER_READ`` pages a read, over all lists: a round visits every
list once, over as many reads as it takes (``more`` until it is over), so many recent posts
cost several reads, never one long one.

The cursor is JSON of each list's mark (epoch seconds), the sweep under way and the lists
done this round; the engine keeps it opaque. Lists of posts no longer among ``own_posts``
are forgotten. A post Graph says it has not (deleted, or one of our answers, which is a
comment without that list: error 100/33 or 803) is marked gone and read no more, so that
it never stops the others being heard.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from publisher.adapters.base import (
    Heard,
    HeardPage,
    ItemKind,
    OwnPost,
    PostContent,
    Problem,
    Subject,
    TransientError,
)
from publisher.adapters.graph import GraphAdapter, graph_time, names_missing, next_params
from publisher.adapters.transport import Kind

PAGES_PER_READ = 6
# Our clock and Graph's disagree a little, and an item is listed a moment after its time.
MARK_SLACK = timedelta(minutes=10)
CURSOR_VERSION = 1
# The key under which an answer's payload names the object it is created on (a post or a
# comment), popped before the body is sent: Graph takes it in the path.
ANSWER_ON = "answer_on"


@dataclass(frozen=True)
class Edge:
    """One list read newest first: a post's comments or replies, or the mentions."""

    key: str  # its name in the cursor (the post's id, "mentions")
    path: str
    params: Mapping[str, str]
    kind: ItemKind  # what its items are
    answers: str = ""  # the remote id of our post its items answer; "" for mentions
    # Where a list first seen after the first read starts: the post's publication.
    start: datetime | None = None


@dataclass
class _Sweep:
    """One list's place in the cursor."""

    mark: int | None = None  # epoch seconds; None: never read (the newest page only)
    top: int | None = None  # the newest item of the sweep under way
    after: dict[str, str] | None = None  # the next page of the sweep under way
    gone: bool = False  # Graph no longer has the post (deleted), or it has no such list

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mark": self.mark}
        if self.after is not None:
            out.update(top=self.top, after=self.after)
        if self.gone:
            out["gone"] = True
        return out

    @staticmethod
    def load(raw: Any) -> _Sweep:
        if not isinstance(raw, dict):
            return _Sweep()
        mark, top, after = raw.get("mark"), raw.get("top"), raw.get("after")
        query: dict[str, str] | None = None
        if isinstance(after, dict):
            query = {k: v for k, v in after.items() if isinstance(k, str) and isinstance(v, str)}
        return _Sweep(
            mark if isinstance(mark, int) else None,
            top if isinstance(top, int) else None,
            query,
            raw.get("gone") is True,
        )


@dataclass
class _State:
    sweeps: dict[str, _Sweep] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)  # lists visited this round

    def dump(self) -> str:
        doc = {
            "v": CURSOR_VERSION,
            "lists": {k: s.dump() for k, s in self.sweeps.items()},
            "done": self.done,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @staticmethod
    def load(cursor: str) -> _State:
        """A cursor this module wrote; any other (an older version, damage) starts over as
        if every list were new: a post's read down to its publication, the mentions' newest
        page (the store keeps an item once, so nothing is doubled)."""
        try:
            doc = json.loads(cursor)
        except ValueError:
            return _State()
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION:
            return _State()
        lists = doc.get("lists")
        done = doc.get("done")
        return _State(
            {k: _Sweep.load(v) for k, v in lists.items()} if isinstance(lists, dict) else {},
            [d for d in done if isinstance(d, str)] if isinstance(done, list) else [],
        )


class GraphListening(GraphAdapter):
    """``read_inbox`` for a Graph network: the sweep (see the module's docstring) over the
    lists ``listen_edges`` names, each item mapped by ``heard``."""

    @abstractmethod
    def listen_edges(self, own_posts: Sequence[OwnPost]) -> list[Edge]:
        """The lists to read, in order."""

    @abstractmethod
    async def heard(self, item: Mapping[str, Any], edge: Edge) -> list[Heard]:
        """What one item of ``edge`` is (Instagram's comment brings its replies); nothing
        for the account's own."""

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        first = cursor is None
        state = _State() if cursor is None else _State.load(cursor)
        edges = self.listen_edges(own_posts)
        keys = {e.key for e in edges}
        state.sweeps = {k: s for k, s in state.sweeps.items() if k in keys}
        state.done = [d for d in state.done if d in keys]
        now = int(self.context.clock.now().timestamp())
        for edge in edges:
            if edge.key not in state.sweeps:
                start = None if first or edge.start is None else edge.start - MARK_SLACK
                state.sweeps[edge.key] = _Sweep(int(start.timestamp()) if start else None)
        items: list[Heard] = []
        budget = PAGES_PER_READ
        for edge in edges:
            if budget == 0:
                break
            if edge.key in state.done:
                continue
            sweep = state.sweeps[edge.key]
            if not sweep.gone:
                budget -= await self._sweep(edge, sweep, budget, now, items)
            if sweep.after is None:
                state.done.append(edge.key)
        more = len(state.done) < len(edges)
        if not more:
            state.done = []
        return HeardPage(tuple(items), state.dump(), more)

    async def _sweep(
        self, edge: Edge, sweep: _Sweep, budget: int, now: int, out: list[Heard]
    ) -> int:
        """Read ``edge`` down to its mark within ``budget`` pages; the pages read."""
        params = {**edge.params, **(sweep.after or {})}
        fresh = sweep.mark is None
        what = f"inbox: {edge.key}"
        for used in range(1, budget + 1):
            answer = await self.graph_call("GET", edge.path, Kind.READ, what, params=params)
            if edge.answers and names_missing(answer):
                # The post was deleted, or is not one with this list (an answer of ours,
                # which is a comment): one gone post must not stop the others being heard.
                sweep.gone, sweep.after, sweep.top = True, None, None
                return used
            doc = self.graph_object(answer, Kind.READ, what)
            data = doc.get("data")
            if not isinstance(data, list):
                raise TransientError(f"inbox: {edge.key}: Graph answered without a data list")
            reached = False
            for raw in data:
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    continue
                when = item_time(raw)
                stamp = int(when.timestamp()) if when is not None else None
                if stamp is not None:
                    sweep.top = stamp if sweep.top is None else max(sweep.top, stamp)
                    reached = reached or (sweep.mark is not None and stamp < sweep.mark)
                # An item below the mark may bring newer ones with it (Instagram's replies
                # listed with their comment): only those newer than the mark are new.
                out.extend(
                    h
                    for h in await self.heard(raw, edge)
                    if sweep.mark is None or h.created_at.timestamp() >= sweep.mark
                )
            following = next_params(doc.get("paging"))
            if fresh or reached or following is None:
                ends = [m for m in (sweep.mark, sweep.top) if m is not None]
                # A list read empty for the first time is marked now (less the slack).
                sweep.mark = max(ends) if ends else now - int(MARK_SLACK.total_seconds())
                sweep.top = sweep.after = None
                return used
            sweep.after = following
            params = {**edge.params, **following}
        return budget


def item_time(item: Mapping[str, Any]) -> datetime | None:
    """An item's time: Facebook's ``created_time``, Instagram's and Threads' ``timestamp``."""
    return graph_time(item.get("created_time") or item.get("timestamp"))


def answer_on(refs: Mapping[str, str], remote_id: str) -> str:
    """The object an answer to an item is created on: what its ``Heard.reply`` named (a
    reply's top comment, where the network nests one level only), else the item."""
    return refs.get(ANSWER_ON) or remote_id


def answer_problems(content: PostContent, network: str) -> list[Problem]:
    """Where an answer is a comment (Facebook, Instagram): text alone, and no comment of
    its own."""
    out: list[Problem] = []
    if content.media:
        message = f"an answer on {network} is a comment: text only, without media"
        out.append(Problem(message, Subject.MEDIA))
    if content.first_comment:
        message = f"an answer on {network} is a comment: it takes no first_comment"
        out.append(Problem(message, Subject.COMMENT))
    return out
