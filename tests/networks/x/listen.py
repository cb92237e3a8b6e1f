"""The X server's listening endpoints: what others post, as the mentions timeline and recent
search answer it.

* ``GET /2/users/{id}/mentions``: the posts that @-name the account (replies to its posts
  and quotes that name it among them), newest first, ``max_results`` a page (5 to 100, 10 if
  not given), ``since_id``/``until_id``, ``pagination_token`` (only one this server issued;
  it goes on below the last post of the page that issued it), the 800 newest at most.
* ``GET /2/tweets/search/recent``: the posts of the last 7 days matching ``query``, newest
  first, paged with ``next_token``. The query language is modelled as far as the adapter
  uses it: terms (words, ``#tags``, ``@names``, ``"phrases"``) joined with ``OR``, in
  parentheses, and ``-is:retweet``; any other operator is refused (400, "strict server").
* A post carries the fields asked in ``tweet.fields`` only (``id``, ``text`` and
  ``edit_history_tweet_ids`` always); ``expansions=author_id`` adds ``includes.users``.

The query parameters and the answers are checked against X's OpenAPI document by the server
itself (``XServer._check_query``, the response validator).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from publisher.adapters.listening import ItemKind

MENTIONS_CAP = 800
SEARCH_WINDOW = timedelta(days=7)
TOKEN_PREFIX = "b26v89c19zqg8o3fo"


class Refused(Exception):
    """A request the server refuses (400, the message in ``errors[].message``)."""


@dataclass
class Said:
    """A post by someone else."""

    id: str
    text: str
    author_id: str
    created_at: datetime
    names_us: bool  # it @-names the account: it is in the mentions timeline
    replied_to: str | None = None
    quoted: str | None = None
    in_reply_to_user_id: str | None = None

    def doc(self, fields: set[str]) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "text": self.text}
        doc["edit_history_tweet_ids"] = [self.id]
        refs = [
            {"type": kind, "id": ref}
            for kind, ref in (("replied_to", self.replied_to), ("quoted", self.quoted))
            if ref is not None
        ]
        values: dict[str, Any] = {
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "author_id": self.author_id,
            "conversation_id": self.replied_to or self.id,
            "referenced_tweets": refs or None,
            "in_reply_to_user_id": self.in_reply_to_user_id,
        }
        doc.update({k: v for k, v in values.items() if k in fields and v is not None})
        return doc


@dataclass
class Listen:
    """Everything others said; the server's ``hear`` adds to it."""

    me: str
    username: str
    said: list[Said] = field(default_factory=list)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # id: (username, name)
    tokens: set[str] = field(default_factory=set)
    _user_ids: Iterator[int] = field(default_factory=lambda: iter(range(3_100_000_001, 10**12)))

    def holds(self, post_id: str) -> bool:
        return any(s.id == post_id for s in self.said)

    def hear(
        self,
        kind: ItemKind,
        text: str,
        author: str,
        answers: str | None,
        new_id: Callable[[], str],
        now: datetime,
    ) -> Said:
        user = next((i for i, (u, _) in self.users.items() if u == author), None)
        if user is None:
            user = str(next(self._user_ids))
            self.users[user] = (author, author.capitalize())
        mention = f"@{self.username}"
        if kind is not ItemKind.FOUND and mention.casefold() not in text.casefold():
            text = f"{mention} {text}"
        # X gives texts back with &, < and > escaped
        said = Said(new_id(), html.escape(text, quote=False), user, now, kind is not ItemKind.FOUND)
        if kind is ItemKind.REPLY:
            if answers is None:
                raise ValueError("a reply answers one of our posts: give answers")
            said.replied_to, said.in_reply_to_user_id = answers, self.me
        elif kind is ItemKind.QUOTE:
            if answers is None:
                raise ValueError("a quote quotes one of our posts: give answers")
            said.quoted = answers
        elif kind not in (ItemKind.MENTION, ItemKind.FOUND):
            raise ValueError(f"X hears no {kind}")
        self.said.append(said)
        return said

    def url(self, said: Said) -> str:
        return f"https://x.com/{self.users[said.author_id][0]}/status/{said.id}"

    def mentions(self, query: dict[str, str], fields: set[str]) -> dict[str, Any]:
        newest = sorted((s for s in self.said if s.names_us), key=lambda s: int(s.id))
        listed = list(reversed(newest))[:MENTIONS_CAP]
        return self._page(listed, query, fields, "pagination_token", default=10)

    def search(self, query: dict[str, str], fields: set[str], now: datetime) -> dict[str, Any]:
        terms = parse_query(query["query"])
        recent = [s for s in self.said if s.created_at >= now - SEARCH_WINDOW]
        hits = [s for s in recent if any(matches(t, s.text) for t in terms)]
        listed = sorted(hits, key=lambda s: int(s.id), reverse=True)
        if "pagination_token" in query:
            raise Refused("strict server: recent search pages with next_token here")
        return self._page(listed, query, fields, "next_token", default=10)

    def _page(
        self,
        listed: list[Said],
        query: dict[str, str],
        fields: set[str],
        token_name: str,
        *,
        default: int,
    ) -> dict[str, Any]:
        if "since_id" in query:
            listed = [s for s in listed if int(s.id) > int(query["since_id"])]
        if "until_id" in query:
            listed = [s for s in listed if int(s.id) < int(query["until_id"])]
        token = query.get(token_name)
        if token is not None:
            if token not in self.tokens:
                raise Refused(f"strict server: {token_name} {token!r} is not one this server gave")
            below = int(token.removeprefix(TOKEN_PREFIX), 36)
            listed = [s for s in listed if int(s.id) < below]
        size = int(query.get("max_results", default))
        page = listed[:size]
        meta: dict[str, Any] = {"result_count": len(page)}
        doc: dict[str, Any] = {"meta": meta}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
            doc["data"] = [s.doc(fields) for s in page]
            if "author_id" in query.get("expansions", "").split(","):
                authors = dict.fromkeys(s.author_id for s in page)
                doc["includes"] = {
                    "users": [
                        {"id": a, "username": self.users[a][0], "name": self.users[a][1]}
                        for a in authors
                    ]
                }
        if len(listed) > size:
            next_token = TOKEN_PREFIX + _base36(int(page[-1].id))
            self.tokens.add(next_token)
            meta["next_token"] = next_token
        return doc


def parse_query(query: str) -> list[str]:
    """The terms of a query the adapter builds: ``(a OR b) -is:retweet`` or ``a -is:retweet``."""
    body = query.strip()
    if not body.endswith(" -is:retweet"):
        raise Refused(f"strict server: expected a query ending in -is:retweet, not {query!r}")
    body = body.removesuffix(" -is:retweet").strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    parts = [p.strip() for p in body.split(" OR ")]
    for part in parts:
        if not part or ":" in part or not re.fullmatch(r'"[^"]+"|[#@]?[^\s"()]+', part):
            raise Refused(f"strict server: the operator or term {part!r} is not modelled")
    return [p.strip('"') for p in parts]


def matches(term: str, text: str) -> bool:
    return term.casefold() in text.casefold()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
