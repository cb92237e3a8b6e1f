"""Render time at the size limit (issue 19, item 2): each network, on the slowest texts found.

A render is pure CPU (the daemon runs it in a worker thread), so it is timed in this process:
each network's adapter, built for rendering only, renders texts of ``MAX_TEXT_CHARS``
characters; the slowest of them per network is the figure, and ordinary prose for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from random import Random

from publisher.adapters.base import Adapter, AdapterContext, PostContent
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def prose(n: int) -> str:
    """Sentences with a link, a tag, a mention or an emoji now and then, in paragraphs."""
    rng = Random(19)
    words = ["the", "a", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and"]
    words += ["then", "we", "said", "hello", "café", "naïve"]
    extras = ["https://example.com/a/b?c=d", "example.org", "#tag", "@someone", "\U0001f600"]
    out: list[str] = []
    size = 0
    while size < n:
        sentence = [rng.choice(words) for _ in range(rng.randint(6, 18))]
        if rng.random() < 0.3:
            sentence.insert(rng.randrange(len(sentence)), rng.choice(extras))
        piece = " ".join(sentence).capitalize() + (".\n\n" if rng.random() < 0.1 else ". ")
        out.append(piece)
        size += len(piece)
    return "".join(out)[:n]


# The slowest inputs found for issue 19 (tests/text/test_item2_bounded_text.py has them all).
WORST: dict[str, Callable[[int], str]] = {
    '"a." repeated (the report)': _repeat("a."),
    "URLs without spaces": _repeat("(a.co/"),
    "URLs": _repeat("a.co "),
    "subdomains": _repeat("a.a.a.com "),
    "mentions and URLs": _repeat("@a@b.cc http://x.co "),
    "emoji": _repeat("\U0001f600"),
    "hashtags": _repeat("#a "),
}


def adapters() -> dict[str, Adapter]:
    ctx = AdapterContext(None, FakeClock(datetime(2026, 12, 1, tzinfo=UTC)))
    token = Secret("BENCH_TOKEN", "bench-token-0123456789")
    return {
        "x": XAdapter("x", XSettings(oauth2_token=token), ctx),
        "bluesky": BlueskyAdapter(
            "bsky", BlueskySettings(handle="brand.bsky.social", app_password=token), ctx
        ),
        "mastodon": MastodonAdapter(
            "masto", MastodonSettings(instance="https://masto.example", token=token), ctx
        ),
        "facebook": FacebookAdapter("fb", FacebookSettings(page_id="1", page_token=token), ctx),
        "linkedin": LinkedInAdapter(
            "li", LinkedInSettings(author="urn:li:organization:1", token=token), ctx
        ),
        "log": LogAdapter("log", LogSettings(), ctx),
    }


def render_times(size: int) -> list[tuple[str, str, float, int]]:
    """(network, text, seconds, parts) for the slowest of ``WORST`` per network, then prose."""
    rows: list[tuple[str, str, float, int]] = []
    texts = {name: make(size) for name, make in WORST.items()}
    plain = prose(size)
    for network, adapter in adapters().items():
        timed: list[tuple[float, str, int]] = []
        for name, text in [*texts.items(), ("prose", plain)]:
            started = time.perf_counter()
            rendered = adapter.render(PostContent("bench", adapter.account, network, text))
            timed.append((time.perf_counter() - started, name, len(rendered.parts)))
        slowest = max(t for t in timed if t[1] != "prose")
        rows.append((network, slowest[1], slowest[0], slowest[2]))
        rows.append((network, "prose", timed[-1][0], timed[-1][2]))
    return rows


def counting_times(posts: int = 10_000) -> list[tuple[str, float]]:
    """(network, seconds) to count ``posts`` ordinary posts with each network's length rule:
    the count ``validate`` and render run on every post (it was a 2 s bound in a test)."""
    texts = [
        f"Post {i}: our release ships today with faster sync, see "
        "https://example.com/a/rather/long/path/that/goes/on?and=on&and=on "
        "#release @alice@fosstodon.org \U0001f44d\U0001f3fd \u65e5\u672c\u8a9e and more words."
        for i in range(posts)
    ]
    rows = []
    for network, adapter in adapters().items():
        count = adapter.capabilities().length.count
        started = time.perf_counter()
        for text in texts:
            count(text)
        rows.append((network, time.perf_counter() - started))
    return rows
