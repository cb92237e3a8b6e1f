"""Every pending delivery rendered as the daemon will render it, and each of its problems
placed at the field of queue.yaml that causes it. Shared by ``validate`` and ``dry-run``, so
they cannot disagree.

The adapters are built for rendering only: no HTTP session (a network call is impossible),
no secret revealed (render never reads one), nothing written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from publisher.adapters.base import (
    Adapter,
    AdapterContext,
    PostContent,
    Problem,
    Rendered,
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


def render_deliveries(
    deliveries: Iterable[PlannedDelivery],
    posts: Sequence[PostSpec],
    config: Config,
    adapters: Mapping[str, Adapter],
) -> list[Checked]:
    """Each delivery rendered by its account's adapter, the daemon's own pure render."""
    by_id = {p.id: p for p in posts}
    out = []
    for p in deliveries:
        content = by_id[p.post_id].content_for(config.accounts[p.account])
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
