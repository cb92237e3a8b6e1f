"""The redactor: secret values out of text that comes from outside, without telling an editor
whether they guessed one.

**Outside text.** A network's answer, an exception, a header a library logs: any of them may
carry a credential, and rarely as written. ``Redactor.add`` registers, for each secret value,
every form it travels in, and ``scrub`` masks each with ``***``:

* the value, and each of its non-alphanumeric characters in any mix of: percent-encoded
  (once or twice, either hex case, ``+`` for a space — ``quote``, ``quote_plus``, RFC 3986
  and OAuth 1.0a, whose ``oauth_consumer_key="…"`` and ``oauth_token="…"`` are exactly
  ``quote(v, safe="")``), JSON-escaped (``\\"``, ``\\/``, ``\\uXXXX``), HTML entities;
* its base64, standard or URL-safe, padded or not. A secret is often encoded *inside* a larger
  string (``Basic base64(user:secret)``, a JWT, a token in an encoded JSON blob), where it may
  start at any of three byte offsets; for each offset, the characters that depend only on the
  secret's bytes are a "core" that any such encoding contains, whatever surrounds it. The
  cores are masked, and the full encoding when the secret ends the blob;
* its hex, in either case.

Values shorter than ``MIN_LENGTH`` are not registered: they cannot be told apart from ordinary
words. Scrubbing stays linear and cheap: each form has an *anchor*, its longest run of
letters and digits (which no encoding above changes); ``str.find`` looks for the anchors, and
a secret's compiled pattern only runs in a window around a hit. A line without any anchor,
nearly every line, costs a few ``find`` calls.

**No oracle.** Text an editor wrote is never masked, for masking would confirm a guess: a post
whose text holds a secret's value would show ``***`` where a wrong guess of the same length
shows itself. So the rules are:

* What shows an editor their own text shows it as written, unscrubbed: ``dry-run``,
  ``validate``, a post's id in ``status`` and ``history``, and the queue diagnostics. The
  editor wrote it; showing it back reveals nothing, right guess or wrong.
* Where a post is "published" to the log (the ``log`` network, a rehearsal's payload lines),
  its text is shown as written too: it is content, which a real network would show to
  everyone, not one of our secrets, and payloads never carry a credential (a test checks
  every network's). Scrubbing it there would be the oracle again.
* Outside text about a post (a network's error that quotes the post back) is scrubbed inside
  a ``PostScope``: every run of ``MIN_LENGTH`` or more characters it shares with the post's
  content (as written, or escaped for JSON, HTML or a URL) is masked with the same ``***`` as
  a secret, and touching marks merge into one: a right guess quoted back lies inside such a
  run, and so does a wrong one, so both vanish into one mark. A run is masked whole only if
  it holds ``MIN_LENGTH`` characters of the post besides its credential-like words (runs of
  base64, hex or URL characters); otherwise only those words are (the ones with
  ``MIN_LENGTH`` characters in the run): when the post holds the
  right value, a network's own copy of it (a header it quotes) matches the post too, and a
  character or two beside the copy may match what the editor wrote beside the guess; they
  must not join the mark, for beside a wrong guess they would not. Both rules read the text,
  never the secrets, so they treat a right guess and a wrong one of the same shape alike.
* Identifiers an editor chose (the post's id, its media file names) are kept as written in
  the lines the daemon composes about the post, as are values marked ``Verbatim`` (the
  queue's diagnostics) and our words about the editor's text (``PostScope.keep``): the log
  formatter scrubs the rest of the line around them. Outside text keeps no names: a
  network's copy of a secret is masked even when the post is named after it.

What remains possible, and is not a leak: an editor who already knows a secret can publish it
(that is what posting is), or name a post after it; the product never tells them whether a
string is one. The limits of the rules above, all of which need a network that quotes the
post back or quotes a credential: a quote in an encoding not listed (the post in base64, say)
is not recognised as the post's; and a network's copy of a secret that is quoted next to
characters the editor reproduced beside their guess can take those characters into its mark
for a right guess and not for a wrong one, if the secret is not credential-like (a password
with spaces) or the characters are letters or digits glued to it. A network's answer is
still never shown unscrubbed.
"""

