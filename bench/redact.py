"""How fast the redactor scrubs: a 1 MB log line, and a typical 200-character one.

``python -m bench.redact`` from the repository root (or with another checkout first on
``PYTHONPATH`` to compare versions). Eight secrets of the shapes the example config holds (X's
four OAuth 1.0a values, a Mastodon token, a Facebook and a LinkedIn token, a Bluesky app
password) are registered; the 1 MB line is words, URLs, JSON and base64 noise with three
secrets in it (as written, percent-encoded, in a Basic header). Each figure is the best of
seven rounds: the machine's other work only ever slows a round down.
"""

from __future__ import annotations

import base64
import random
import string
import time
from collections.abc import Callable
from urllib.parse import quote

from publisher.secrets import Redactor


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _best(f: Callable[[], object], n: int) -> float:
    rounds = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(n):
            f()
        rounds.append((time.perf_counter() - start) / n)
    return min(rounds)


def main() -> None:
    rng = random.Random(19)
    urlsafe = string.ascii_letters + string.digits + "-_"
    secrets = [
        _token(rng, 25),
        _token(rng, 50),
        "1234567890-" + _token(rng, 40),
        _token(rng, 45),
        _token(rng, 43, urlsafe),
        "EAA" + _token(rng, 200),
        "AQV" + _token(rng, 340, urlsafe),
        "-".join(_token(rng, 4, string.ascii_lowercase) for _ in range(4)),
    ]
    redactor = Redactor()
    for s in secrets:
        redactor.add(s)
    words = [
        "the",
        "post",
        "was",
        "refused",
        "HTTP",
        "400",
        "status",
        "é",
        "→",
        "https://api.x.com/2/tweets",
        '{"detail":"x"}',
        "oauth_nonce",
        base64.b64encode(rng.randbytes(30)).decode(),
    ]
    chunks, size = [], 0
    while size < 1_000_000:
        w = rng.choice(words)
        chunks.append(w)
        size += len(w) + 1
    line = " ".join(chunks)
    basic = base64.b64encode(("u:" + secrets[1]).encode()).decode()
    mid = len(line) // 2
    line = f"{line[:mid]} {secrets[0]} {quote(secrets[4], safe='')} Basic {basic} {line[mid:]}"
    short = (
        "2026-12-01T09:00:00.000Z INFO publisher.engine: launch → brand-x published "
        "https://x.com/brand/status/1870000000000000001 action=publish post=launch "
        "account=brand-x network=x"
    )
    redactor.scrub("warm up")
    big = _best(lambda: redactor.scrub(line), 3)
    small = _best(lambda: redactor.scrub(short), 20_000)
    masks = redactor.scrub(line).count("***")
    print(
        f"1 MB line: {big * 1000:.1f} ms ({len(line) / big / 1e6:.0f} MB/s), {masks} masks; "
        f"{len(short)}-character line: {small * 1e6:.1f} µs"
    )


if __name__ == "__main__":
    main()
