"""URLs, hashtags, mentions and cashtags found the way the networks find them.

URL detection is a port of twitter-text's ``extractUrlsWithIndices`` (v3, Apache-2.0): X counts
every URL it detects as 23, so we must detect exactly what X detects or our length check lies.
Mastodon and Bluesky detect URLs with close cousins of the same rules, so one detector serves all.

Mentions are wider than X's ``@name``: a mention is ``@name`` where ``name`` is letters, digits
and ``_`` optionally continued by ``.``/``-`` separated labels (so a Bluesky handle such as
``@alice.bsky.social`` is one mention), optionally followed by ``@domain`` (a fediverse account,
``@alice@mastodon.social``). A trailing ``.`` or ``-`` is never part of a mention.

All indexes are Python ``str`` indexes (code points).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import regex

from publisher.text.tlds import COUNTRY_TLDS, GENERIC_TLDS

EntityKind = Literal["url", "hashtag", "mention", "cashtag"]


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity; ``text`` is exactly ``source[start:end]`` (sigil included)."""

    kind: EntityKind
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class UrlMatch:
    """A detected URL; ``has_protocol`` matters to Mastodon, which shortens only those."""

    start: int
    end: int
    url: str
    has_protocol: bool


# ---------------------------------------------------------------------------
# twitter-text's building blocks, as regular-expression fragments.

_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID_CHARS = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_PUNCT = re.escape("!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~\\")
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"


_Trie = dict[str, "_Trie"]


def _trie_pattern(words: list[str]) -> str:
    """An alternation of ``words`` factored as a trie: the regex engine then tries a handful of
    branches per position instead of every one of ~1,600 TLDs."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return build(trie)


_TLD_END = r"(?=[^0-9a-zA-Z@+\-]|$)"
_ALL_TLDS = sorted(GENERIC_TLDS | COUNTRY_TLDS)
# Generic or country, a TLD is a TLD: one trie for the ASCII ones, and one for the rest behind
# a guard so ASCII text never walks the non-ASCII branches (sre tries those one by one).
_TLD = (
    f"(?:(?:{_trie_pattern([t for t in _ALL_TLDS if t[0].isascii()])}"
    f"|(?=[^\\x00-\\x7f]){_trie_pattern([t for t in _ALL_TLDS if not t[0].isascii()])})"
    f"{_TLD_END})"
)
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"

_DOMAIN_CHAR = f"[^{_PUNCT}{_SPACES}{_INVALID_CHARS}{_DIRECTIONAL}]"
_SUBDOMAIN = f"(?:(?:{_DOMAIN_CHAR}(?:[_\\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN_NAME = f"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN = f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_TLD}|{_PUNYCODE}))"

_PRECEDING = f"(?:[^A-Za-z0-9@＠$#＃{_INVALID_CHARS}]|[{_DIRECTIONAL}]|^)"
_PATH_CHAR = f"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]\\-\u2013_~&|@{_LATIN_ACCENTS}]"
_BALANCED_PARENS = f"\\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\\({_PATH_CHAR}+\\){_PATH_CHAR}*))\\)"
_PATH_END = f"(?:[+\\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|(?:{_BALANCED_PARENS}))"
_PATH = f"(?:(?:{_PATH_CHAR}*(?:{_BALANCED_PARENS}{_PATH_CHAR}*)*{_PATH_END})|(?:@{_PATH_CHAR}+/))"
_QUERY_CHAR = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"

_URL_RE = re.compile(
    f"(?P<before>{_PRECEDING})"
    "(?P<url>"
    r"(?P<protocol>https?://)?"
    f"(?P<domain>{_DOMAIN})"
    r"(?::[0-9]+)?"
    f"(?P<path>/{_PATH}*)?"
    f"(?:\\?{_QUERY_CHAR}*{_QUERY_END})?"
    ")",
    re.IGNORECASE,
)
_TCO_RE = re.compile(f"^https?://t\\.co/([a-z0-9]+)(?:\\?{_QUERY_CHAR}*{_QUERY_END})?", re.I)
_ASCII_DOMAIN_RE = re.compile(
    f"(?:(?:[\\-a-z0-9{_LATIN_ACCENTS}]+)\\.)+(?:{_TLD}|{_PUNYCODE})", re.IGNORECASE
)
_NO_PROTOCOL_BAD_BEFORE = re.compile(r"[\-_./]$")

_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_DOMAIN_LABEL_LENGTH = 63


def _punycode_label_length(label: str) -> int:
    if label.isascii():
        return len(label)
    try:
        return 4 + len(label.encode("punycode"))
    except UnicodeError:
        return 0


def _ascii_domain_length(domain: str) -> int | None:
    """Length of the domain once punycode-encoded, or None if X would reject it."""
    if domain.startswith("xn--") and not _ASCII_DOMAIN_RE.search(domain):
        return None  # punycode cannot contain non-ASCII characters
    total = 0
    for label in domain.split("."):
        length = _punycode_label_length(label)
        if length < 1 or length > _MAX_DOMAIN_LABEL_LENGTH:
            return None
        total += length
    return total + domain.count(".")


def _is_valid_url(url: str, protocol: str, domain: str) -> bool:
    encoded = _ascii_domain_length(domain)
    if not encoded:
        return False
    return len(protocol) + len(url) + encoded - len(domain) <= _MAX_URL_LENGTH


# A space-free run holding a dot followed by what could start a TLD: only these can hold a URL.
_TOKEN_RE = re.compile(f"[^{_SPACES}]*\\.[^{_SPACES}{_PUNCT}][^{_SPACES}]*")


def _url_matches(text: str, with_protocol_only: bool) -> Iterator[re.Match[str]]:
    """``_URL_RE.finditer(text)``, run only over the space-free runs that may hold a URL.

    No URL spans a space (a space may only be its preceding character), so scanning each such
    run from the space before it gives exactly the matches of one scan of the whole text, at a
    fraction of the cost on long posts.
    """
    for token in _TOKEN_RE.finditer(text):
        if with_protocol_only and "://" not in token.group():
            continue
        start = token.start()
        yield from _URL_RE.finditer(text, start - 1 if start else 0, token.end())


def extract_urls(text: str, *, without_protocol: bool = True) -> list[UrlMatch]:
    """URLs as twitter-text's ``extractUrlsWithIndices`` finds them (code point indexes)."""
    if not text or ("." not in text if without_protocol else ":" not in text):
        return []
    urls: list[UrlMatch] = []
    for m in _url_matches(text, not without_protocol):
        before, url, protocol, domain, path = m.group("before", "url", "protocol", "domain", "path")
        start, end = m.start("url"), m.end("url")
        if not _is_valid_url(url, protocol or "https://", domain):
            continue
        if not protocol:
            if not without_protocol or _NO_PROTOCOL_BAD_BEFORE.search(before):
                continue
            last: UrlMatch | None = None
            for am in _ASCII_DOMAIN_RE.finditer(domain):
                last = UrlMatch(start + am.start(), start + am.end(), am.group(), False)
                urls.append(last)
            if last is None:
                continue
            if path:
                # The last ASCII domain carries the path and query.
                urls[-1] = UrlMatch(last.start, end, text[last.start : end], False)
        else:
            tco = _TCO_RE.match(url)
            if tco:
                if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco.group()
                end = start + len(url)
            urls.append(UrlMatch(start, end, url, True))
    return urls


