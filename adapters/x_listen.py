"""X's listening (issue 20): the account's mentions, replies to its posts among them, and
recent posts matching a watch's terms. The reads are ``XAdapter``'s (tweepy's calls through
its ``send``); what to ask, what the answers mean and where the next read resumes are here.

Why it looks the way it does:

* ``GET /2/users/:id/mentions`` (the mentions timeline: posts that @-name the account, the
  replies to its posts among them) pages newest first with ``pagination_token`` and resumes
  after ``since_id``; X serves the 800 most recent mentions at most. A reply to one of our
  posts is told by ``in_reply_to_user_id`` (ours) and its ``referenced_tweets`` ``replied_to``;
  a quote by its ``quoted`` reference to one of the posts the engine names (a quote that does
  not @-name the account is not in this timeline). ``expansions=author_id`` gives the authors'
  handles in ``includes.users``.
* The cursor is the newest id read (``since``). A read goes back through at most
  ``CALL_PAGES`` pages; when more wait, the cursor also keeps the page token and the newest id
  of this round, and the next call goes on from the token, still after the old ``since``:
  nothing between them is skipped (a token X refuses, lapsed, starts the round over). The
  first read ever takes the newest page only.
* X bills every post read (pay-per-use), as it does engagement reads: listening is off for X
  unless the account asks. Recent search (``GET /2/tweets/search/recent``, the last 7 days)
  is offered for watches on the same terms, since it bills the same way: it only runs for an
  account that turned listening on. Its query is the terms joined with ``OR``, retweets left
  out, at most 512 characters (X's limit on the smallest paid access).
* An answer is a post replying to the item: ``reply.in_reply_to_tweet_id``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from publisher.adapters.base import (
    Heard,
    HeardPage,
    ItemKind,
    Listening,
    PermanentError,
    TransientError,
)

PAGE = 100  # max_results: X's most, for mentions and search alike
CALL_PAGES = 3  # pages one call reads at most
QUERY_MAX = 512  # characters of a search query X takes on its smallest paid access
TWEET_FIELDS = [
    "created_at",
    "author_id",
    "conversation_id",
    "referenced_tweets",
    "in_reply_to_user_id",
]
EXPANSIONS = ["author_id"]
POST_URL = "https://x.com/{username}/status/{id}"
ANY_URL = "https://x.com/i/web/status/{id}"
_ID = re.compile(r"[0-9]{1,19}")

LISTENING = Listening(
    kinds=(ItemKind.MENTION, ItemKind.REPLY, ItemKind.QUOTE),
    on_by_default=False,
    search=True,
    limits=(
        "X bills every post read (pay-per-use API): listening is off for X unless the account "
        "turns it on; mentions, and the replies and quotes that @-name the account, from the "
        "800 most recent mentions; watches search the last 7 days of posts"
    ),
)

# tweepy's call for one page, given its keyword arguments -> the JSON answer
FetchPage = Callable[[dict[str, Any]], Awaitable[Any]]
# one post of a page, and the users of its ``includes``, as heard
Hear = Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]]], Heard]


@dataclass(frozen=True)
class Cursor:
    since: str | None = None  # the newest id read before this round
    top: str | None = None  # the newest id of the round under way
    token: str | None = None  # where the round goes on
    query: str | None = None  # the search query it belongs to

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        if text is None:
            return None
        try:
            doc = json.loads(text)
            cursor = cls(**{k: doc.get(k) for k in ("since", "top", "token", "query")})
        except (ValueError, TypeError, AttributeError) as err:
            raise PermanentError(f"the X listening cursor is unreadable: {err}") from None
        for value in (cursor.since, cursor.top, cursor.token, cursor.query):
            if value is not None and not isinstance(value, str):
                raise PermanentError(f"the X listening cursor is unreadable: {text[:80]!r}")
        return cursor

    def dump(self) -> str:
        doc = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))


async def read_pages(
    fetch: FetchPage, cursor: str | None, hear: Hear, *, token_name: str, query: str | None = None
) -> HeardPage:
    """One call's reading of a newest-first timeline (mentions, or a search's results)."""
    state = Cursor.parse(cursor)
    if state is not None and state.query != query:
        state = None  # the watch's terms changed: a new search, from its newest page
    base: dict[str, Any] = {
        "max_results": PAGE,
        "tweet_fields": TWEET_FIELDS,
        "expansions": EXPANSIONS,
    }
    if state is None:
        items, meta = _page(await fetch(base), hear)
        newest = _newest(meta, items)
        return HeardPage(items, Cursor(since=newest, query=query).dump())
    found: list[Heard] = []
    top, token = state.top, state.token
    for _ in range(CALL_PAGES):
        params = dict(base)
        if state.since is not None:
            params["since_id"] = state.since
        if token is not None:
            params[token_name] = token
        try:
            doc = await fetch(params)
        except PermanentError as err:
            if token is None or err.status != 400:
                raise
            # X no longer takes the token (it lapsed): the round starts over from its newest
            # page, still after ``since``: pages read again, nothing skipped
            token, top = None, None
            continue
        items, meta = _page(doc, hear)
        found += items
        if token is None:  # a round's first page holds its newest post
            top = _newest(meta, items) or top
        token = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
        if token is None:
            return HeardPage(tuple(found), Cursor(since=top or state.since, query=query).dump())
    more = Cursor(since=state.since, top=top, token=token, query=query)
    return HeardPage(tuple(found), more.dump(), more=True)


def _page(doc: Any, hear: Hear) -> tuple[tuple[Heard, ...], Mapping[str, Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("meta"), dict):
        # X answers every page with its meta (result_count), an empty one too
        raise TransientError("X answered a page without its meta object")
    data = doc.get("data", [])
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise TransientError("X answered a page whose data is not a list of posts")
    includes = doc.get("includes")
    listed = includes.get("users") if isinstance(includes, dict) else None
    users = {
        u["id"]: u
        for u in (listed if isinstance(listed, list) else [])
        if isinstance(u, dict) and isinstance(u.get("id"), str)
    }
    return tuple(hear(t, users) for t in data), doc["meta"]


def _newest(meta: Mapping[str, Any], items: Sequence[Heard]) -> str | None:
    newest = meta.get("newest_id")
    if isinstance(newest, str) and _ID.fullmatch(newest):
        return newest
    return max((h.remote_id for h in items), key=int, default=None)


def mention(
    post: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], me: str, own: Collection[str]
) -> Heard:
    """A post of the mentions timeline: a reply to one of ours, a quote of one, or a mention."""
    refs = post.get("referenced_tweets")
    named = {
        r.get("type"): r.get("id")
        for r in (refs if isinstance(refs, list) else [])
        if isinstance(r, dict) and isinstance(r.get("id"), str)
    }
    kind, answers = ItemKind.MENTION, ""
    replied, quoted = named.get("replied_to"), named.get("quoted")
    if replied is not None and post.get("in_reply_to_user_id") == me:
        kind, answers = ItemKind.REPLY, replied
    elif quoted is not None and quoted in own:
        kind, answers = ItemKind.QUOTE, quoted
    return _heard(post, users, kind, answers)


def found(post: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]]) -> Heard:
    """A post a watch's search found."""
    return _heard(post, users, ItemKind.FOUND, "")


