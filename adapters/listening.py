"""What people say to an account and about it, as a network reports it: the listening
capability (issue 20).

A network that can read its mentions, replies and comments declares ``Adapter.listening``
(a ``Listening``: which kinds of item, whether it can search for a watch's terms, whether an
item can be answered, whether it reads comments post by post) and implements
``Adapter.read_inbox`` (and ``Adapter.search`` where it searches). The engine decides when
to read and stores what is heard (``publisher.engine.listen``); the adapter only reads,
through the same HTTP boundary and the same error classes as publishing (a read creates
nothing: never ``AmbiguousError``).

Reads resume from a cursor the adapter chose and the engine keeps, saved in the same
transaction as the items it led to: a crash re-reads at most one page, and the store keeps
an item once (unique per network and remote id), so overlapping pages store nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ItemKind(StrEnum):
    MENTION = "mention"  # names the account
    REPLY = "reply"  # answers one of our posts
    COMMENT = "comment"  # a comment on one of our posts (Facebook, Instagram, LinkedIn)
    QUOTE = "quote"  # quotes one of our posts
    FOUND = "found"  # matched a watch's terms in a search; not addressed to us


@dataclass(frozen=True)
class Listening:
    """A network's listening, as data."""

    kinds: tuple[ItemKind, ...]  # what ``read_inbox`` reports
    on_by_default: bool = True  # X: False, its reads are paid
    search: bool = False  # can ``search`` public posts for a watch's terms
    reply: bool = True  # can an item be answered by a post with ``reply_to:``
    # Reads comments post by post (Graph networks, LinkedIn): ``read_inbox`` is given our
    # recent posts; otherwise it reads one notifications stream and ignores them.
    per_post: bool = False
    # What it cannot hear, said plainly (shown by ``accounts check`` and ``publisher inbox``).
    limits: str = ""


@dataclass(frozen=True)
class OwnPost:
    """One of our published posts whose comments a per-post network reads."""

    remote_id: str  # the delivery's first part
    published_at: datetime


@dataclass(frozen=True)
class Heard:
    """One item as the network gave it."""

    remote_id: str  # unique on its network
    kind: ItemKind
    author: str  # the author's handle as the network shows it (@name, name@domain, ...)
    text: str  # plain text (HTML removed)
    url: str  # where a person reads it; "" when the network gives none
    created_at: datetime  # aware
    answers: str = ""  # the remote id of our post it replies to, comments on or quotes
    # What an answer to it needs beyond ``remote_id`` (``ReplyTarget.refs``).
    reply: Mapping[str, str] = field(default_factory=dict)
    author_name: str = ""  # the display name, when there is one


@dataclass(frozen=True)
class HeardPage:
    """What one read gave, and where the next one resumes."""

    items: tuple[Heard, ...]
    cursor: str | None  # kept with the items; handed back at the next read (None: start over)
    more: bool = False  # more is waiting now: read again soon, not at the next interval
