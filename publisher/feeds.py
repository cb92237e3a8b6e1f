"""RSS and Atom items into a queue file, for a person to review: nothing here publishes.

``publisher feed import`` (and the daemon's ``[feeds]``, which writes a separate file the team
reviews) turns a feed's new items into posts from a template and appends them to a YAML file
the queue parser then checks whole. An item is imported once: its GUID is remembered in a
small JSON file beside the target (``<file>.feeds.json``), and its post id is derived from the
GUID, so an item whose post an editor deleted does not come back, and one whose memory was
lost (a crash between the two writes) is still found by its id.

Everything here is pure (bytes in, text out); fetching and writing are the callers'.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import regex

# What a template may name, and what each is.
FIELDS: Mapping[str, str] = {
    "title": "the item's title",
    "link": "the item's link",
    "summary": "the item's summary, as plain text",
    "author": "the item's author",
    "published": "when the item was published (ISO 8601, UTC)",
    "feed": "the feed's title",
}
DEFAULT_TEMPLATE = "{title}\n{link}"
MEMORY_VERSION = 1
_TAG = regex.compile(r"<[^>]*>")
_SPACES = regex.compile(r"[ \t]+")


class FeedError(ValueError):
    """A feed that cannot be read, or a template that cannot be used: the message says why."""


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    summary: str
    author: str
    published: datetime | None
    feed: str

    @property
    def post_id(self) -> str:
        """Stable across imports: the same GUID is the same post."""
        return "feed-" + hashlib.sha256(self.guid.encode()).hexdigest()[:16]

    def fields(self) -> dict[str, str]:
        return {
            "title": self.title,
            "link": self.link,
            "summary": self.summary,
            "author": self.author,
            "published": self.published.isoformat().replace("+00:00", "Z")
            if self.published
            else "",
            "feed": self.feed,
        }


def check_template(template: str) -> None:
    """Refuse a template naming a field there is none of, or that is not a template."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise FeedError(f"the template {template!r} is not a template: {err}") from None
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        known = ", ".join("{" + f + "}" for f in FIELDS)
        raise FeedError(f"the template names {{{unknown[0]}}}, which is none of: {known}")
    if not template.strip():
        raise FeedError("the template is empty")


def parse_feed(data: bytes, source: str) -> list[Item]:
    """The items of an RSS or Atom document, oldest first. Raises FeedError for a document
    that is not a well-formed feed (with the line feedparser found the fault at)."""
    import feedparser

    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride):
        line = getattr(problem, "getLineNumber", lambda: None)()
        where = f"{source}:{line}" if line else source
        what = getattr(problem, "getMessage", lambda: str(problem))()
        raise FeedError(f"{where}: not a well-formed RSS or Atom feed ({what})")
    if not parsed.get("version"):
        raise FeedError(f"{source}: not an RSS or Atom feed")
    feed_title = _plain(parsed.feed.get("title", ""))
    items = []
    for entry in parsed.entries:
        link = str(entry.get("link", "")).strip()
        title = _plain(entry.get("title", ""))
        published = _when(entry.get("published_parsed") or entry.get("updated_parsed"))
        guid = str(entry.get("id") or link or f"{title}|{published}").strip()
        if not guid:
            continue
        items.append(
            Item(
                guid=guid,
                title=title,
                link=link,
                summary=_plain(entry.get("summary", "")),
                author=_plain(entry.get("author", "")),
                published=published,
                feed=feed_title,
            )
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    # Oldest first, the document's order kept among items without a date.
    return [i for _, i in sorted(enumerate(items), key=lambda p: (p[1].published or epoch, p[0]))]


def _plain(value: Any) -> str:
    text = html.unescape(_TAG.sub(" ", str(value)))
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


def _when(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in parsed[:6])
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Selection:
    new: tuple[Item, ...]  # to import, oldest first
    seen: int  # already imported (remembered, or their post is in the file)
    skipped: tuple[Item, ...]  # new, but older than the newest ``limit``: remembered, not imported


def select(
    items: Sequence[Item], remembered: set[str], post_ids: set[str], limit: int
) -> Selection:
    fresh = [i for i in items if i.guid not in remembered and i.post_id not in post_ids]
    keep = fresh[-limit:] if limit > 0 else []
    skipped = fresh[: len(fresh) - len(keep)]
    return Selection(tuple(keep), len(items) - len(fresh), tuple(skipped))


def post_for(item: Item, template: str, accounts: Sequence[str], at: str | None) -> dict[str, Any]:
    text = template.format_map(item.fields()).strip()
    if not text:
        raise FeedError(f"the template gives an empty text for item {item.guid!r}")
    post: dict[str, Any] = {"id": item.post_id}
    if at:
        post["at"] = at
    post["accounts"] = list(accounts)
    post["text"] = text
    return post


def append_posts(document: str, posts: Sequence[Mapping[str, Any]], source: str) -> str:
    """``document`` (a queue file's text, maybe empty) with ``posts`` appended to its
    ``posts:`` list, each after a comment naming the feed. The text before is kept byte for
    byte where ``posts:`` is a block list (the queue file's grammar puts it last); a flow list
    (``posts: []``) is rewritten as a block list."""
    if not posts:
        return document
    body = "".join(_item_text(post, source) for post in posts)
    if not document.strip():
        return "posts:\n" + _indent(body, 2)
    text = document if document.endswith("\n") else document + "\n"
    lines = text.splitlines(keepends=True)
    key = next((i for i, line in enumerate(lines) if regex.match(r"posts\s*:", line)), None)
    if key is None:
        return text + "posts:\n" + _indent(body, 2)
    rest = lines[key][len("posts") :].split(":", 1)[1].split("#", 1)[0].strip()
    if not rest:
        dash = next(
            (
                len(line) - len(line.lstrip(" "))
                for line in lines[key + 1 :]
                if line.lstrip(" ").startswith("-")
            ),
            2,
        )
        return text + _indent(body, dash)
    if rest in ("[]", "null", "~"):
        return "".join(lines[:key]) + "posts:\n" + _indent(body, 2) + "".join(lines[key + 1 :])
    raise FeedError("the file's `posts:` is not a block list: append by hand, or start a new file")


def _item_text(post: Mapping[str, Any], source: str) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 4096
    values = {
        k: LiteralScalarString(v) if isinstance(v, str) and "\n" in v else v
        for k, v in post.items()
    }
    out = io.StringIO()
    yaml.dump([values], out)
    return f"# from {source}\n" + out.getvalue()


def _indent(text: str, by: int) -> str:
    pad = " " * by
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def load_memory(text: str | None) -> dict[str, set[str]]:
    """GUIDs imported so far, by feed URL."""
    if not text:
        return {}
    try:
        doc = json.loads(text)
        feeds = doc["feeds"]
        return {str(url): {str(g) for g in entry["guids"]} for url, entry in feeds.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise FeedError(f"the import memory is damaged ({err}): fix or remove it") from None


def dump_memory(memory: Mapping[str, set[str]]) -> str:
    doc = {
        "version": MEMORY_VERSION,
        "feeds": {url: {"guids": sorted(guids)} for url, guids in sorted(memory.items())},
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
