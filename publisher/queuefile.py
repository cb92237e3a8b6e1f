"""queue.yaml: the editors' plan. Parsing, validation, and where each problem is.

One pass with libyaml (``CSafeLoader``) builds the node tree; the data is constructed from
that tree, validated with pydantic models and checked against the config. Problems are
collected by path (``posts[3].accounts[1]``) and located on the same node tree, whose marks
carry line and column, so a broken file costs no second parse and a valid one pays nothing
for the positions it never needs.

A file is applied whole or not at all, and a file cut short (an editor still writing it) must
not pass for a shorter plan: a missing final newline, an absent or empty ``posts:`` and
``defaults:`` after ``posts:`` are refused for that reason.
"""

from __future__ import annotations

import bisect
import errno
import functools
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from publisher.adapters.registry import available
from publisher.config import AccountConfig, Config
from publisher.content import LinkCard, MediaItem, PostContent, ReplyTarget, ThreadMode
from publisher.diagnostics import (
    Diagnostic,
    InvalidFileError,
    Severity,
    kind_of,
    quoted,
    suggest,
)
from publisher.limits import MAX_ID_CHARS, MAX_QUEUE_FILE_BYTES, MAX_SHORT_CHARS, MAX_TEXT_CHARS
from publisher.media import MediaError, MediaRef, MediaRoots, open_media
from publisher.postoptions import option_problems
from publisher.repeat import SUFFIX_CHARS, RepeatModel, RepeatRule, RuleError, rule_from_model
from publisher.times import TimeFormatError, format_local, parse_time
from publisher.yamlbounds import (
    RefusedError,
    bad_character,
    check_aliases,
    hide_breaks,
    restore_scalars,
)

SCHEMA_PATH = Path(__file__).parent / "schema" / "queue.schema.json"

ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_CHARS - 1}}}$"
TIME_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}(:\d{2}([.,]\d{1,6})?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)?$"
)
_ID = re.compile(ID_PATTERN)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_URL = re.compile(r"^https?://[^\s/?#]\S*$", re.IGNORECASE)  # linear: no `+` before \S*

Path_ = tuple[str | int, ...]

# ---------------------------------------------------------------------------
# Public results.


@dataclass(frozen=True, slots=True)
class MediaSpec:
    file: MediaRef  # beneath a media root
    alt: str
    mime_type: str
    size: int

    def item(self) -> MediaItem:
        return MediaItem(self.file, self.alt, self.mime_type, self.size)


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    """What one network or one account changes; ``None`` leaves the base value."""

    text: str | None = None
    media: tuple[MediaSpec, ...] | None = None
    thread: ThreadMode | None = None
    extra_parts: tuple[str, ...] | None = None
    link: LinkCard | None = None
    language: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # merged key by key; None deletes
    first_comment: str | None = None  # "": no first comment for this network or account


@dataclass(frozen=True, slots=True)
class PostSpec:
    id: str
    line: int
    column: int
    at: datetime | None  # aware UTC; None: each account's next free slot
    not_after: datetime | None  # aware UTC
    accounts: tuple[str, ...]
    text: str
    media: tuple[MediaSpec, ...] = ()
    thread: ThreadMode = ThreadMode.AUTO
    extra_parts: tuple[str, ...] = ()
    link: LinkCard | None = None
    language: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, OverrideSpec] = field(default_factory=dict)
    keep_links: tuple[str, ...] = ()  # left as written: no UTM parameters (publisher.utm)
    first_comment: str = ""  # published as a comment on the post once it is out
    reply_to: str = ""  # an inbox id or an item's URL: the post answers it (issue 20)
    repeat: RepeatRule | None = None  # a rule: planned as its occurrences (publisher.rules)
    evergreen: bool = False  # published again in free slots (publisher.rules)
    # (size, mtime_ns) of every file the post refers to: content identity without hashing bytes.
    file_ids: Mapping[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    # Content hashes by (account, network), and the post's own under None with the accounts
    # mapping it was computed for: a sync needs each twice (planning, then diffing), and a
    # re-sync reuses the specs of the posts that did not change. Shared by moved() copies.
    _hashes: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _layers(self, account: AccountConfig) -> list[OverrideSpec]:
        # Least specific first: network, then account, so the account's values win.
        out = []
        for key in (account.network, account.name):
            spec = self.overrides.get(key)
            if spec is not None and spec not in out:
                out.append(spec)
        return out

    def _resolved(self, account: AccountConfig) -> tuple[PostContent, tuple[MediaSpec, ...]]:
        text, media, thread = self.text, self.media, self.thread
        parts, link, language = self.extra_parts, self.link, self.language
        comment = self.first_comment
        layers = self._layers(account)
        options = dict(self.options)
        for o in layers:
            text = o.text if o.text is not None else text
            media = o.media if o.media is not None else media
            thread = o.thread if o.thread is not None else thread
            parts = o.extra_parts if o.extra_parts is not None else parts
            link = o.link if o.link is not None else link
            language = o.language if o.language is not None else language
            comment = o.first_comment if o.first_comment is not None else comment
            for k, v in o.options.items():
                if v is None:
                    options.pop(k, None)
                else:
                    options[k] = v
        if account.utm:
            text, parts, link, comment = _tracked(self, account, text, parts, link, comment)
        content = PostContent(
            post_id=self.id,
            account=account.name,
            network=account.network,
            text=text,
            media=tuple(m.item() for m in media),
            thread=thread,
            extra_parts=parts,
            link=link,
            language=language,
            options=options,
            first_comment=comment,
            reply_to=ReplyTarget(self.reply_to) if self.reply_to else None,
        )
        return content, media

    def content_for(self, account: AccountConfig) -> PostContent:
        """The post as ``account`` publishes it: account override > network override > base."""
        return self._resolved(account)[0]

    def content_hash(self, account: AccountConfig) -> str:
        """Stable digest of what ``account`` would publish, media identified by path+size+mtime."""
        key = _hash_key(account.name, account.network, _utm_key(account.utm))
        known: str | None = self._hashes.get(key)
        if known is None:
            known = self._hashes[key] = self._content_hash(account)
        return known

    def post_hash(self, accounts: Mapping[str, AccountConfig]) -> str:
        """The digest of every account's content hash, in the post's account order."""
        memo = self._hashes.get(None)
        if memo is not None and memo[0] is accounts:
            return cast(str, memo[1])
        digest = hashlib.sha256()
        for name in self.accounts:
            digest.update(self.content_hash(accounts[name]).encode())
        self._hashes[None] = (accounts, digest.hexdigest())
        return cast(str, self._hashes[None][1])

    def moved(self, line: int) -> PostSpec:
        """The same post at another line of the file, sharing its content hashes (they do not
        depend on the line). A plain copy: ``replace`` would re-run ``__init__``, and a post
        inserted at the top of the file moves every other one."""
        if line == self.line:
            return self
        out = object.__new__(PostSpec)
        for name in _SPEC_FIELDS:
            object.__setattr__(out, name, getattr(self, name))
        object.__setattr__(out, "line", line)
        return out

    def _content_hash(self, account: AccountConfig) -> str:
        content, media = self._resolved(account)
        thumb = content.link.thumb if content.link else None
        doc = {
            "v": 1,
            "post": content.post_id,
            "account": content.account,
            "network": content.network,
            "text": content.text,
            "parts": list(content.extra_parts),
            "media": [
                [
                    str(m.file.path),
                    m.size,
                    self.file_ids.get(str(m.file.path), (m.size, 0))[1],
                    m.alt,
                    m.mime_type,
                ]
                for m in media
            ],
            "thread": content.thread.value,
            "link": None
            if content.link is None
            else [
                content.link.url,
                content.link.title,
                content.link.description,
                None
                if thumb is None
                else [str(thumb.file.path), *self.file_ids.get(str(thumb.file.path), (0, 0))],
            ],
            "language": content.language,
            "options": content.options,
        }
        if content.first_comment:  # only when set: posts without one keep their hashes
            doc["first_comment"] = content.first_comment
        if self.reply_to:  # likewise
            doc["reply_to"] = self.reply_to
        blob = json.dumps(
            doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
        )
        return hashlib.sha256(blob.encode()).hexdigest()


_SPEC_FIELDS = tuple(f.name for f in fields(PostSpec))
# Shared by the posts that have none: 10,000 posts would hold 10,000 empty dicts each.
_NOTHING: Mapping[Any, Any] = MappingProxyType({})


@functools.cache
def _hash_key(account: str, network: str, utm: tuple[tuple[str, str], ...]) -> tuple[Any, ...]:
    """One key tuple per account for every post's memo (its UTM parameters in it: a reload
    that changes them changes what the account publishes)."""
    return (account, network, utm)


def _utm_key(utm: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(utm.items())) if utm else ()


def _json_default(value: object) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(repr(v) for v in value)
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)


