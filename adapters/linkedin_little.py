"""LinkedIn's "little" text format, in which a post's commentary is written (pure).

``\\ | { } @ [ ] ( ) < > # * _ ~`` are reserved, and LinkedIn does not refuse a commentary
with one left unescaped: it silently cuts the text at it. The adapter
(``publisher.adapters.linkedin``) escapes commentary with it and reads it back for lookups.
"""

from __future__ import annotations

import re

from publisher.text import find_entities

RESERVED = frozenset("\\|{}@[]()<>#*_~")
HASHTAG_SIGNS = {"#": "\\#", "＃": "＃"}  # the template's sign: '#' is reserved, '＃' is not
_LITTLE_TOKEN = re.compile(
    r"\{hashtag\|(?P<sign>\\#|#|＃)\|(?P<tag>[^{}|\\]*)\}"
    r"|@\[(?P<name>(?:\\.|[^\]\\])*)\]\((?P<urn>urn:li:[^)]*)\)"
    r"|\\(?P<escaped>.)",
    re.DOTALL,
)


def escape_little(text: str) -> str:
    """``text`` as little commentary: every reserved character escaped, hashtags as templates.

    A hashtag (found by the shared entity rules, so a ``#`` inside a URL is no hashtag) becomes
    ``{hashtag|\\#|tag}``. A tag holding ``_`` stays escaped plain text: the template's grammar
    for a value with a reserved character is undocumented, and a cut post is worse than an
    unlinked tag.
    """
    out: list[str] = []
    pos = 0
    for entity in find_entities(text):
        if entity.kind != "hashtag":
            continue
        sign, tag = entity.text[0], entity.text[1:]
        if not tag or any(ch in RESERVED for ch in tag) or sign not in HASHTAG_SIGNS:
            continue
        out.append(_escape_plain(text[pos : entity.start]))
        out.append(f"{{hashtag|{HASHTAG_SIGNS[sign]}|{tag}}}")
        pos = entity.end
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return "".join("\\" + ch if ch in RESERVED else ch for ch in text)


def unescape_little(commentary: str) -> str:
    """The plain text a little commentary shows: templates as ``#tag``, mentions as names."""

    def plain(m: re.Match[str]) -> str:
        if m.group("tag") is not None:
            sign = "＃" if m.group("sign") == "＃" else "#"
            return sign + m.group("tag")
        if m.group("name") is not None:
            return re.sub(r"\\(.)", r"\1", m.group("name"), flags=re.DOTALL)
        return m.group("escaped")

    return _LITTLE_TOKEN.sub(plain, commentary)
