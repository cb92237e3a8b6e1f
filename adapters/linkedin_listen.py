"""LinkedIn's listening (issue 20): the comments people leave on our posts, and the comment an
answer becomes. The reads themselves are ``LinkedInAdapter.read_inbox``'s (its requests);
what to ask, what the answers mean and where the next read resumes are here, pure.

Why it looks the way it does:

* LinkedIn gives an app no notifications stream: comments are read post by post, on our
  recent posts (``per_post``), through the Community Management API's ``GET /rest/
  socialActions/{post}/comments`` (``start``/``count`` paging, ``paging.total``). The API
  documents no order for the comments, so every page of a post is read, and what is new is
  told by ``created.time``: the cursor keeps, per post, the newest time seen and the comments
  of that millisecond, and a comment created after it, or then but not among those, is new.
* A call reads at most ``CALL_PAGES`` pages. The posts it did not reach, or one it stopped
  in the middle of, are read at the next call (``more``): the cursor names the posts done in
  this round and where an unfinished one resumes. A post is read to ``POST_PAGES`` pages at
  most (5,000 comments).
* The first round ever (no cursor yet) reports, of each post, its ``COUNT`` newest comments
  only, never its history; it still reads every page, the order being unknown.
* Only comments on the post itself are heard: comments on a comment (a thread's replies) are
  another read per comment, and the account's own comments are left out. Authors are
  member or organization URNs: their names need a profile permission apps seldom have.
* An answer is a comment on the comment heard (``POST /rest/socialActions/{comment}/
  comments``, ``parentComment`` naming it, ``object`` the post): plain text, no images.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from publisher.adapters.base import (
    Heard,
    HeardPage,
    ItemKind,
    Listening,
    OwnPost,
    PermanentError,
    ReplyTarget,
    TransientError,
)

COUNT = 100  # comments a page: the most LinkedIn's collections take
CALL_PAGES = 20  # pages one call reads, over all posts
POST_PAGES = 50  # pages of one post read at most
OBJECT_REF = "object"  # the post an answer comments on (``ReplyTarget.refs``)

LISTENING = Listening(
    kinds=(ItemKind.COMMENT,),
    per_post=True,
    limits=(
        "comments on the account's own recent posts only (LinkedIn gives apps no mentions "
        "feed); not the replies inside a comment's thread; authors shown as URNs; an answer "
        "is a plain-text comment of at most 1,250 characters, without images"
    ),
)

# (post URN, start, count) -> the page's JSON, or None when the post is gone (404/410).
FetchPage = Callable[[str, int, int], Awaitable[Any]]


def comment_url(post: str, comment: str) -> str:
    """Where a person reads a comment: the post's page, scrolled to it."""
    return f"https://www.linkedin.com/feed/update/{post}/?commentUrn={quote(comment, safe='')}"


@dataclass
class Cursor:
    """Where reading resumes: per post, the newest comment time seen (ms); the posts done in
    the current round; the page a post read in part resumes at."""

    seen: dict[str, int] = field(default_factory=dict)
    edge: dict[str, list[str]] = field(default_factory=dict)  # post: the comments at ``seen``
    done: list[str] = field(default_factory=list)
    at: dict[str, int] = field(default_factory=dict)  # post: next start
    top: dict[str, int] = field(default_factory=dict)  # post: newest time in this round
    top_edge: dict[str, list[str]] = field(default_factory=dict)  # the comments at ``top``
    first: bool = True  # the first round ever: each post's newest comments only

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """The cursor ``dump`` wrote (None: the first read ever). Anything else is not one of
        ours: an error, not a silent start over."""
        if text is None:
            return cls()
        try:
            doc = json.loads(text)
            return cls(
                seen={str(k): int(v) for k, v in doc.get("seen", {}).items()},
                edge={str(k): [str(u) for u in v] for k, v in doc.get("edge", {}).items()},
                done=[str(u) for u in doc.get("done", [])],
                at={str(k): int(v) for k, v in doc.get("at", {}).items()},
                top={str(k): int(v) for k, v in doc.get("top", {}).items()},
                top_edge={str(k): [str(u) for u in v] for k, v in doc.get("top_edge", {}).items()},
                first=doc.get("first") is True,
            )
        except (ValueError, TypeError, AttributeError) as err:
            raise PermanentError(f"the LinkedIn listening cursor is unreadable: {err}") from None

    def note(self, post: str, ms: int, comment: str) -> None:
        """A comment of ``post`` created at ``ms``, read in this round."""
        top = self.top.get(post, -1)
        if ms > top:
            self.top[post], self.top_edge[post] = ms, [comment]
        elif ms == top and comment not in self.top_edge[post]:
            self.top_edge[post].append(comment)

    def finish(self, post: str) -> None:
        """Every page of ``post`` was read: what it had is seen."""
        self.done.append(post)
        top, edge = self.top.pop(post, None), self.top_edge.pop(post, [])
        if top is None or top < self.seen.get(post, -1):
            return
        if top == self.seen.get(post):
            edge = sorted({*edge, *self.edge.get(post, ())})
        self.seen[post], self.edge[post] = top, edge

    def dump(self, posts: Sequence[str]) -> str:
        """As text, for the posts still read (a post no longer given is forgotten)."""
        keep = set(posts)
        doc = {
            "seen": {k: v for k, v in self.seen.items() if k in keep},
            "edge": {k: v for k, v in self.edge.items() if k in keep},
            "done": [u for u in self.done if u in keep],
            "at": {k: v for k, v in self.at.items() if k in keep},
            "top": {k: v for k, v in self.top.items() if k in keep},
            "top_edge": {k: v for k, v in self.top_edge.items() if k in keep},
            "first": self.first,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))