def _tracked(
    post: PostSpec,
    account: AccountConfig,
    text: str,
    parts: tuple[str, ...],
    link: LinkCard | None,
    comment: str,
) -> tuple[str, tuple[str, ...], LinkCard | None, str]:
    """The post's links with the account's UTM parameters (``publisher.utm``)."""
    from publisher import utm

    params = utm.parameters(
        account.utm, post_id=post.id, account=account.name, network=account.network
    )
    keep = post.keep_links
    text = utm.tag_text(text, params, keep)
    parts = tuple(utm.tag_text(p, params, keep) for p in parts)
    if link is not None and not utm.kept(link.url, keep):
        link = replace(link, url=utm.tag_url(link.url, params))
    return text, parts, link, utm.tag_text(comment, params, keep)


@dataclass(frozen=True)
class QueueFile:
    path: Path
    posts: tuple[PostSpec, ...]
    warnings: tuple[Diagnostic, ...] = ()


# ---------------------------------------------------------------------------
# YAML: libyaml speed, YAML 1.2 scalars (`no` is Norwegian, 12:30 is not 750, times are text).


class _Loader(yaml.CSafeLoader):
    """CSafeLoader with YAML 1.2 core scalars and line breaks, bounded aliases and numbers,
    and a record of duplicate keys (see ``publisher.yamlbounds``)."""

    def __init__(self, stream: str) -> None:
        hidden, self.restore = hide_breaks(stream)
        super().__init__(hidden)
        self.text = hidden
        self.duplicates: list[tuple[str, yaml.Mark, yaml.Mark]] = []

    def get_single_node(self) -> yaml.Node | None:
        """The node tree, refused (located) if its aliases repeat too much; before any value
        is built from it."""
        root: yaml.Node | None = super().get_single_node()
        if root is not None:
            check_aliases(root, self.text, type(self))
            restore_scalars(root, self.restore)
        return root

    def get_single_data(self) -> Any:
        """``yaml.load`` with this loader goes through ``get_single_node`` too."""
        root = self.get_single_node()
        return None if root is None else self.construct_document(root)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                k = (key_node.tag, key_node.value)
                if k in seen:
                    self.duplicates.append((key_node.value, key_node.start_mark, seen[k]))
                seen[k] = key_node.start_mark
        return cast(dict[Any, Any], super().construct_mapping(node, deep=deep))

    def construct_core_int(self, node: yaml.ScalarNode) -> int:
        value = str(self.construct_scalar(node))
        if len(value) > MAX_ID_CHARS:  # int() and str() refuse 4,300 digits, with a ValueError
            raise RefusedError(
                f"a number of {len(value):,} characters is too long (at most {MAX_ID_CHARS}, "
                "as for an id)",
                node.start_mark,
            )
        return int(value, 16) if value.startswith("0x") else int(value)


def _core_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    rules = [
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            r"^(?:[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            "-+0123456789.",
        ),
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
    ]
    for tag, pattern, first in rules:
        rx = re.compile(pattern)
        for ch in first:
            table.setdefault(ch, []).append((tag, rx))
    return table


_Loader.yaml_implicit_resolvers = _core_resolvers()
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_core_int)


# ---------------------------------------------------------------------------
# The file's shape, as pydantic models: validation and the JSON Schema editors complete with.


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


AccountList = Annotated[
    list[str],
    BeforeValidator(_one_or_many, json_schema_input_type=str | list[str]),
    Field(description="Account names from publisher.toml ([accounts.NAME]); one name or a list."),
]
PostId = Annotated[
    str,
    BeforeValidator(_id_text, json_schema_input_type=str | int),
    Field(
        description="Stable identity of the post, unique in the file: letters, digits, '.', "
        "'_', '-'. Changing it makes a new post.",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
]
TimeText = Annotated[
    str,
    Field(
        max_length=MAX_SHORT_CHARS,
        description="Local time in publisher.toml's timezone (2026-12-01 09:00) or ISO 8601 "
        "with an offset (2026-12-01T09:00:00+01:00, 2026-12-01T08:00Z).",
        json_schema_extra={
            "pattern": TIME_PATTERN,
            "examples": ["2026-12-01 09:00", "2026-12-01T09:00:00+01:00"],
        },
    ),
]
Language = Annotated[
    str,
    Field(
        max_length=MAX_SHORT_CHARS,
        description="Language of the text, a BCP 47 tag: fr, en, pt-BR.",
    ),
]
# Every text an editor writes; the text layer's bounded cost relies on it (limits.py).
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
ReplyRef = Annotated[
    str,
    BeforeValidator(_id_text, json_schema_input_type=str | int),
    Field(max_length=2048, examples=[42, "https://mastodon.example/@ana/1123"]),
]
Options = Annotated[
    dict[str, Any],
    Field(
        description="Per-network options, as each network declares them (mastodon: "
        "visibility, spoiler_text, sensitive). Merged key by key with less specific levels; "
        "null removes a key. A key that none of the post's networks takes is an error.",
        json_schema_extra={
            "additionalProperties": {
                "type": ["string", "boolean", "integer", "null"],
                "maxLength": MAX_TEXT_CHARS,
            }
        },
    ),
]


def _thread_word(value: Any) -> Any:
    """``thread: false`` is how editors write "off", and ``thread: true`` "on": auto."""
    if value is True:
        return ThreadMode.AUTO.value
    if value is False:
        return ThreadMode.OFF.value
    return value


Thread = Annotated[
    ThreadMode,
    BeforeValidator(_thread_word, json_schema_input_type=ThreadMode | bool),
    Field(
        description="auto: split text too long for a network into a thread where it can; "
        "numbered: the same with (1/3) markers; off: too long is an error. true means auto, "
        "false off."
    ),
]


class _Model(BaseModel):
    # Every field says what it is in ``Field(description=...)``. No use_attribute_docstrings:
    # to find attribute docstrings pydantic reads and tokenizes this module's source at import,
    # half of what importing it cost (``validate`` starts with it; the schema is the same).
    model_config = ConfigDict(extra="forbid")


class MediaModel(_Model):
    """An image or video attached to the post."""

    model_config = ConfigDict(title="Media")

    file: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="Path of the file, relative to the folder of queue.yaml. JPEG, PNG, GIF, "
        "WebP, MP4 or MOV.",
    )
    alt: Text = Field("", description="Alt text: what the image shows, for screen readers.")


class LinkModel(_Model):
    """A link preview card, written by the editor (no page is fetched)."""

    model_config = ConfigDict(title="Link card")

    url: Text = Field(
        description="The link (http or https).",
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    )
    title: Text = Field("", description="Card title.")
    description: Text = Field("", description="Card description.")
    thumb: Text | None = Field(None, description="Image file for the card, relative to queue.yaml.")


