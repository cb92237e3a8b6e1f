"""Every pending delivery rendered as the daemon will render it, and each of its problems
placed at the field of queue.yaml that causes it. Shared by ``validate`` and ``dry-run``, so
they cannot disagree.

The adapters are built for rendering only: no HTTP session (a network call is impossible),
no secret revealed (render never reads one), nothing written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from publisher.adapters.base import (
    Adapter,
    AdapterContext,
    PostContent,
    Problem,
    Rendered,
    ReplyTarget,
    Subject,
)
from publisher.clock import SystemClock
from publisher.config import Config
from publisher.diagnostics import Diagnostic, Severity
from publisher.engine.runtime import LIVE, build_adapters
from publisher.queuefile import Path_, Positions, PostSpec
from publisher.schedule import PlannedDelivery


@dataclass(frozen=True)
class Finding:
    """A problem at its ``file:line:col`` and, for a delivery's, whose delivery it is."""

    diagnostic: Diagnostic
    post: str | None = None
    account: str | None = None
    network: str | None = None

    @property
    def is_error(self) -> bool:
        return self.diagnostic.severity is Severity.ERROR

    def __str__(self) -> str:
        text = str(self.diagnostic)
        return f"{text} ({self.account}, {self.network})" if self.account else text


@dataclass(frozen=True)
class Checked:
    """One delivery as its network would receive it."""

    planned: PlannedDelivery
    content: PostContent
    rendered: Rendered


def render_adapters(config: Config) -> dict[str, Adapter]:
    """Every account's adapter, for rendering only (no HTTP session, no credential read)."""
    return build_adapters(config, AdapterContext(session=None, clock=SystemClock()), LIVE)


@dataclass(frozen=True)
class Answers:
    """The inbox items the queue's ``reply_to:`` name, as the store has them. Without a
    store here (an editor's laptop), ``checked`` is False: each answer renders against a
    stand-in target (``<reply_to:REF>`` in the payload, as uploads show ``<media:N>``)."""

    targets: Mapping[str, ReplyTarget | None]
    checked: bool

    def resolve(self, content: PostContent) -> PostContent:
        target = content.reply_to
        if target is None:
            return content
        if not self.checked:
            stand_in = ReplyTarget(target.ref, content.network, f"<reply_to:{target.ref}>")
            return replace(content, reply_to=stand_in)
        found = self.targets.get(target.ref)
        return content if found is None else replace(content, reply_to=found)


NO_ANSWERS = Answers({}, checked=False)


async def inbox_answers(config: Config, posts: Sequence[PostSpec]) -> Answers:
    """Look up every ``reply_to:`` of ``posts`` in the inbox (read only)."""
    from publisher.commands.common import database_exists, open_store

    refs = sorted({p.reply_to for p in posts if p.reply_to})
    if not refs:
        return Answers({}, checked=True)
    if not database_exists(config):
        return NO_ANSWERS
    store = await open_store(config, readonly=True)
    try:
        targets: dict[str, ReplyTarget | None] = {}
        for ref in refs:
            item = await store.inbox_item(ref)
            targets[ref] = None if item is None else item.target(ref)
    finally:
        await store.close()
    return Answers(targets, checked=True)


def render_deliveries(
    deliveries: Iterable[PlannedDelivery],
    posts: Sequence[PostSpec],
    config: Config,
    adapters: Mapping[str, Adapter],
    answers: Answers = NO_ANSWERS,
) -> list[Checked]:
    """Each delivery rendered by its account's adapter, the daemon's own pure render."""
    by_id = {p.id: p for p in posts}
    out = []
    for p in deliveries:
        content = answers.resolve(by_id[p.post_id].content_for(config.accounts[p.account]))
        out.append(Checked(p, content, adapters[p.account].render(content)))
    return out


# Which key of a post (or of an override) holds each subject.
_KEYS: dict[Subject, str] = {
    Subject.TEXT: "text",
    Subject.PARTS: "parts",
    Subject.PART: "parts",
    Subject.MEDIA: "media",
    Subject.ALT: "media",
    Subject.LINK: "link",
    Subject.THUMB: "link",
    Subject.COMMENT: "first_comment",
    Subject.REPLY: "reply_to",
}


class Placer:
    """Places a delivery's render problems in the queue file: at the field that gave the
    content its value for that account, following ``PostSpec.content_for`` (the account's
    override, else its network's, else the post's own, else ``defaults:``)."""

    def __init__(self, filename: str, text: str | None, posts: Sequence[PostSpec]) -> None:
        self.filename = filename
        self.positions = Positions(text) if text is not None else None
        self.posts = {p.id: p for p in posts}

    def findings(self, checked: Checked) -> list[Finding]:
        r = checked.rendered
        pool = list(r.problems)  # two items may share a message: each is placed once

        def located(message: str) -> Problem:
            for i, p in enumerate(pool):
                if p.message == message:
                    return pool.pop(i)
            return Problem(message)  # added without its field: the post as a whole

        out = [self._finding(checked, located(m), Severity.ERROR) for m in r.errors]
        out += [self._finding(checked, located(m), Severity.WARNING) for m in r.warnings]
        return out

    def locate(self, post: PostSpec, key: str) -> tuple[int, int, str]:
        """Where ``post``'s own ``key`` is written: line, column and field."""
        index = self.positions.post_index(post) if self.positions is not None else None
        if self.positions is None or index is None:
            return post.line, post.column, ""
        path: Path_ = ("posts", index, key)
        line, column = self.positions.find(path)
        return line, column, Positions.field(path)

    def _finding(self, checked: Checked, problem: Problem, severity: Severity) -> Finding:
        p = checked.planned
        post = self.posts[p.post_id]
        line, column, field = post.line, post.column, ""
        index = self.positions.post_index(post) if self.positions is not None else None
        if self.positions is not None and index is not None:
            path = self._path(("posts", index), p.account, p.network, problem)
            line, column = self.positions.find(path)
            field = Positions.field(path)
        diagnostic = Diagnostic(self.filename, line, column, field, problem.message, severity)
        return Finding(diagnostic, p.post_id, p.account, p.network)

    def _path(self, post: Path_, account: str, network: str, problem: Problem) -> Path_:
        assert self.positions is not None
        written = self.positions.written
        layers: list[Path_] = [(*post, "overrides", account), (*post, "overrides", network), post]
        if problem.subject is Subject.OPTION:
            for layer in [*layers, ("defaults",)]:
                if written((*layer, "options", problem.key)):
                    return (*layer, "options", problem.key)
            return post
        key = _KEYS.get(problem.subject)
        if key is None:
            return post
        found = [layer for layer in layers if written((*layer, key))]
        if not found:
            return post
        layer = found[0]
        tail: Path_ = {
            Subject.PART: (problem.index,),
            Subject.MEDIA: (problem.index,),
            Subject.ALT: (problem.index, "alt"),
            Subject.THUMB: ("thumb",),
        }.get(problem.subject, ())
        path: Path_ = (*layer, key, *tail)
        while len(path) > len(layer) + 1 and not written(path):
            path = path[:-1]  # no alt text written: the media item that lacks it
        return path