from __future__ import annotations

import base64
import contextvars
import html
import json
import re
import string
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import quote, quote_plus

MIN_LENGTH = 8
MASK = "***"
_SHORT = 4096  # below this, one look for any anchor first; above, each secret looks itself

_ALNUM = frozenset(string.ascii_letters + string.digits)
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_HTML_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
# Base64's own punctuation: each alphabet's character stands for the other's.
_B64_TWIN = {"+": "-", "/": "_", "-": "+", "_": "/"}


def _hex(n: int, width: int) -> str:
    """``n`` in hex, as a pattern that takes either case."""
    return "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in f"{n:0{width}X}")


def _atom(c: str, twins: str = "") -> tuple[str, int]:
    """A pattern for one character of an encoded secret, and the most text it can match."""
    if c in _ALNUM:
        return c, 1
    alts = [re.escape(c), *(re.escape(t) for t in twins)]
    data = c.encode("utf-8")
    alts.append("".join("%(?:25)?" + _hex(b, 2) for b in data))  # percent-encoded, once or twice
    if c == " ":
        alts.append(r"\+")
    code = ord(c)
    units = (
        [code]
        if code < 0x10000
        else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
    )
    alts.append("".join(r"\\u" + _hex(u, 4) for u in units))
    if c in _JSON_SHORT:
        alts.append(re.escape(_JSON_SHORT[c]))
    if c in _HTML_NAMED:
        alts.append(re.escape(_HTML_NAMED[c]))
    alts.append(f"&#(?:0{{0,4}}{code}|[xX]0{{0,4}}{_hex(code, 1)});")
    width = max(5 * len(data), 6 * len(units), 16 + len(str(code)))
    return "(?:" + "|".join(alts) + ")", width


@dataclass(frozen=True)
class _Form:
    """One encoding of a secret: a pattern, the anchor every match contains, its widest match."""

    pattern: str
    anchor: str
    width: int


def _form(chars: str, tail: str = "", b64: bool = False) -> _Form:
    parts, width = [], 0
    for c in chars:
        p, w = _atom(c, _B64_TWIN.get(c, "") if b64 else "")
        parts.append(p)
        width += w
    if tail:  # the last partial character and any padding, when the secret ends the encoding
        nested = ""
        for c in reversed(tail):
            p, w = _atom(c, _B64_TWIN.get(c, "") if b64 else "")
            nested = f"(?:{p}{nested})?"
            width += w
        parts.append(nested)
    runs = re.findall(r"[A-Za-z0-9]+", chars)
    anchor = max(runs, key=len) if runs else ""
    return _Form("".join(parts), anchor, width)