class OverrideModel(_Model):
    """What changes for one network (x, mastodon, …) or one account (brand-x)."""

    model_config = ConfigDict(title="Override")

    text: Text | None = Field(None, description="Replaces the post's text.")
    media: list[MediaModel] | None = Field(None, description="Replaces the post's media.")
    thread: Thread | None = None
    parts: list[Text] | None = Field(None, description="Replaces the post's extra thread parts.")
    link: LinkModel | None = Field(None, description="Replaces the post's link card.")
    language: Language | None = None
    options: Options | None = None
    first_comment: Text | None = Field(
        None,
        description="Replaces the post's first comment; an empty text: no first comment here.",
    )


class DefaultsModel(_Model):
    """Values for every post that does not set its own; this section comes before `posts:`."""

    model_config = ConfigDict(title="Defaults")

    accounts: AccountList | None = None
    thread: Thread | None = None
    language: Language | None = None
    options: Options | None = None


class PostModel(_Model):
    """One post, published to each of its accounts."""

    model_config = ConfigDict(title="Post")

    id: PostId
    at: TimeText | None = Field(
        None, description="When to publish. Without it, each account's next free slot."
    )
    not_after: TimeText | None = Field(None, description="Never publish after this time.")
    accounts: AccountList | None = None
    text: Text | None = Field(None, description="What to publish.")
    parts: list[Text] | None = Field(
        None, description="More thread parts, published as replies after the text."
    )
    media: list[MediaModel] | None = Field(None, description="Images or a video to attach.")
    link: LinkModel | None = None
    keep_links: list[Text] | None = Field(
        None,
        description="Links (or beginnings of links) left exactly as written: no UTM "
        "parameters are added to them.",
    )
    thread: Thread | None = None
    language: Language | None = None
    options: Options | None = None
    first_comment: Text | None = Field(
        None,
        description="Published as a comment on the post once it is out (a reply to the post "
        "on Mastodon, Bluesky and X). Every network of the post must take comments.",
    )
    overrides: dict[str, OverrideModel] | None = Field(
        None,
        description="Changes per network name (x, facebook, mastodon, bluesky, linkedin) or "
        "per account name; an account's override wins over its network's.",
    )
    reply_to: ReplyRef | None = Field(
        None,
        description="Answers an item of the inbox: its id (`publisher inbox`) or its URL. "
        "The post's accounts must be on the item's network; the item is marked handled once "
        "the answer is out.",
    )
    repeat: RepeatModel | None = Field(
        None,
        description="Publish again from `at`: every N days or weeks (every: 2w), on weekdays "
        "(on: [mon, thu]), until a time or a date, or count times; at the same local time.",
    )
    evergreen: bool | None = Field(
        None,
        description="Without `at`: published again and again in its accounts' free slots, "
        "least recently published first, at most once per evergreen_gap (default 30d).",
    )


class QueueModel(_Model):
    """queue.yaml: the posts publisher will publish, and when."""

    model_config = ConfigDict(title="Queue")

    defaults: DefaultsModel | None = Field(
        None, description="Values for every post that does not set its own; before `posts:`."
    )
    posts: list[PostModel] = Field(
        description="The posts; those without `at` take their accounts' slots in this order. "
        "`posts: []` for none."
    )


def _hoist_descriptions(node: Any) -> None:
    """Editors show a property's own description: lift it out of ``anyOf: [X, null]``."""
    if isinstance(node, dict):
        for branch in node.get("anyOf", ()):
            if isinstance(branch, dict) and "description" in branch and "description" not in node:
                node["description"] = branch.pop("description")
        for value in node.values():
            _hoist_descriptions(value)
    elif isinstance(node, list):
        for value in node:
            _hoist_descriptions(value)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of queue.yaml, for editors (yaml-language-server) and CI."""
    schema = QueueModel.model_json_schema()
    _hoist_descriptions(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "publisher queue.yaml",
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------
# Positions: paths into the node tree libyaml built anyway.


def _field(path: Path_) -> str:
    out = ""
    for p in path:
        if p == "[key]":
            continue
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            name = str(p) if len(str(p)) <= 60 else f"{str(p)[:60]}…"  # an editor's key
            out += f".{name}" if out else name
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Locator:
    """Maps a path to the line and column of its key or value."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def find(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        node = self.root
        if node is None:
            return (1, 1)
        pos = _mark(node)
        for i, step in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode) and step != "[key]":
                pair = None
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                        pair = (k, v)  # the last one wins, as in the loaded data
                if pair is None:
                    return pos  # a missing key: point at the mapping that lacks it
                k, v = pair
                if (last and key) or path[i + 1 :] == ("[key]",):
                    return _mark(k)
                node = v
                empty = isinstance(v, yaml.ScalarNode) and v.value == "" and not v.style
                pos = _mark(k) if empty else _mark(v)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if not 0 <= step < len(node.value):
                    return pos
                node = node.value[step]
                pos = _mark(node)
            else:
                return pos
        return pos


