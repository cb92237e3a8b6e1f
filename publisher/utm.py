"""Link tracking: UTM parameters added to a post's links for one account, before render.

The operator sets them per network (``[utm.x]``) or per account (``utm = {...}`` in the
account's table, key by key over its network's); values may name ``{post_id}``,
``{account}`` and ``{network}``. They are added where the post's content is made for an
account, so render, ``validate`` and ``dry-run`` all see the links as they go out and count
them with each network's own rule. A link is left as written when:

- it already carries any ``utm_`` parameter (the editor's own tracking wins, and tagging
  twice changes nothing);
- the editor listed it (or a prefix of it) in the post's ``keep_links:``;
- it has no ``http://`` or ``https://`` (``example.com``): adding a query would change what
  the network shows as the link's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from publisher.text import extract_urls

FIELDS = ("post_id", "account", "network")


def check_values(params: Mapping[str, str]) -> str | None:
    """Why these parameters cannot be used (an unknown ``{field}``, a bad name); None: fine."""
    import string

    for key, value in params.items():
        if not key or not all(c.isalnum() or c in "_-." for c in key):
            return f"{key!r} is not a parameter name (letters, digits, '_', '-', '.')"
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(value) if n is not None]
        except ValueError as err:
            return f"{key} = {value!r} is not a template: {err}"
        for name in names:
            if name not in FIELDS:
                known = ", ".join("{" + f + "}" for f in FIELDS)
                return f"{key} = {value!r} names {{{name}}}, which is none of: {known}"
    return None


def parameters(
    params: Mapping[str, str], *, post_id: str, account: str, network: str
) -> tuple[tuple[str, str], ...]:
    """The parameters for one post and account, placeholders filled, ``utm_`` added to bare
    names (``source`` is ``utm_source``), empty values left out."""
    values = {"post_id": post_id, "account": account, "network": network}
    out = []
    for key, template in params.items():
        value = template.format_map(values)
        if value:
            out.append((key if key.startswith("utm_") else f"utm_{key}", value))
    return tuple(out)


def kept(url: str, keep: Sequence[str]) -> bool:
    return any(url == k or url.startswith(k) for k in keep)


def tag_url(url: str, params: Sequence[tuple[str, str]]) -> str:
    """``url`` with ``params`` added to its query, unless it has a ``utm_`` one already."""
    if not params:
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower().startswith("utm_") for k, _ in query):
        return url
    extra = urlencode(list(params))
    joined = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


def tag_text(text: str, params: Sequence[tuple[str, str]], keep: Sequence[str] = ()) -> str:
    """Every link with a protocol in ``text`` tagged (see the module's rules)."""
    if not params or "://" not in text:
        return text
    out = text
    for match in reversed(extract_urls(text, without_protocol=False)):
        if not match.has_protocol or kept(match.url, keep):
            continue
        tagged = tag_url(match.url, params)
        if tagged != match.url:
            out = out[: match.start] + tagged + out[match.end :]
    return out