def forms(value: str) -> list[_Form]:
    """Every form ``value`` travels in (see the module docstring)."""
    raw = value.encode("utf-8")
    out = [_form(value)]
    # What gets base64-encoded is sometimes the value already escaped for a URL or JSON.
    escaped = [json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]
    texts = dict.fromkeys(
        [value, quote(value, safe=""), *escaped, *(e.replace("/", "\\/") for e in escaped)]
    )
    for text in texts:
        data = text.encode("utf-8")
        for pad in range(3):
            encoded = base64.b64encode(bytes(pad) + data).decode("ascii")
            first = -(-8 * pad // 6)  # the first character made of the value's bits only
            end = 8 * (pad + len(data)) // 6  # past the last one
            out.append(_form(encoded[first:end], encoded[end:], b64=True))
    out.append(_form(raw.hex()))
    out.append(_form(raw.hex().upper()))
    return out


@dataclass(frozen=True)
class _Secret:
    """One registered value: its forms' anchors, and one compiled pattern for all of them."""

    anchors: tuple[tuple[str, int], ...]  # (anchor, widest match), anchors of 3+ characters
    pattern: re.Pattern[str]
    loose: bool  # a form without a usable anchor: the pattern runs over the whole text

    @classmethod
    def of(cls, value: str) -> _Secret:
        fs = sorted(forms(value), key=lambda f: f.width, reverse=True)
        anchors: dict[str, int] = {}
        loose = False
        for f in fs:
            if len(f.anchor) >= 3:
                anchors[f.anchor] = max(anchors.get(f.anchor, 0), f.width)
            else:
                loose = True
        pattern = re.compile("|".join(f"(?:{f.pattern})" for f in fs))
        return cls(tuple(anchors.items()), pattern, loose)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        if self.loose:
            for m in self.pattern.finditer(text):
                yield m.span()
            return
        windows: list[tuple[int, int]] = []
        for anchor, width in self.anchors:
            i = text.find(anchor)
            while i >= 0:
                windows.append((max(0, i - width), i + len(anchor) + width))
                i = text.find(anchor, i + 1)
        if not windows:
            return
        windows.sort()
        lo, hi = windows[0]
        for a, b in windows[1:]:
            if a > hi:
                yield from (m.span() for m in self.pattern.finditer(text, lo, hi))
                lo = a
            hi = max(hi, b)
        yield from (m.span() for m in self.pattern.finditer(text, lo, hi))


class Verbatim(str):
    """Text an editor wrote (or our words quoting it): the log shows it as written."""

    __slots__ = ()


class PostScope:
    """What an editor wrote for the post being handled (see the module docstring).

    ``names`` (its id, file names, the account) are shown as written in the lines we compose
    about the post. ``content`` (a callable: nothing is computed unless outside text about the
    post needs scrubbing) is masked where outside text quotes it back. ``keep`` adds our own
    words about the editor's text (why it cannot be rendered), shown as written everywhere.
    """

    def __init__(self, names: Iterable[str], content: Callable[[], Iterable[str]]) -> None:
        self.names = {n for n in names if n}
        self.verbatim: set[str] = set()
        self._content = content

    def keep(self, text: str) -> None:
        if text:
            self.verbatim.add(text)

    @cached_property
    def _grams(self) -> frozenset[str]:
        out: set[str] = set()
        for text in self._content():
            for v in _echo_variants(text):
                out.update(v[i : i + MIN_LENGTH] for i in range(len(v) - MIN_LENGTH + 1))
        return frozenset(out)

    def echoes(self, text: str) -> list[tuple[int, int]]:
        """Spans of ``text`` that are runs of ``MIN_LENGTH``+ characters of the content."""
        grams = self._grams
        spans: list[tuple[int, int]] = []
        if not grams:
            return spans
        for i in range(len(text) - MIN_LENGTH + 1):
            if text[i : i + MIN_LENGTH] in grams:
                end = i + MIN_LENGTH
                if spans and i <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((i, end))
        return spans


def _echo_variants(text: str) -> set[str]:
    """The content as a network may quote it back: as sent, or escaped for JSON, HTML or a
    URL."""
    return {
        text,
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        html.escape(text, quote=False),
        quote(text, safe=""),
        quote_plus(text),
    }


_SCOPE: contextvars.ContextVar[PostScope | None] = contextvars.ContextVar(
    "publisher_post_scope", default=None
)


def enter_post(scope: PostScope | None) -> contextvars.Token[PostScope | None]:
    """Make ``scope`` the post this task is handling (an asyncio task has its own)."""
    return _SCOPE.set(scope)


def ours(text: str) -> str:
    """Mark ``text`` as our own words about the post being handled (a media file refused at
    send time, say): shown as written, never taken for the network quoting the post back."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.keep(text)
    return text


def _occurrences(text: str, names: Iterable[str]) -> list[tuple[int, int]]:
    """Where the kept names are, as written and as a JSON string (a log field) writes them."""
    needles = set()
    for name in names:
        needles.add(name)
        needles.add(json.dumps(name, ensure_ascii=False)[1:-1])
    out = []
    for needle in needles:
        i = text.find(needle)
        while i >= 0:
            out.append((i, i + len(needle)))
            i = text.find(needle, i + 1)
    return out


def _without(spans: list[tuple[int, int]], kept: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` less the kept ones: a span inside a kept one is dropped, one that overlaps it
    is cut down to what lies outside."""
    out = []
    for start, end in spans:
        if any(a <= start and end <= b for a, b in kept):
            continue
        pieces = [(start, end)]
        for a, b in kept:
            pieces = [
                piece
                for s, e in pieces
                for piece in ([(s, e)] if b <= s or a >= e else [(s, a), (b, e)])
                if piece[0] < piece[1]
            ]
        out.extend(pieces)
    return out


# What a credential is written with (base64 of both kinds, hex, percent-encoding, JWTs).
_CREDENTIAL_LIKE = re.compile(r"[A-Za-z0-9+/=_.~%-]{" + str(MIN_LENGTH) + ",}")


def _echo_marks(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """What to mask of the runs of ``text`` that quote the post back.

    A run is masked whole when, apart from the credential-like words in it, it still has
    ``MIN_LENGTH`` characters of the post: it is the post quoted back. Otherwise it may be a
    network's own copy of a credential that happens to touch a few characters also found next
    to the same value in the post (an editor who guessed it): then only the credential-like
    words of which ``MIN_LENGTH`` characters or more lie in the run are masked, never a few
    touching characters. Both tests read ``text`` alone, never the secrets, so a right guess
    and a wrong one (of the same shape) get the same marks.
    """
    if not runs:
        return runs
    words = [m.span() for m in _CREDENTIAL_LIKE.finditer(text)]
    out: list[tuple[int, int]] = []
    for start, end in runs:
        inside = [(max(start, a), min(end, b)) for a, b in words if a < end and b > start]
        rest = _without([(start, end)], inside)
        if any(b - a >= MIN_LENGTH for a, b in rest):
            out.append((start, end))
        else:
            out.extend((a, b) for a, b in inside if b - a >= MIN_LENGTH)
    return out


_CLIP_MARGIN = 16_384  # more than any encoded secret is long


class Redactor:
    """Process-wide set of secret values to scrub from any text that leaves the process."""

    def __init__(self) -> None:
        self._secrets: dict[str, _Secret] = {}
        self._lock = threading.Lock()
        self._all: tuple[_Secret, ...] = ()
        # Every anchor at once, for the common case: a short line that holds none.
        self._anchors: tuple[str, ...] = ()
        self._loose = False

    def add(self, value: str) -> None:
        if len(value) < MIN_LENGTH:  # cannot be told apart from ordinary text
            return
        if value in self._secrets:
            return
        entry = _Secret.of(value)  # compiled outside the lock: one value at a time is enough
        with self._lock:
            if value not in self._secrets:
                self._secrets[value] = entry
                self._all = tuple(self._secrets.values())
                self._anchors = tuple({a for e in self._all for a, _ in e.anchors})
                self._loose = any(e.loose for e in self._all)

    def scrub(self, text: str, *, keep: Iterable[str] = (), echoes: bool = True) -> str:
        """``text`` with every form of every secret masked.

        ``keep``: strings shown as written (a match inside one is left). Inside a
        ``PostScope``, its ``keep`` texts are kept too, and then: for text from outside
        (``echoes``), the post's content quoted back is masked, the mark merging with any
        secret's next to it, so that a secret the editor wrote and one the network added look
        alike; for lines we composed from scrubbed parts (not ``echoes``: the log formatter),
        the post's names are kept.
        """
        scope = _SCOPE.get()
        kept_names = [k for k in keep if k]
        spans: list[tuple[int, int]] = []
        if scope is not None:
            kept_names.extend(scope.verbatim)
            if echoes:
                spans = _echo_marks(text, scope.echoes(text))
            else:
                kept_names.extend(scope.names)
        short = len(text) < _SHORT and not self._loose
        if not spans and short and not any(map(text.__contains__, self._anchors)):
            return text
        for secret in self._all:
            spans.extend(secret.spans(text))
        if kept_names and spans:
            spans = _without(spans, _occurrences(text, kept_names))
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        pos = 0
        for start, end in spans:
            if start <= pos and out:  # touches or overlaps the mark just made: widen it
                pos = max(pos, end)
                continue
            out.append(text[pos:start])
            out.append(MASK)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def clip(self, text: str | bytes, limit: int) -> str:
        """At most ``limit`` characters of outside text, scrubbed *before* it is cut: cut
        first, half a secret would be left that no pattern matches any more."""
        if isinstance(text, bytes):
            text = text[: limit + _CLIP_MARGIN].decode("utf-8", "replace")
        return self.scrub(text[: limit + _CLIP_MARGIN])[:limit]


REDACTOR = Redactor()