@dataclass
class _Problems:
    filename: str
    locator: _Locator
    items: list[Diagnostic] = field(default_factory=list)

    errors: int = 0
    # The chunked parse stops at the first error: the whole-file parse reports them all.
    strict: bool = False

    def add(
        self,
        path: Path_,
        message: str,
        *,
        key: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> None:
        if self.strict and severity is Severity.ERROR:
            raise _Fallback(f"{_field(path)}: {message}")
        line, col = self.locator.find(path, key=key)
        self.append(Diagnostic(self.filename, line, col, _field(path), message, severity))

    def append(self, diagnostic: Diagnostic) -> None:
        if self.strict and diagnostic.severity is Severity.ERROR:
            raise _Fallback(str(diagnostic))
        self.items.append(diagnostic)
        if diagnostic.severity is Severity.ERROR:
            self.errors += 1

    def warn(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.add(path, message, key=key, severity=Severity.WARNING)

    @property
    def has_errors(self) -> bool:
        return self.errors > 0


# ---------------------------------------------------------------------------
# pydantic errors, in an editor's words.


_KEYS: dict[str, tuple[str, ...]] = {
    "top": tuple(QueueModel.model_fields),
    "defaults": tuple(DefaultsModel.model_fields),
    "post": tuple(PostModel.model_fields),
    "override": tuple(OverrideModel.model_fields),
    "media": tuple(MediaModel.model_fields),
    "link": tuple(LinkModel.model_fields),
    "repeat": tuple(RepeatModel.model_fields),
}


def _keys_for(parent: Path_) -> tuple[str, ...]:
    names = [p for p in parent if isinstance(p, str)]
    if not names:
        return _KEYS["top"]
    if names[-1] in ("media", "link", "repeat"):
        return _KEYS[names[-1]]
    if len(names) >= 2 and names[-2] == "overrides":
        return _KEYS["override"]
    if names == ["defaults"]:
        return _KEYS["defaults"]
    return _KEYS["post"]


def unknown_key_message(key: object, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    msg = f"unknown key {quoted(key)}"
    close = suggest(str(key), allowed)
    if close:
        return f"{msg}; did you mean {close!r}?"
    return f"{msg} (expected one of: {', '.join(allowed)})"


def _pydantic_problems(err: ValidationError, prefix: Path_, problems: _Problems) -> None:
    for e in err.errors():
        loc: Path_ = (*prefix, *e["loc"])
        problems.add(loc, _explain(e, loc), key=e["type"] in ("extra_forbidden", "invalid_key"))


def _explain(e: ErrorDetails, loc: Path_) -> str:
    kind, value = e["type"], e.get("input")
    name = next((p for p in reversed(loc) if isinstance(p, str) and p != "[key]"), "")
    if kind == "extra_forbidden":
        return unknown_key_message(loc[-1], _keys_for(loc[:-1]))
    if kind == "missing":
        return f"missing required key {name!r}"
    if kind == "string_type":
        hint = ""
        if name in ("text", "parts") and isinstance(value, list):
            hint = " (more thread parts go in `parts:`)"
        elif isinstance(value, bool | int | float):
            hint = " (put it in quotes)"
        return f"expected text, got {kind_of(value)}{hint}"
    if kind == "list_type":
        return f"expected a list, got {kind_of(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {kind_of(value)}"
    if kind == "enum":
        choices = ", ".join(m.value for m in ThreadMode)
        return f"{quoted(value)} is not one of: {choices} (true means auto, false off)"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long" and isinstance(value, str):
        limit = (e.get("ctx") or {}).get("max_length", MAX_TEXT_CHARS)
        return f"{len(value):,} characters, more than the limit of {limit:,}"
    return str(e["msg"])


# ---------------------------------------------------------------------------
# Media files: located beneath their roots and checked by the one opener (publisher/media.py),
# once per path per parse.


@dataclass(frozen=True)
class _FileInfo:
    path: Path  # lexical, absolute: the file's key in content hashes
    ref: MediaRef | None = None
    size: int = 0
    mtime_ns: int = 0
    mime_type: str | None = None
    error: str | None = None
    identity: tuple[int, int, int, int] = (0, 0, 0, 0)  # size, mtime, inode, ctime


class _Files:
    def __init__(self, roots: MediaRoots) -> None:
        self.roots = roots
        self.seen: dict[str, _FileInfo] = {}
        self.used: list[tuple[str, _FileInfo]] | None = None  # what the post being checked uses

    def check(self, raw: str) -> _FileInfo:
        info = self.seen.get(raw)
        if info is None:
            info = self.seen[raw] = self._check(raw)
        if self.used is not None:
            self.used.append((raw, info))
        return info

    def _check(self, raw: str) -> _FileInfo:
        """Where ``raw`` is and what: the editor's path is placed beneath a root from its
        text alone, then opened there, as it will be at send time."""
        try:
            ref = self.roots.locate(raw)
        except MediaError as err:
            return _FileInfo(Path(), error=str(err))
        try:
            found = open_media(ref, whole=False)
        except MediaError as err:
            return _FileInfo(ref.path, ref, error=str(err))
        return _FileInfo(
            ref.path, ref, found.size, found.identity[1], found.mime_type, identity=found.identity
        )


# ---------------------------------------------------------------------------
# Checking, post by post.


@dataclass
class _Defaults:
    accounts: tuple[str, ...] | None = None
    thread: ThreadMode | None = None
    language: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _clean(text: str | None) -> str | None:
    """No trailing newline: `text: |` adds one that no editor means to publish."""
    return None if text is None else text.rstrip()


class _Checker:
    def __init__(self, config: Config, base: Path, problems: _Problems) -> None:
        self.config = config
        self.zone: ZoneInfo = config.timezone
        self.files = _Files(MediaRoots.around(base, config))
        self.problems = problems
        self.accounts = config.accounts
        self.config_networks = {a.network for a in config.accounts.values()}
        self.networks = self.config_networks | set(available())
        self.ids: dict[str, int] = {}
        self.defaults = _Defaults()

    # -- pieces shared by posts, overrides and defaults

    def account_error(self, name: str, path: Path_) -> None:
        known = sorted(self.accounts)
        close = suggest(name, known)
        hint = f"; did you mean {close!r}?" if close else ""
        self.problems.add(
            path,
            f"unknown account {quoted(name)}{hint} (accounts in {self.config.path.name}: "
            f"{', '.join(known) or 'none'})",
        )

    def account_list(self, names: list[str], path: Path_) -> tuple[str, ...]:
        """The known accounts of a list; every unknown one is reported."""
        if not names:
            self.problems.add(path, "the list of accounts is empty")
        out: list[str] = []
        for j, name in enumerate(names):
            if name not in self.accounts:
                self.account_error(name, (*path, j))
            elif name in out:
                self.problems.warn((*path, j), f"{name!r} is listed twice")
            else:
                out.append(name)
        return tuple(out)

    def language(self, value: str | None, path: Path_) -> str | None:
        if value is not None and not _LANGUAGE.match(value):
            self.problems.add(path, f"{quoted(value)} is not a language tag (e.g. fr, en, pt-BR)")
        return value

    def check_options(
        self, options: Mapping[str, Any] | None, path: Path_, networks: Iterable[str]
    ) -> None:
        """Each key taken by one of ``networks``, with a value it takes (publisher.postoptions)."""
        if options:
            for p in option_problems(options, networks):
                self.problems.add((*path, p.key), p.message, key=p.at_key)

    def options(self, base: Mapping[str, Any], more: Mapping[str, Any] | None) -> dict[str, Any]:
        out = dict(base)
        for k, v in (more or {}).items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
        return out

    def media(
        self, items: list[MediaModel], path: Path_, ids: dict[str, tuple[int, int]]
    ) -> tuple[MediaSpec, ...]:
        out = []
        for j, m in enumerate(items):
            info = self.files.check(m.file)
            if info.error is not None or info.mime_type is None or info.ref is None:
                self.problems.add((*path, j, "file"), info.error or "unreadable")
                continue
            ids[str(info.path)] = (info.size, info.mtime_ns)
            out.append(MediaSpec(info.ref, m.alt, info.mime_type, info.size))
        return tuple(out)

    def link(
        self, m: LinkModel | None, path: Path_, ids: dict[str, tuple[int, int]]
    ) -> LinkCard | None:
        if m is None:
            return None
        if not _URL.match(m.url.strip()):
            self.problems.add((*path, "url"), f"{quoted(m.url)} is not an http(s) link")
        thumb = None
        if m.thumb is not None:
            info = self.files.check(m.thumb)
            if info.error is not None or info.ref is None:
                self.problems.add((*path, "thumb"), info.error or "unreadable")
            elif info.mime_type is None or not info.mime_type.startswith("image/"):
                self.problems.add((*path, "thumb"), f"{m.thumb} is a video; a thumb is an image")
            else:
                ids[str(info.path)] = (info.size, info.mtime_ns)
                thumb = MediaItem(info.ref, "", info.mime_type, info.size)
        return LinkCard(m.url.strip(), m.title, m.description, thumb)

    def time(self, value: str | None, path: Path_) -> datetime | None:
        if value is None:
            return None
        try:
            resolved = parse_time(value, self.zone)
        except TimeFormatError as err:
            self.problems.add(path, str(err))
            return None
        if resolved.warning:
            self.problems.warn(path, resolved.warning)
        return resolved.at

    def reply_ref(self, ref: str | None, path: Path_) -> str:
        """``reply_to:``: an inbox id (digits) or an http(s) URL; whether the item is in the
        inbox is checked against the store (``validate``, sync), not here."""
        if ref is None:
            return ""
        ref = ref.strip()
        if not (ref.isdigit() or re.match(r"^https?://\S+$", ref)):
            self.problems.add(path, "expected an inbox id (digits) or the item's http(s) URL")
        return ref

    def parts(self, parts: list[str] | None, path: Path_) -> tuple[str, ...] | None:
        if parts is None:
            return None
        for j, p in enumerate(parts):
            if not p.strip():
                self.problems.add((*path, j), "an empty thread part")
        return tuple(p.rstrip() for p in parts)

    # -- the file's sections

    def check_defaults(self, raw: Any) -> None:
        path: Path_ = ("defaults",)
        if raw is None:
            return
        try:
            m = DefaultsModel.model_validate(raw)
        except ValidationError as err:
            _pydantic_problems(err, path, self.problems)
            return
        self.defaults = _Defaults(
            accounts=(
                self.account_list(m.accounts, (*path, "accounts"))
                if m.accounts is not None
                else None
            ),
            thread=m.thread,
            language=self.language(m.language, (*path, "language")),
            options=self.options({}, m.options),
        )
        # Defaults reach every post: for the networks of all the accounts.
        self.check_options(m.options, (*path, "options"), self.config_networks)

    def check_post(self, i: int, raw: Any, line: int, column: int) -> PostSpec | None:
        path: Path_ = ("posts", i)
        problems = self.problems
        errors_before = problems.errors
        partial = False
        try:
            m = PostModel.model_validate(raw)
        except ValidationError as err:
            # Report the shape errors, then check what is left, so that one misspelt key
            # does not hide the post's other problems. Checks that depend on what is
            # missing (no accounts, nothing to publish) are skipped: they would only echo.
            _pydantic_problems(err, path, problems)
            bad = {e["loc"][0] for e in err.errors() if e["loc"]}
            if isinstance(raw, dict) and "id" not in bad:
                try:
                    m = PostModel.model_validate({k: v for k, v in raw.items() if k not in bad})
                    partial = True
                except ValidationError:
                    pass
            if not partial:
                if isinstance(raw, dict):
                    self.note_id(raw.get("id"), path)
                return None
        self.note_id(m.id, path)

        at = self.time(m.at, (*path, "at"))
        not_after = self.time(m.not_after, (*path, "not_after"))
        if at is not None and not_after is not None and not_after < at:
            problems.add(
                (*path, "not_after"),
                f"not_after ({format_local(not_after, self.zone)}) is before at "
                f"({format_local(at, self.zone)})",
            )

        repeat = self.rule(m, at, path)
        own_accounts = m.accounts is not None
        if m.accounts is not None:
            accounts = self.account_list(m.accounts, (*path, "accounts"))
        elif self.defaults.accounts is not None:
            accounts = self.defaults.accounts  # its problems were reported once, at defaults
        else:
            accounts = ()
            if not partial:
                problems.add(
                    (*path, "accounts"),
                    "no accounts: list them in `accounts:` or set `defaults: accounts:`",
                )

        if accounts:
            networks = {self.accounts[a].network for a in accounts}
            self.check_options(m.options, (*path, "options"), networks)

        ids: dict[str, tuple[int, int]] = {}
        errors_before_media = problems.errors
        media = self.media(m.media or [], (*path, "media"), ids)
        link = self.link(m.link, (*path, "link"), ids)
        overrides = self.check_overrides(m.overrides or {}, (*path, "overrides"), ids)
        media_failed = problems.errors != errors_before_media
        parts = self.parts(m.parts, (*path, "parts")) or ()
        language = self.language(m.language, (*path, "language")) or self.defaults.language

        post = PostSpec(
            id=m.id,
            line=line,
            column=column,
            at=at,
            not_after=not_after,
            accounts=accounts,
            text=_clean(m.text) or "",
            media=media,
            thread=m.thread or self.defaults.thread or ThreadMode.AUTO,
            extra_parts=parts,
            link=link,
            language=language,
            options=self.options(self.defaults.options, m.options) or _NOTHING,
            overrides=overrides or _NOTHING,
            keep_links=tuple(m.keep_links or ()),
            file_ids=ids or _NOTHING,
            first_comment=_clean(m.first_comment) or "",
            reply_to=self.reply_ref(m.reply_to, (*path, "reply_to")),
            repeat=repeat,
            evergreen=bool(m.evergreen),
        )
        if not partial:
            if m.at is None:
                self.check_slots(accounts, own_accounts, path)
            self.check_unused_overrides(post, path)
            if not media_failed:
                self.check_not_empty(post, m, path)
        return post if problems.errors == errors_before else None

    def rule(self, m: PostModel, at: datetime | None, path: Path_) -> RepeatRule | None:
        """``repeat:`` and ``evergreen:``: their problems, located; the rule (publisher.repeat)."""
        if m.evergreen and m.at is not None:
            self.problems.add((*path, "evergreen"), "an evergreen post takes free slots: no `at:`")
        if m.evergreen and m.repeat is not None:
            self.problems.add((*path, "repeat"), "a post is evergreen or repeats, not both")
            return None
        if (m.evergreen or m.repeat is not None) and len(m.id) > MAX_ID_CHARS - SUFFIX_CHARS:
            self.problems.add(
                (*path, "id"),
                f"at most {MAX_ID_CHARS - SUFFIX_CHARS} characters for a post that repeats or "
                "is evergreen (its deliveries' ids add a date)",
            )
        if m.repeat is None:
            return None
        if m.at is None:
            self.problems.add((*path, "repeat"), "a repeat needs `at:`, its first occurrence")
            return None
        if at is None:  # `at` itself is wrong: reported already
            return None
        try:
            return rule_from_model(m.repeat, at, self.zone)
        except RuleError as err:
            self.problems.add((*path, "repeat", err.field), str(err))
            return None

    def note_id(self, value: Any, path: Path_) -> None:
        if not isinstance(value, str | int) or isinstance(value, bool):
            return
        pid = str(value)
        where = (*path, "id")
        if len(pid) > MAX_ID_CHARS:
            self.problems.add(
                where, f"{quoted(pid)} is too long for an id: at most {MAX_ID_CHARS} characters"
            )
        elif not _ID.match(pid):
            self.problems.add(
                where,
                f"{quoted(pid)} is not a valid id: letters, digits, '.', '_' and '-', starting "
                f"with a letter or digit, at most {MAX_ID_CHARS} characters",
            )
        first = self.ids.get(pid)
        if first is None:
            self.ids[pid] = path[1] if isinstance(path[1], int) else 0
            return
        line, _ = self.problems.locator.find(("posts", first, "id"))
        self.problems.add(
            where, f"duplicate id {quoted(pid)}: posts[{first}] at line {line} has it"
        )

    def check_overrides(
        self, raw: dict[str, OverrideModel], path: Path_, ids: dict[str, tuple[int, int]]
    ) -> dict[str, OverrideSpec]:
        out: dict[str, OverrideSpec] = {}
        for name, o in raw.items():
            where = (*path, name)
            if name not in self.accounts and name not in self.networks:
                names = sorted(set(self.accounts) | self.networks)
                close = suggest(name, names)
                hint = f"; did you mean {close!r}?" if close else ""
                self.problems.add(
                    where,
                    f"{quoted(name)} is neither a network nor an account{hint} (networks: "
                    f"{', '.join(sorted(self.networks))}; accounts: "
                    f"{', '.join(sorted(self.accounts))})",
                    key=True,
                )
                continue
            target = self.accounts[name].network if name in self.accounts else name
            if target in self.config_networks:  # else unused, and warned as such
                self.check_options(o.options, (*where, "options"), (target,))
            out[name] = OverrideSpec(
                text=_clean(o.text),
                media=self.media(o.media, (*where, "media"), ids) if o.media is not None else None,
                thread=o.thread,
                extra_parts=self.parts(o.parts, (*where, "parts")),
                link=self.link(o.link, (*where, "link"), ids),
                language=self.language(o.language, (*where, "language")),
                options=dict(o.options or {}),
                first_comment=_clean(o.first_comment),
            )
        return out

    def check_slots(self, accounts: Sequence[str], own: bool, path: Path_) -> None:
        for j, name in enumerate(accounts):
            acc = self.accounts.get(name)
            if acc is not None and not acc.slots:
                where: Path_ = (*path, "accounts", j) if own else (*path, "at")
                self.problems.add(
                    where,
                    f"this post has no `at:` and account {name!r} has no slots in "
                    f"{self.config.path.name}: give the post a time or add "
                    f"slots = [...] to [accounts.{name}]",
                )

    def check_unused_overrides(self, post: PostSpec, path: Path_) -> None:
        used = set(post.accounts) | {self.accounts[a].network for a in post.accounts}
        for name in post.overrides:
            if name not in used:
                self.problems.warn(
                    (*path, "overrides", name),
                    f"override for {name!r}, but this post does not go there",
                    key=True,
                )

    def check_not_empty(self, post: PostSpec, m: PostModel, path: Path_) -> None:
        if not post.accounts:  # unknown accounts only: reported already
            return
        if not post.overrides:
            if not post.text.strip() and not post.media:
                self.problems.add(
                    (*path, "text"),
                    f"nothing to publish to {', '.join(post.accounts)}: no text and no media",
                )
            return
        empty: dict[Path_, list[str]] = {}
        for name in post.accounts:
            account = self.accounts[name]
            content = post.content_for(account)
            if content.text.strip() or content.media:
                continue
            where: Path_ = (*path, "text")
            for key in (account.network, account.name):
                o = (m.overrides or {}).get(key)
                if o is not None and o.text is not None:
                    where = (*path, "overrides", key, "text")
            empty.setdefault(where, []).append(name)
        for where, names in empty.items():
            self.problems.add(
                where, f"nothing to publish to {', '.join(names)}: no text and no media"
            )


# ---------------------------------------------------------------------------
# Entry points.


def _syntax(err: yaml.MarkedYAMLError, filename: str, text: str) -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = err.problem or "invalid YAML"
    if isinstance(err, RefusedError):
        return Diagnostic(filename, line, col, "", problem)
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return Diagnostic(
            filename, line, col, "", "YAML syntax: a tab; YAML is indented with spaces"
        )
    if err.context and err.context_mark is not None and err.context_mark is not mark:
        where = f"line {err.context_mark.line + 1}, column {err.context_mark.column + 1}"
        if problem.startswith("but "):  # "expected X (at ...), but found Y" reads better
            problem = f"{err.context} (at {where}), {problem}"
        else:
            problem += f" ({err.context} at {where})"
    return Diagnostic(filename, line, col, "", f"YAML syntax: {problem}")


def _end_of(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def parse_queue(
    text: str,
    path: Path,
    config: Config,
    *,
    cache: ParseCache | None = None,
    chunked: bool | None = None,
) -> QueueFile:
    """Validate a queue file's text; raise InvalidFileError with every problem found.

    Post by post when the file has the usual shape (see ``_parse_chunked``), else, and for
    every file with an error, in one piece: the whole-file parse is the reference and the only
    producer of errors. ``cache`` lets a re-parse reuse the posts whose text did not change.
    ``chunked`` is for tests: True forces the post-by-post parse (``_Fallback`` where it does
    not apply), False the whole-file one.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if chunked is not False:
        try:
            return _parse_chunked(text, path, config, cache)
        except _Fallback:
            if chunked:
                raise
    queue = _parse_whole(text, path, config)
    if cache is not None:
        cache.clear()  # a valid file that only parses whole: nothing to reuse
    return queue


def _parse_whole(text: str, path: Path, config: Config) -> QueueFile:
    """The reference parse: one YAML document, every problem located on its node tree."""
    filename = str(path)
    if not text.strip():
        raise InvalidFileError(
            [
                Diagnostic(
                    filename,
                    1,
                    1,
                    "posts",
                    "the file is empty; write `posts: []` for a queue with no posts",
                )
            ]
        )
    direct: list[Diagnostic] = []
    if not text.endswith("\n"):
        line, col = _end_of(text)
        direct.append(
            Diagnostic(
                filename,
                line,
                col,
                "",
                "the file does not end with a newline, so it may be cut short (still being "
                "written?); it is not applied until it ends with one",
            )
        )
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as err:
        raise InvalidFileError([*direct, _syntax(err, filename, text)]) from None
    except yaml.reader.ReaderError as err:
        line, col, message = bad_character(text, err)
        raise InvalidFileError([*direct, Diagnostic(filename, line, col, "", message)]) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as err:
        raise InvalidFileError([*direct, Diagnostic(filename, 1, 1, "", f"YAML: {err}")]) from None
    finally:
        loader.dispose()
    for key, mark, first in loader.duplicates:
        direct.append(
            Diagnostic(
                filename,
                mark.line + 1,
                mark.column + 1,
                _field((str(key),)),
                f"duplicate key {quoted(key)} (first at line {first.line + 1}); only the last one "
                "would count",
            )
        )

    problems = _Problems(filename, _Locator(root))
    for d in direct:
        problems.append(d)
    base = path.parent if path.is_absolute() else Path.cwd() / path.parent
    checker = _Checker(config, base, problems)
    posts: list[PostSpec] = []

    if root is None:
        problems.append(
            Diagnostic(
                filename,
                1,
                1,
                "posts",
                "the file is empty; write `posts: []` for a queue with no posts",
            )
        )
        raise InvalidFileError(problems.items)
    if not isinstance(data, dict):
        problems.add((), f"expected a mapping with `posts:` at the top, got {kind_of(data)}")
        raise InvalidFileError(problems.items)
    for key in data:
        if key not in _KEYS["top"]:
            problems.add((key,), unknown_key_message(key, _KEYS["top"]), key=True)
    keys = list(data)
    if "defaults" in data and "posts" in data and keys.index("defaults") > keys.index("posts"):
        problems.add(
            ("defaults",),
            "must come before `posts:` (a file cut short would lose them silently)",
            key=True,
        )
    checker.check_defaults(data.get("defaults"))
    raw_posts = data.get("posts")
    if "posts" not in data:
        problems.append(
            Diagnostic(filename, 1, 1, "posts", "missing `posts:` (write `posts: []` for no posts)")
        )
    elif raw_posts is None:
        problems.add(
            ("posts",),
            "is empty; write `posts: []` for a queue with no posts (an empty value is "
            "refused because a file cut short looks the same)",
            key=True,
        )
    elif not isinstance(raw_posts, list):
        problems.add(("posts",), f"expected a list of posts, got {kind_of(raw_posts)}")
    else:
        nodes = _posts_nodes(root)
        for i, raw in enumerate(raw_posts):
            line, col = _mark(nodes[i]) if i < len(nodes) else (0, 0)
            post = checker.check_post(i, raw, line, col)
            if post is not None:
                posts.append(post)

    _hashtag_comments(text, root, problems)
    if problems.has_errors:
        raise InvalidFileError(problems.items)
    return QueueFile(path, tuple(posts), tuple(sorted(problems.items)))


_HASHTAG_COMMENT = re.compile(
    r"^[ \t]*(?:-[ \t]+)?(?:text|alt|title|description)[ \t]*:[ \t]+(?![|>'\"#{\[])"
    r"[^\n]*?[ \t](#[^\s#][^\n]*)$",
    re.MULTILINE,
)


def _hashtag_comments(
    text: str,
    root: yaml.Node | None,
    problems: _Problems,
    prefix: Path_ = (),
    first_line: int = 0,
) -> None:
    """Warn about `text: Soldes ! #soldes`: YAML takes ` #soldes` for a comment, silently.

    ``root`` is at ``prefix`` in the file and ``text`` starts at line ``first_line`` (0-based)
    when one post is parsed alone.
    """
    hits: dict[int, tuple[int, str]] = {}  # 0-based line: (1-based column, comment)
    line, pos = 0, 0
    for m in _HASHTAG_COMMENT.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        start = text.rfind("\n", 0, m.start(1)) + 1
        hits[line] = (m.start(1) - start + 1, m.group(1).rstrip("\r"))
    if not hits or root is None:
        return
    stack: list[tuple[yaml.Node, Path_]] = [(root, prefix)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                if (
                    isinstance(v, yaml.ScalarNode)
                    and not v.style
                    and v.end_mark.line in hits
                    and k.value in ("text", "alt", "title", "description")
                ):
                    col, comment = hits[v.end_mark.line]
                    problems.append(
                        Diagnostic(
                            problems.filename,
                            first_line + v.end_mark.line + 1,
                            col,
                            _field((*path, k.value)),
                            f"{quoted(comment)} is a YAML comment, not part of the text; put the "
                            "text in quotes (or use `|`) to keep it",
                            Severity.WARNING,
                        )
                    )
                stack.append((v, (*path, k.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))


def _posts_nodes(root: yaml.Node | None) -> list[yaml.Node]:
    if isinstance(root, yaml.MappingNode):
        for k, v in reversed(root.value):
            if isinstance(k, yaml.ScalarNode) and k.value == "posts":
                return list(v.value) if isinstance(v, yaml.SequenceNode) else []
    return []


# ---------------------------------------------------------------------------
# Post by post: the same results as the whole-file parse, with one post's node tree alive at a
# time (a 10,000-post tree costs ~100 MB, and the cyclic GC rescans it over and over) and
# unchanged posts reused from the last parse.
#
# The file is cut at its item lines: the header is everything up to the top-level `posts:`
# line, and each item of `posts:` is parsed alone, as a one-item block sequence (its marks then
# count from the item's first line). Whatever could make the pieces mean something else than
# the whole (a line outside the items after `posts:`, an anchor used across items, odd line
# breaks) and any error at all fall back to the whole-file parse.


class _Fallback(Exception):
    """The post-by-post parse does not apply to this text; parse the whole file."""


_POSTS_LINE = re.compile(r"^posts:[ \t]*(?:#[^\n]*)?\r?\n", re.MULTILINE)
_ANCHOR_NAME = re.compile(r"[^ \t\r\n\[\]{},]+")


@functools.cache
def _item_lines(indent: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """For items at ``indent``: their first lines, and the lines that would end them (indented
    by at most ``indent``, neither blank nor a comment nor an item start). Both start at the
    newline before the line: a fast literal search, no Python loop over 100,000 lines."""
    item = rf" {{{indent}}}-(?: |\r?\n|\r?\Z)"
    starts = re.compile(rf"\n(?={item})")
    ends = re.compile(rf"\n(?!{item}) {{0,{indent}}}(?! )(?![\t ]*(?:#|\r?\n|\r?\Z))")
    return starts, ends


def _is_item(rest: str) -> bool:
    return rest[:1] == "-" and (len(rest) == 1 or rest[1] == " " or rest[1:] == "\r")


def _split_posts(text: str) -> tuple[int, list[int]]:
    """The end of the header and where each item of `posts:` starts; _Fallback if unsure."""
    if not text.endswith("\n"):
        raise _Fallback("no final newline")
    # U+0085, U+2028 and U+2029 need no fallback: _Loader counts no line at them either.
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        raise _Fallback("a CR without LF")
    found = _POSTS_LINE.search(text)
    if found is None:
        raise _Fallback("no `posts:` line")
    header_end = pos = found.end()
    indent = -1
    while pos < len(text):
        eol = text.index("\n", pos)
        line = text[pos:eol]
        content = line.strip(" \t\r")
        if content and content[0] != "#":
            rest = line.lstrip(" ")
            if not _is_item(rest):
                raise _Fallback("the first line after `posts:` is not an item")
            indent = len(line) - len(rest)
            break
        pos = eol + 1
    if indent < 0:
        raise _Fallback("no items after `posts:`")
    starts, ends = _item_lines(indent)
    end = ends.search(text, pos - 1)
    if end is not None:
        line = text[end.start() + 1 : text.find("\n", end.start() + 1)]
        raise _Fallback(f"a line after the posts that is not one: {line[:40]!r}")
    return header_end, [m.end() for m in starts.finditer(text, pos - 1)]


def _check_anchors(text: str, starts: list[int]) -> None:
    """An anchor name in two items (or the header and an item) is a duplicate for the
    whole-file parse but not for the pieces: let the whole-file parse judge. Any `&name`
    after a blank, a flow indicator or at a line start counts (a superset of anchors)."""
    where: dict[str, int] = {}
    at = text.find("&")
    while at >= 0:
        if at == 0 or text[at - 1] in " \t\n[{,":
            name = _ANCHOR_NAME.match(text, at + 1)
            if name is not None:
                piece = bisect.bisect_right(starts, at) - 1  # -1: the header
                if where.setdefault(name.group(), piece) != piece:
                    raise _Fallback(f"anchor &{name.group()} in two items")
        at = text.find("&", at + 1)


def _load_piece(text: str) -> tuple[yaml.Node | None, Any]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as err:
        raise _Fallback(f"YAML: {err}") from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise _Fallback("duplicate keys")
    return root, data


class _ItemLocator(_Locator):
    """Locates ``("posts", index, ...)`` in an item parsed alone from line ``first_line``."""

    def __init__(self, item: yaml.Node, index: int, first_line: int) -> None:
        super().__init__(item)
        self.index = index
        self.first_line = first_line

    def find(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        if path[:2] != ("posts", self.index):
            return (1, 1)  # another post: only errors point there, and they fall back
        line, col = super().find(path[2:], key=key)
        return line + self.first_line, col


@dataclass(frozen=True)
class _Header:
    text: str
    defaults: _Defaults
    warnings: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class _Item:
    """One item of `posts:` as parsed: at ``index``, its text starting at line ``first_line``
    (0-based), with the files it refers to as they were then."""

    post: PostSpec
    index: int
    first_line: int
    warnings: tuple[Diagnostic, ...]
    files: tuple[tuple[str, tuple[int, int, int, int]], ...]

    def at(self, index: int, first_line: int) -> _Item:
        """The same item elsewhere in the file: lines and `posts[i]` fields follow it."""
        if index == self.index and first_line == self.first_line:
            return self
        delta = first_line - self.first_line
        old, new = f"posts[{self.index}]", f"posts[{index}]"
        warnings = tuple(
            replace(
                d,
                line=d.line + delta,
                field=new + d.field[len(old) :] if d.field.startswith(old) else d.field,
            )
            for d in self.warnings
        )
        return _Item(
            self.post.moved(self.post.line + delta), index, first_line, warnings, self.files
        )

    def files_unchanged(self, files: _Files) -> bool:
        """Media and thumbs feed the content hash: a file replaced or gone means a re-check."""
        for raw, identity in self.files:
            info = files.check(raw)
            if info.error is not None or info.identity != identity:
                return False
        return True


class ParseCache:
    """What the last parse of a queue file learnt, so that a re-parse after an edit only
    parses the posts whose text changed.

    Owned by the caller (the daemon keeps one for its life). It holds for one ``Config``
    object, one queue path and one header (everything before `posts:`); each item's text (by
    a 128-bit digest) maps to its checked post and warnings. Only the last parse's items are
    kept.
    """

    def __init__(self) -> None:
        self._config: Config | None = None
        self._path: Path | None = None
        self._header: _Header | None = None
        self._items: dict[bytes, _Item] = {}  # by the digest of the item's text
        self.mode = ""  # how the last parse went: "chunked" or "whole" (for tests and benches)
        self.reused = 0  # items of the last parse taken from the cache
        self.parsed = 0  # items of the last parse parsed afresh

    def clear(self) -> None:
        self._header = None
        self._items = {}
        self.mode, self.reused, self.parsed = "whole", 0, 0

    def _lookup(
        self, config: Config, path: Path, header: str
    ) -> tuple[_Header | None, dict[bytes, _Item]]:
        if self._config is not config or self._path != path:
            return None, {}
        if self._header is None or self._header.text != header:
            return None, {}  # defaults may differ: every item depends on them
        return self._header, self._items

    def _keep(self, config: Config, path: Path, header: _Header, items: dict[bytes, _Item]) -> None:
        self._config, self._path, self._header, self._items = config, path, header, items


def _digest(piece: str) -> bytes:
    """An item's identity in the cache: its text, in 16 bytes instead of hundreds."""
    return hashlib.blake2b(piece.encode(), digest_size=16).digest()


def _parse_header(
    text: str, filename: str, checker: _Checker, posts_line: int
) -> tuple[_Defaults, tuple[Diagnostic, ...]]:
    root, data = _load_piece(text)
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict) or not root.value:
        raise _Fallback("the header is not a mapping")
    key, value = root.value[-1]
    if not (
        list(data)[-1] == "posts"
        and data["posts"] is None
        and isinstance(key, yaml.ScalarNode)
        and key.value == "posts"
        and key.start_mark.line == posts_line
        and isinstance(value, yaml.ScalarNode)
        and value.value == ""
        and not value.style
    ):
        raise _Fallback("`posts:` is not the header's last key")
    problems = _Problems(filename, _Locator(root), strict=True)
    checker.problems = problems
    for k in data:
        if k not in _KEYS["top"]:
            problems.add((k,), unknown_key_message(k, _KEYS["top"]), key=True)
    checker.check_defaults(data.get("defaults"))
    _hashtag_comments(text, root, problems)
    return checker.defaults, tuple(problems.items)


def _parse_item(text: str, index: int, first_line: int, checker: _Checker) -> _Item:
    root, data = _load_piece(text)
    if not isinstance(root, yaml.SequenceNode) or len(root.value) != 1:
        raise _Fallback("an item does not parse as one item")
    assert isinstance(data, list)
    item = root.value[0]
    locator = _ItemLocator(item, index, first_line)
    problems = _Problems(checker.problems.filename, locator, strict=True)
    checker.problems = problems
    used: list[tuple[str, _FileInfo]] = []
    checker.files.used = used
    try:
        line, column = _mark(item)
        post = checker.check_post(index, data[0], first_line + line, column)
    finally:
        checker.files.used = None
    if post is None:
        raise _Fallback("an item with errors")
    _hashtag_comments(text, item, problems, ("posts", index), first_line)
    files = tuple(dict.fromkeys((raw, info.identity) for raw, info in used))
    return _Item(post, index, first_line, tuple(problems.items), files)


def _parse_chunked(text: str, path: Path, config: Config, cache: ParseCache | None) -> QueueFile:
    """Parse item by item, reusing ``cache``'s unchanged items; _Fallback where unsure."""
    header_end, starts = _split_posts(text)
    _check_anchors(text, starts)
    filename = str(path)
    header_text = text[:header_end]
    header, known = cache._lookup(config, path, header_text) if cache is not None else (None, {})
    base = path.parent if path.is_absolute() else Path.cwd() / path.parent
    checker = _Checker(config, base, _Problems(filename, _Locator(None), strict=True))
    if header is None:
        posts_line = header_text.count("\n") - 1
        defaults, header_warnings = _parse_header(header_text, filename, checker, posts_line)
        header = _Header(header_text, defaults, header_warnings)
    checker.defaults = header.defaults
    items: dict[bytes, _Item] = {}
    posts: list[PostSpec] = []
    warnings: list[Diagnostic] = list(header.warnings)
    line = text.count("\n", 0, starts[0])
    reused = 0
    ends = [*starts[1:], len(text)]
    for index, start in enumerate(starts):
        if index:
            line += text.count("\n", starts[index - 1], start)
        piece = text[start : ends[index]]
        digest = _digest(piece)
        old = known.get(digest)
        if old is not None and (not old.files or old.files_unchanged(checker.files)):
            moved = old.index != index or old.first_line != line
            item = old.at(index, line) if moved else old
            reused += 1
        else:
            item = _parse_item(piece, index, line, checker)
        if cache is not None:
            items[digest] = item
        posts.append(item.post)
        if item.warnings:
            warnings.extend(item.warnings)
    if len({p.id for p in posts}) != len(posts):
        raise _Fallback("duplicate ids")
    if cache is not None:
        cache._keep(config, path, header, items)
        cache.mode, cache.reused, cache.parsed = "chunked", reused, len(posts) - reused
    return QueueFile(path, tuple(posts), tuple(sorted(warnings)))


def read_queue_bytes(path: Path) -> bytes:
    """The file's bytes, at most one past ``MAX_QUEUE_FILE_BYTES``: an oversized file is
    refused (``queue_text``) without being read whole. Opened without blocking and read only
    when it is a regular file: a FIFO or a device in its place must not hang the sync."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        return f.read(MAX_QUEUE_FILE_BYTES + 1)


def load_queue(
    path: Path, config: Config, *, data: bytes | None = None, cache: ParseCache | None = None
) -> QueueFile:
    """Read and validate queue.yaml; ``data`` lets a caller parse the exact bytes it hashed."""
    filename = str(path)
    if data is None:
        try:
            data = read_queue_bytes(path)
        except OSError as err:
            raise InvalidFileError(
                [Diagnostic(filename, 1, 1, "", f"cannot read the queue file: {err.strerror}")]
            ) from None
    return parse_queue(queue_text(path, data), path, config, cache=cache)


def queue_text(path: Path, data: bytes) -> str:
    """The file's text; InvalidFileError, located, for bytes that are not UTF-8 or too many."""
    if len(data) > MAX_QUEUE_FILE_BYTES:
        raise InvalidFileError(
            [
                Diagnostic(
                    str(path),
                    1,
                    1,
                    "",
                    f"the file is larger than the limit of {MAX_QUEUE_FILE_BYTES:,} bytes "
                    f"({MAX_QUEUE_FILE_BYTES // 2**20} MiB); split it or remove old posts",
                )
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8", errors="replace")
        line, col = _end_of(before)
        raise InvalidFileError(
            [
                Diagnostic(
                    str(path),
                    line,
                    col,
                    "",
                    f"not UTF-8 text (byte 0x{data[err.start]:02x}); save the file as UTF-8",
                )
            ]
        ) from None


class Positions:
    """Where each field of a queue file is written, for problems found after a valid parse
    (a render's, by ``validate``): the node tree is composed again, only when one is found."""

    def __init__(self, text: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        loader = _Loader(text)
        try:
            self.root = loader.get_single_node()
        finally:
            loader.dispose()
        self._locator = _Locator(self.root)
        self._posts = {_mark(n): i for i, n in enumerate(_posts_nodes(self.root))}

    def post_index(self, post: PostSpec) -> int | None:
        """The index of ``post`` in `posts:`, by where it starts."""
        return self._posts.get((post.line, post.column))

    def written(self, path: Path_) -> bool:
        """Whether the file gives ``path`` a value (a null is no value: the level below's
        value stands, as in ``PostSpec.content_for``)."""
        node = self.root
        for step in path:
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                found = [
                    v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == step
                ]
                if not found:
                    return False
                node = found[-1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if not 0 <= step < len(node.value):
                    return False
                node = node.value[step]
            else:
                return False
        return not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"))

    def find(self, path: Path_) -> tuple[int, int]:
        """The line and column of ``path``'s value (of what holds it, when it is not written)."""
        return self._locator.find(path)

    @staticmethod
    def field(path: Path_) -> str:
        """``path`` as messages name it: ``posts[0].overrides.x.text``."""
        return _field(path)


def write_schema(target: Path = SCHEMA_PATH) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(schema_text(), encoding="utf-8")


if __name__ == "__main__":  # python -m publisher.queuefile: regenerate the committed schema
    write_schema(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH)
    print(f"wrote {sys.argv[1] if len(sys.argv) > 1 else SCHEMA_PATH}")