async def read_comments(
    fetch: FetchPage, cursor: str | None, own_posts: Sequence[OwnPost], author: str
) -> HeardPage:
    """One call's reading of the comments on ``own_posts`` (newest posts first)."""
    state = Cursor.parse(cursor)
    posts = [p.remote_id for p in sorted(own_posts, key=lambda p: p.published_at, reverse=True)]
    todo = [urn for urn in dict.fromkeys(posts) if urn not in state.done]
    items: list[Heard] = []
    budget = CALL_PAGES
    for urn in todo:
        if budget == 0:
            break
        since, edge = state.seen.get(urn), set(state.edge.get(urn, ()))
        start = state.at.pop(urn, 0)
        found: list[Heard] = []
        while budget:
            budget -= 1
            doc = await fetch(urn, start, COUNT)
            elements = [] if doc is None else _elements(doc, urn)
            for element in elements:
                heard = heard_of(element, urn, author)
                if heard is None:
                    continue
                ms = int(heard.created_at.timestamp() * 1000)
                state.note(urn, ms, heard.remote_id)
                if since is None or ms > since or (ms == since and heard.remote_id not in edge):
                    found.append(heard)
            start += COUNT
            if len(elements) < COUNT or start >= POST_PAGES * COUNT:
                state.finish(urn)
                break
        else:
            state.at[urn] = start
        if state.first:  # not the history: the newest of what this call read of the post
            found = sorted(found, key=lambda h: h.created_at, reverse=True)[:COUNT]
        items += found
    more = any(urn not in state.done for urn in todo)
    if not more:
        state.done, state.first = [], False
    return HeardPage(tuple(items), state.dump(posts), more=more)


def _elements(doc: Any, urn: str) -> list[dict[str, Any]]:
    elements = doc.get("elements") if isinstance(doc, dict) else None
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        raise TransientError(
            f"reading the comments on {urn}: LinkedIn answered without an elements list"
        )
    return elements


def heard_of(element: Mapping[str, Any], post: str, author: str) -> Heard | None:
    """A comment as heard; None for the account's own. A comment without its URN or its
    creation time is a garbled answer: an error, so that nothing is dropped unseen."""
    urn = element.get("commentUrn") or element.get("$URN")
    created = element.get("created")
    ms = created.get("time") if isinstance(created, dict) else None
    if not isinstance(urn, str) or not isinstance(ms, int) or isinstance(ms, bool):
        raise TransientError(
            f"reading the comments on {post}: a comment without its URN or created.time"
        )
    actor = element.get("actor")
    if actor == author:
        return None
    message = element.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    return Heard(
        remote_id=urn,
        kind=ItemKind.COMMENT,
        author=actor if isinstance(actor, str) else "",
        text=text if isinstance(text, str) else "",
        url=comment_url(post, urn),
        created_at=datetime.fromtimestamp(ms / 1000, UTC),
        answers=post,
        reply={OBJECT_REF: post},
    )


def reply_body(author: str, target: ReplyTarget, text: str) -> dict[str, Any]:
    """The Comments API's body of an answer: a comment on the comment heard."""
    return {
        "actor": author,
        "object": target.refs.get(OBJECT_REF, ""),
        "message": {"text": text},
        "parentComment": target.remote_id,
    }