# ---------------------------------------------------------------------------
# Hashtags, cashtags and mentions.

_HASHTAG_SPECIAL = (
    "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b"
    "\u0f0c\u00b7"
)
_HASHTAG_ALNUM = f"[\\p{{L}}\\p{{M}}\\p{{Nd}}{_HASHTAG_SPECIAL}]"
_HASHTAG_RE = regex.compile(
    f"(?:(?<=[\ufe0e\ufe0f])|(?<![&\\p{{L}}\\p{{M}}\\p{{Nd}}{_HASHTAG_SPECIAL}]))"
    f"[#＃](?![\ufe0f\u20e3])"
    f"(?:{_HASHTAG_ALNUM}*[\\p{{L}}\\p{{M}}]{_HASHTAG_ALNUM}*)"
)
_HASHTAG_BAD_AFTER = regex.compile("[#＃]|://")

_CASHTAG_RE = re.compile(
    f"(?:(?<=^)|(?<=[{_SPACES}]))\\$[a-z]{{1,6}}(?:[._][a-z]{{1,2}})?(?=$|[{_SPACES}]|[{_PUNCT}])",
    re.IGNORECASE,
)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_WORD = "[A-Za-z0-9_]"
_MENTION_RE = regex.compile(
    # Not after a word character or an email-ish sign, except X's "RT@user" / "RT:@user".
    r"(?:(?<![=/A-Za-z0-9_@＠!#$%&*])|(?<=(?:^|[^A-Za-z0-9_+~.\-])[Rr][Tt]:?))"
    r"[@＠]"
    f"(?P<user>{_WORD}+(?:[.\\-]{_WORD}+)*)"
    f"(?P<domain>@{_LABEL}(?:\\.{_LABEL})+)?"
    f"(?![@＠A-Za-z0-9_{_LATIN_ACCENTS}]|://)",
)


def extract_hashtags(text: str) -> list[tuple[int, int]]:
    """Hashtag spans (``#`` included) by twitter-text's rule; an all-digit tag is no tag."""
    if "#" not in text and "＃" not in text:
        return []
    spans: list[tuple[int, int]] = []
    for m in _HASHTAG_RE.finditer(text):
        if _HASHTAG_BAD_AFTER.match(text, m.end()):
            continue
        spans.append((m.start(), m.end()))
    return spans


def extract_cashtags(text: str) -> list[tuple[int, int]]:
    if "$" not in text:
        return []
    return [(m.start(), m.end()) for m in _CASHTAG_RE.finditer(text)]


def extract_mentions(text: str) -> list[tuple[int, int, int]]:
    """Mention spans as (start, end, end of the local part): ``@a@b.c`` gives (0, 6, 2)."""
    if "@" not in text and "＠" not in text:
        return []
    return [(m.start(), m.end(), m.end("user")) for m in _MENTION_RE.finditer(text)]


def _remove_overlaps(found: list[Entity]) -> list[Entity]:
    """Earliest entity wins, as twitter-text's ``removeOverlappingEntities``; a URL wins a tie."""
    order: dict[str, int] = {"url": 0, "mention": 1, "hashtag": 2, "cashtag": 3}
    found.sort(key=lambda e: (e.start, order[e.kind]))
    kept: list[Entity] = []
    for entity in found:
        if kept and entity.start < kept[-1].end:
            continue
        kept.append(entity)
    return kept


def find_entities(text: str) -> list[Entity]:
    """Every URL, hashtag, mention and cashtag, in order, none overlapping."""
    found = [Entity("url", u.start, u.end, u.url) for u in extract_urls(text)]
    for start, end in extract_hashtags(text):
        found.append(Entity("hashtag", start, end, text[start:end]))
    for start, end, _ in extract_mentions(text):
        found.append(Entity("mention", start, end, text[start:end]))
    for start, end in extract_cashtags(text):
        found.append(Entity("cashtag", start, end, text[start:end]))
    return _remove_overlaps(found)
