"""What a post is, as every layer sees it: its content, its rendered parts, what came back.

These are plain values shared by the queue parser, the store, the engine and the adapters.
This module imports nothing from the project, so any layer may use them without pulling in
another (``pyproject.toml``'s import contracts hold it to that); ``publisher.adapters.base``
hands them on for adapters written against it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Where a media file is: ``rel`` beneath the root directory ``root``.

    ``name`` is how the editor wrote it (relative to the queue file): the only name shown in
    messages. ``root`` is None for a delivery stored before media roots existed: ``rel`` is
    then the absolute path it was stored with, placed under the current roots at send time.
    Opening one is ``publisher.media``'s work.
    """

    root: Path | None
    rel: str
    name: str

    @classmethod
    def beside(cls, path: Path) -> MediaRef:
        """A file whose own directory is its root (a tool or a test handing one file)."""
        return cls(path.parent, path.name, path.name)

    @property
    def path(self) -> Path:
        """The lexical absolute path: an identity (content hashes), never something opened."""
        return Path(self.rel) if self.root is None else self.root / self.rel

    @property
    def filename(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class MediaItem:
    """A media file as the sync checked it: where it is, and its type and size then.

    Adapters never open it by a path: ``Adapter.read_media`` gives the bytes to upload.
    """

    file: MediaRef
    alt: str
    mime_type: str  # "" for a thumb stored before types were recorded: any image will do
    size: int

    @property
    def name(self) -> str:
        """The path as the editor wrote it: the name used in every message."""
        return self.file.name

    @property
    def filename(self) -> str:
        return self.file.filename

    @property
    def kind(self) -> Literal["image", "video", "gif"]:
        if self.mime_type == "image/gif":
            return "gif"
        return "video" if self.mime_type.startswith("video/") else "image"


@dataclass(frozen=True)
class LinkCard:
    """An editor-written link preview; no page is fetched."""

    url: str
    title: str = ""
    description: str = ""
    thumb: MediaItem | None = None


class ThreadMode(StrEnum):
    AUTO = "auto"  # split text too long for a network into a thread where it can
    NUMBERED = "numbered"  # like auto, with " (1/3)" appended to every part
    OFF = "off"  # too long is an error


@dataclass(frozen=True)
class ReplyTarget:
    """What a post answers (``reply_to:``, issue 20): an item of the inbox.

    ``ref`` is what the editor wrote (an inbox id or the item's URL). Sync resolves it
    against the inbox: ``network`` and ``remote_id`` are then the item's, and ``refs`` holds
    what that network needs beyond the id to answer it (Bluesky: the parent's and the
    thread root's ``uri`` and ``cid``; LinkedIn: the post's URN a comment is made on). An
    unresolved target (``remote_id == ""``) is an error at render: nothing is sent.
    """

    ref: str
    network: str = ""
    remote_id: str = ""
    refs: Mapping[str, str] = field(default_factory=dict)
    item: int | None = None  # the inbox id, once resolved

    @property
    def resolved(self) -> bool:
        return bool(self.remote_id)


@dataclass(frozen=True)
class PostContent:
    """One post as one account will publish it: overrides already applied."""

    post_id: str
    account: str
    network: str
    text: str
    media: tuple[MediaItem, ...] = ()
    thread: ThreadMode = ThreadMode.AUTO
    extra_parts: tuple[str, ...] = ()  # thread parts written by the editor, after `text`
    link: LinkCard | None = None
    language: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # network-specific knobs
    # Published as a comment on the post once the post is out (``first_comment:``); "": none.
    first_comment: str = ""
    # An answer to an item of the inbox (``reply_to:``): the first part replies to it.
    reply_to: ReplyTarget | None = None


class Role(StrEnum):
    """What a rendered part is: a part of the post itself, or the comment published on it
    once the post is out (always last, one at most)."""

    POST = "post"
    COMMENT = "comment"


@dataclass(frozen=True)
class RenderedPart:
    index: int
    text: str
    media: tuple[MediaItem, ...]
    length: int  # counted by the network's rule
    payload: Mapping[str, Any]  # the exact body the network receives; uploads as "<media:N>"
    thumb: MediaItem | None = None  # the link card's thumb, when this part may show the card
    role: Role = Role.POST
    limit: int = 0  # the part's own length limit where it is not the post's (a comment's)


class Subject(StrEnum):
    """The field of a post a render problem is about, so ``validate`` can point at it."""

    POST = "post"  # the post as a whole: nothing more precise to point at
    TEXT = "text"
    PARTS = "parts"  # the list of the editor's thread parts
    PART = "part"  # the editor's thread part ``index`` (0: the first after the text)
    MEDIA = "media"  # the media item ``index``
    ALT = "alt"  # the alt text of media item ``index``
    LINK = "link"
    THUMB = "thumb"  # the link card's thumb
    OPTION = "option"  # the option ``key``
    COMMENT = "comment"  # the post's first comment
    REPLY = "reply_to"  # the inbox item the post answers


@dataclass(frozen=True)
class Problem:
    """A render error or warning with the field it is about. ``Rendered.errors`` and
    ``.warnings`` keep the messages (what the daemon and ``dry-run`` show);
    ``Rendered.problems`` says where each one is."""

    message: str
    subject: Subject = Subject.POST
    index: int = 0
    key: str = ""


@dataclass(frozen=True)
class Rendered:
    network: str
    account: str
    limit: int
    parts: tuple[RenderedPart, ...]
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # non-empty: this post cannot be published as written
    problems: tuple[Problem, ...] = ()  # where each error and warning is, by message

    @property
    def post_parts(self) -> tuple[RenderedPart, ...]:
        """The parts of the post itself, without its first comment."""
        return tuple(p for p in self.parts if p.role is Role.POST)

    @property
    def comment(self) -> RenderedPart | None:
        """The first comment, published on the post once it is out; None: there is none."""
        return next((p for p in self.parts if p.role is Role.COMMENT), None)

    def with_problems(
        self, errors: Iterable[Problem] = (), warnings: Iterable[Problem] = ()
    ) -> Rendered:
        """This render with more errors and warnings, each with the field it is about."""
        more_errors, more_warnings = tuple(errors), tuple(warnings)
        if not more_errors and not more_warnings:
            return self
        return replace(
            self,
            errors=(*self.errors, *(p.message for p in more_errors)),
            warnings=(*self.warnings, *(p.message for p in more_warnings)),
            problems=(*self.problems, *more_errors, *more_warnings),
        )


@dataclass(frozen=True)
class DeliveryRef:
    """Identity of one delivery, stable across retries and restarts."""

    delivery_id: int
    post_id: str
    account: str
    scheduled_at: datetime
    # What an ambiguous answer named as maybe ours (LinkedIn's DUPLICATE_POST URN): a lookup
    # may check it first.
    remote_hint: str | None = None

    @property
    def idempotency_key(self) -> str:
        digest = hashlib.sha256(f"{self.post_id}\x00{self.account}".encode()).hexdigest()
        return f"publisher-{digest[:32]}"

    def part_key(self, index: int) -> str:
        return self.idempotency_key if index == 0 else f"{self.idempotency_key}-{index}"


@dataclass(frozen=True)
class RemotePart:
    index: int
    remote_id: str
    url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. a Bluesky record's cid


@dataclass(frozen=True)
class Published:
    parts: tuple[RemotePart, ...]

    @property
    def remote_id(self) -> str:
        return self.parts[0].remote_id

    @property
    def url(self) -> str | None:
        return self.parts[0].url
