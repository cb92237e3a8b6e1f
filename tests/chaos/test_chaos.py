"""kill -9 at random, again and again: never lose a post, never post twice.

The real daemon publishes over 500 deliveries to four networks (X, Facebook and Mastodon
strict local servers, the real Bluesky PDS) while it is SIGKILLed at seeded-random moments and
restarted. The verdict comes from what the servers hold, matched to the ledger: each post
at most once per account, every delivery accounted for, every published one really there
under the id the ledger gives, and nothing on a server the ledger does not know as published.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.chaos.servers import (
    ACCOUNT_NETWORK,
    Daemon,
    Networks,
    PlannedPost,
    Received,
    bluesky_received,
    judge,
    part_text,
    read_ledger,
    run_until_settled,
    secrets_env,
    unintended_replays,
    write_config,
    write_queue,
)
from tests.networks.bluesky.pds import Pds, unique_handle

SEED = 20261123
KILLS = 12
SINGLE_POSTS = 122  # to all four accounts
THREADS = 10  # two-part threads, to the three networks that thread (not Facebook)
SPREAD = timedelta(seconds=45)  # due times from the first to the last post
FIRST_DUE = timedelta(seconds=6)  # after the test starts: the first daemon takes ~2 s to start
WORDS = [
    "Bonjour",
    "les soldes continuent",
    "nouvelle collection",
    "atelier samedi",
    "merci à tous",
    "livraison offerte",
    "ouvert dimanche",
]


def plan_posts(first: datetime, rng: random.Random) -> list[PlannedPost]:
    total = SINGLE_POSTS + THREADS
    thread_at = set(rng.sample(range(total), THREADS))
    posts = []
    for i in range(total):
        post_id = f"chaos-{i:03d}"
        at = first + SPREAD * (i / (total - 1))
        words = rng.choice(WORDS)
        accounts: tuple[str, ...]
        if i in thread_at:
            parts = tuple(part_text(post_id, n, 2, f"{words} ({n + 1})") for n in range(2))
            accounts = ("chaos-x", "chaos-masto", "chaos-bsky")
        else:
            parts = (part_text(post_id, 0, 1, words),)
            accounts = tuple(ACCOUNT_NETWORK)
        posts.append(PlannedPost(post_id, at.replace(microsecond=0), accounts, parts))
    return posts


@pytest.mark.slow
def test_sigkill_at_random_never_loses_nor_doubles_a_post(tmp_path: Path, pds: Pds) -> None:
    rng = random.Random(SEED)
    bsky = pds.create_account(unique_handle("chaos"))
    began = time.monotonic()
    with Networks(latency=(0.02, 0.25)) as nets:
        config = write_config(
            tmp_path,
            nets,
            bsky,
            pds.url,
            engine={
                "request_timeout": "10s",
                "resolve_delay": "1s",
                "shutdown_timeout": "10s",
                "debounce": "100ms",
            },
            retry={"base_delay": "1s", "max_delay": "5s"},
        )
        posts = plan_posts(datetime.now(UTC) + FIRST_DUE, rng)
        write_queue(tmp_path / "queue.yaml", posts)
        daemon = Daemon(config, secrets_env(bsky))
        try:
            for _ in range(KILLS):
                daemon.start()
                time.sleep(rng.uniform(2.0, 5.5))  # ~2 s of it is the interpreter starting
                daemon.kill()
                time.sleep(rng.uniform(0.05, 0.6))
            daemon.start()
            doc = run_until_settled(daemon, timeout=120)
            assert daemon.terminate() == 0, daemon.output(last=1)[-5000:]
        finally:
            daemon.stop_if_running()
        received = nets.received() + bluesky_received(bsky)
        server_problems = nets.problems()
        replays = nets.idempotent_replays()
        publish_requests = Counter(
            rec.network for rec in nets.recorders.values() for a in rec.arrivals if a.publish
        )
    elapsed = time.monotonic() - began

    deliveries, attempts = read_ledger(tmp_path / "queue.db")
    expected = {(p.id, a): len(p.parts) for p in posts for a in p.accounts}
    states = Counter(d["state"] for d in deliveries)
    outcomes = Counter(a["outcome"] for a in attempts)
    print(
        f"\nchaos: {KILLS} kills, {len(deliveries)} deliveries, {dict(states)}; "
        f"attempts {dict(outcomes)}; publish requests {dict(publish_requests)} "
        f"(+ Bluesky); {len(received)} posts on the servers; {elapsed:.0f}s"
    )

    assert len(expected) >= 500
    assert server_problems == []
    unexplained = unintended_replays(replays, deliveries, attempts)
    assert unexplained == [], "Mastodon's idempotency hid a second send"
    problems = judge(deliveries, received, expected)
    assert problems == [], "\n".join(problems[:40]) + "\n" + daemon.output()[-8000:]
    # Nothing was refused, nothing was late: everything went out, or is honestly unknown.
    assert states["published"] + states["unknown"] == len(expected), dict(states)
    assert doc["counts"]["published"] == states["published"]
    # The kills really caught requests in flight, and the restarts resolved them.
    assert outcomes["interrupted"] >= 1, dict(outcomes)


def _delivery(post: str, account: str, state: str, *ids: str, **kw: object) -> dict[str, object]:
    parts = [{"index": i, "remote_id": r} for i, r in enumerate(ids)]
    return {
        "post_id": post,
        "account": account,
        "state": state,
        "parts": parts,
        "remote_id": ids[0] if ids else None,
        "reason": kw.get("reason"),
        "last_error": None,
    }


def test_the_verdict_sees_duplicates_losses_and_disagreements() -> None:
    """``judge`` is what the chaos tests rest on: it must not pass a bad outcome."""
    one = part_text("p1", 0, 1, "x")
    two = [part_text("p2", n, 2, "y") for n in range(2)]
    expected = {("p1", "chaos-x"): 1, ("p2", "chaos-masto"): 2}
    good = [_delivery("p1", "chaos-x", "published", "10"),
            _delivery("p2", "chaos-masto", "published", "20", "21")]
    held = [Received("x", "10", one), Received("mastodon", "20", two[0]),
            Received("mastodon", "21", two[1])]
    assert judge(good, held, expected) == []

    def verdict(deliveries: list[dict[str, object]], received: list[Received]) -> str:
        return "\n".join(judge(deliveries, received, expected))

    assert "DUPLICATE" in verdict(good, [*held, Received("x", "11", one)])
    assert "LOST" in verdict(good[1:], held[1:])
    assert "server holds parts []" in verdict(good, held[1:])  # published, not out
    assert "server holds as None" in verdict(
        [_delivery("p1", "chaos-x", "published", "99"), good[1]], held
    )
    assert "expected 2" in verdict([good[0], _delivery("p2", "chaos-masto", "published", "20")],
                                   held)
    assert "are out" in verdict([_delivery("p1", "chaos-x", "failed"), good[1]], held)
    assert "are out" in verdict([_delivery("p1", "chaos-x", "unknown", reason="?"), good[1]],
                                held)
    assert "without a reason" in verdict([_delivery("p1", "chaos-x", "unknown"), good[1]],
                                         held[1:])
    assert "left retrying" in verdict([_delivery("p1", "chaos-x", "retrying"), good[1]],
                                      held[1:])
    assert "did not write" in verdict(good, [*held, Received("x", "12", "hello")])
