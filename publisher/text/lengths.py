"""One length function per ``LengthKind``: each network's own way of counting a post."""

from __future__ import annotations

from publisher.adapters.base import LengthKind, LengthRule
from publisher.text.entities import extract_mentions
from publisher.text.graphemes import grapheme_length
from publisher.text.twitter import x_weighted_length
from publisher.text.urls import extract_urls


def mastodon_length(text: str, url_length: int = 23) -> int:
    """Mastodon's rule: a URL with a scheme counts ``url_length``, ``@user@domain`` as ``@user``.

    Mastodon reserves the URL length only for links with ``http(s)://``; a bare domain counts
    as written. Everything else is counted in code points, which is never less than the
    grapheme clusters Mastodon's server counts, so a post we accept is never refused.
    """
    if "." not in text:
        return len(text)
    length = len(text)
    urls = extract_urls(text, without_protocol=False)
    for url in urls:
        length += url_length - (url.end - url.start)
    # URLs and mentions both come in order, none overlapping its own kind: one sweep finds the
    # mentions inside a URL (a pair-by-pair check is quadratic in a text full of both).
    j = 0
    for start, end, local_end in extract_mentions(text):
        while j < len(urls) and urls[j].end <= start:
            j += 1
        if local_end == end or (j < len(urls) and urls[j].start < end):
            continue
        length -= end - local_end
    return length


def count_length(text: str, rule: LengthRule) -> int:
    """The length of ``text`` as the network of ``rule`` counts it."""
    kind = rule.kind
    if kind is LengthKind.X_WEIGHTED:
        return x_weighted_length(text)
    if kind is LengthKind.GRAPHEMES:
        return grapheme_length(text)
    if kind is LengthKind.MASTODON:
        return mastodon_length(text, rule.url_length)
    return len(text)