def _heard(
    post: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], kind: ItemKind, answers: str
) -> Heard:
    post_id, text, created = post.get("id"), post.get("text"), post.get("created_at")
    if not isinstance(post_id, str) or not _ID.fullmatch(post_id) or not isinstance(text, str):
        raise TransientError("X answered a post without its id or text")
    try:
        when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        raise TransientError(f"X answered post {post_id} without a created_at time") from None
    if when.tzinfo is None:
        raise TransientError(f"X answered post {post_id} with a created_at without offset")
    user = users.get(str(post.get("author_id")), {})
    username, name = user.get("username"), user.get("name")
    handle = f"@{username}" if isinstance(username, str) else str(post.get("author_id") or "")
    url = (
        POST_URL.format(username=username, id=post_id)
        if isinstance(username, str)
        else ANY_URL.format(id=post_id)
    )
    return Heard(
        remote_id=post_id,
        kind=kind,
        author=handle,
        text=html.unescape(text),
        url=url,
        created_at=when,
        answers=answers,
        author_name=name if isinstance(name, str) else "",
    )


def search_query(terms: Sequence[str]) -> str:
    """The recent search query for a watch's terms: any of them, retweets left out."""
    words = [_term(t) for t in terms if t.strip()]
    if not words:
        raise PermanentError("a watch needs at least one term to search X for")
    joined = " OR ".join(words)
    query = f"({joined}) -is:retweet" if len(words) > 1 else f"{joined} -is:retweet"
    if len(query) > QUERY_MAX:
        raise PermanentError(
            f"the watch's terms make an X search query of {len(query)} characters, over the "
            f"{QUERY_MAX} X takes: split the watch"
        )
    return query


def _term(term: str) -> str:
    term = " ".join(term.replace('"', " ").split())
    return f'"{term}"' if " " in term else term
