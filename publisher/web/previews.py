"""A post's preview cards: one per account, rendered as ``dry-run`` renders it, with the
problems ``validate`` places in the queue file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from publisher.commands.checks import Checked, Placer, render_adapters, render_deliveries
from publisher.commands.dryrun import payload_text
from publisher.commands.plan import PlanView
from publisher.config import Config
from publisher.content import MediaItem, Rendered, RenderedPart
from publisher.diagnostics import Diagnostic
from publisher.rules import rule_of
from publisher.schedule import PlannedDelivery


@dataclass(frozen=True)
class Media:
    name: str  # as the editor wrote it (relative to the queue file)
    alt: str
    mime_type: str
    url: str


@dataclass(frozen=True)
class Part:
    label: str
    text: str
    length: int
    limit: int
    media: tuple[Media, ...]
    payload: str  # exactly dry-run's

    @property
    def over(self) -> bool:
        return self.limit > 0 and self.length > self.limit


@dataclass(frozen=True)
class LinkCard:
    url: str
    title: str
    description: str
    thumb: Media | None


@dataclass(frozen=True)
class Problem:
    where: str  # queue.yaml:LINE:COL (the file's name only)
    field: str
    message: str


@dataclass(frozen=True)
class Card:
    account: str
    network: str
    local: datetime
    timing: str
    limit: int
    parts: tuple[Part, ...]
    comment: Part | None
    link: LinkCard | None
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]


def placed(d: Diagnostic) -> Problem:
    """A problem at its place in a file named by its name alone (no server path)."""
    return Problem(f"{Path(d.file).name}:{d.line}:{d.column}", d.field, d.message)


def deliveries_of(view: PlanView, post_id: str) -> list[PlannedDelivery]:
    """The post's first delivery to each of its accounts (a repeat's occurrences render
    alike)."""
    first: dict[str, PlannedDelivery] = {}
    for p in sorted(view.planned, key=lambda p: p.due_at):
        if p.post_id == post_id:
            first.setdefault(p.account, p)
    return sorted(first.values(), key=lambda p: p.account)


def rendered(view: PlanView, config: Config, post_id: str) -> list[Checked]:
    return render_deliveries(
        deliveries_of(view, post_id), view.queue.posts, config, render_adapters(config)
    )


def cards(view: PlanView, config: Config, post_id: str) -> list[Card]:
    placer = Placer(str(view.queue.path), view.text, view.queue.posts)
    out = []
    for c in rendered(view, config, post_id):
        found = placer.findings(c)
        problems = [(f.is_error, placed(f.diagnostic)) for f in found]
        out.append(_card(c, config, post_id, problems))
    return out


def _card(
    c: Checked, config: Config, post_id: str, problems: Sequence[tuple[bool, Problem]]
) -> Card:
    r: Rendered = c.rendered
    p = c.planned
    posts = r.post_parts
    link = c.content.link
    thumb_part = next((part for part in r.parts if part.thumb is not None), None)
    return Card(
        account=p.account,
        network=r.network,
        local=p.due_at.astimezone(config.timezone),
        timing=rule_of(p.post_id) or ("slot" if p.from_slot else "fixed time"),
        limit=r.limit,
        parts=tuple(
            _part(part, r, post_id, p.account, f"part {i + 1} of {len(posts)}")
            if len(posts) > 1
            else _part(part, r, post_id, p.account, "post")
            for i, part in enumerate(posts)
        ),
        comment=None
        if r.comment is None
        else _part(r.comment, r, post_id, p.account, "first comment, once the post is out"),
        link=None
        if link is None
        else LinkCard(
            link.url,
            link.title,
            link.description,
            None
            if thumb_part is None or thumb_part.thumb is None
            else _media(thumb_part.thumb, post_id, p.account, thumb_part.index, "thumb"),
        ),
        errors=tuple(pr for is_error, pr in problems if is_error),
        warnings=tuple(pr for is_error, pr in problems if not is_error),
    )


def _part(part: RenderedPart, r: Rendered, post_id: str, account: str, label: str) -> Part:
    return Part(
        label=label,
        text=part.text,
        length=part.length,
        limit=part.limit or r.limit,
        media=tuple(
            _media(m, post_id, account, part.index, str(n)) for n, m in enumerate(part.media)
        ),
        payload=payload_text(part.payload),
    )


def _media(m: MediaItem, post_id: str, account: str, part: int, which: str) -> Media:
    from urllib.parse import urlencode

    query = urlencode({"post": post_id, "account": account, "part": part, "item": which})
    return Media(m.name, m.alt, m.mime_type, f"/media?{query}")


def find_media(checked: Sequence[Checked], account: str, part: int, which: str) -> MediaItem | None:
    """The media item a preview's URL names, looked up in the render (never a path)."""
    for c in checked:
        if c.planned.account != account:
            continue
        for rp in c.rendered.parts:
            if rp.index != part:
                continue
            if which == "thumb":
                return rp.thumb
            if which.isdigit() and int(which) < len(rp.media):
                return rp.media[int(which)]
    return None
