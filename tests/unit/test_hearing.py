"""The listener's pure decisions (publisher.engine.hearing), in tables: when each stream is
read, what a failed read does, and which streams a config makes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from publisher.adapters.base import (
    AmbiguousError,
    Attention,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from publisher.engine import hearing
from publisher.engine.decide import RetryPolicy
from publisher.engine.hearing import MORE_GAP, SPREAD, Stream

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
POLICY = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=10), jitter=0.0)
S = Stream("alpha", "inbox", 5 * MIN)


def test_after_a_read_the_next_is_an_interval_later_or_soon_when_more_waits() -> None:
    assert hearing.after_read(S, False, NOW) == NOW + 5 * MIN
    assert hearing.after_read(S, True, NOW) == NOW + MORE_GAP
    assert S.every > MORE_GAP


def test_first_reads_spread_and_resume_an_interval_after_the_last() -> None:
    quick = Stream("beta", "inbox", timedelta(seconds=10))
    streams = [S, quick, Stream("gamma", "watch:brand", 15 * MIN)]
    got = hearing.first_reads(streams, {}, NOW)
    for s in streams:
        offset = got[s.key] - NOW
        assert timedelta(0) <= offset < min(SPREAD, s.every), s
        assert offset == hearing.spread(s)  # stable: the same stream, the same offset
    assert len({got[s.key] for s in streams}) > 1  # spread, not all at once
    last = {S.key: NOW - 2 * MIN, quick.key: NOW - 30 * MIN}
    got = hearing.first_reads([S, quick], last, NOW)
    assert got[S.key] == max(NOW + hearing.spread(S), NOW + 3 * MIN)  # an interval after
    assert got[quick.key] == NOW + hearing.spread(quick)  # overdue: soon, spread
    far = {S.key: NOW + 60 * MIN}  # a clock that went back: never more than an interval
    assert hearing.first_reads([S], far, NOW)[S.key] == NOW + 5 * MIN


RESET = NOW + 30 * MIN


@pytest.mark.parametrize(
    ("err", "attempts", "next_at", "left", "hold"),
    [
        # A rate limit holds the account's listening until the reset, without using tries.
        (RateLimitedError("slow", reset_at=RESET), 1, RESET, 1, RESET),
        (
            RateLimitedError("slow", retry_after=timedelta(seconds=90)),
            2,
            NOW + timedelta(seconds=90),
            2,
            NOW + timedelta(seconds=90),
        ),
        # Transient: the publishing backoff (10 s, 20 s, ...), then the next interval.
        (TransientError("503"), 1, NOW + timedelta(seconds=10), 1, None),
        (TransientError("503"), 2, NOW + timedelta(seconds=20), 2, None),
        (TransientError("503"), 3, NOW + 5 * MIN, 0, None),
        # A read creates nothing: an ambiguous answer backs off like a transient one.
        (AmbiguousError("cut"), 1, NOW + timedelta(seconds=10), 1, None),
        # Permanent: wait for the next interval; credentials to fix hold the account.
        (PermanentError("gone"), 1, NOW + 5 * MIN, 0, None),
    ],
)
def test_a_failed_read(
    err: Exception, attempts: int, next_at: datetime, left: int, hold: datetime | None
) -> None:
    assert isinstance(err, (RateLimitedError, TransientError, AmbiguousError, PermanentError))
    step = hearing.after_failure(S, err, attempts, NOW, POLICY, 0.5)
    assert (step.next_at, step.attempts, step.hold_until) == (next_at, left, hold)
    assert err.reason in step.reason  # the log says why


def test_credentials_to_fix_hold_the_account() -> None:
    err = PermanentError("token revoked", attention=Attention.CREDENTIALS)
    step = hearing.after_failure(S, err, 1, NOW, POLICY, 0.5)
    assert step.hold_until is not None and step.hold_until > NOW + S.every
    assert step.next_at == step.hold_until
    assert step.attempts == 1 and "token revoked" in step.reason


def test_the_spread_covers_its_window() -> None:
    offsets = [hearing.spread(Stream(f"brand-{i:03d}", "inbox", 5 * MIN)) for i in range(200)]
    assert max(offsets) >= SPREAD * 0.9 and min(offsets) <= SPREAD * 0.1


def test_streams_of_a_config() -> None:
    from publisher.config import AccountConfig, Config
    from publisher.listenconfig import WatchSettings

    def account(name: str, network: str, listen: bool, enabled: bool = True) -> AccountConfig:
        from publisher.adapters.base import AccountSettings

        return AccountConfig(
            name,
            network,
            AccountSettings(),
            enabled=enabled,
            listen=listen,
            listen_interval=2 * MIN,
        )

    from pathlib import Path
    from zoneinfo import ZoneInfo

    accounts = {
        "m1": account("m1", "mastodon", True),
        "m2": account("m2", "mastodon", True),
        "fb": account("fb", "facebook", True),
        "off": account("off", "bluesky", False),
        "paused": account("paused", "bluesky", True, enabled=False),
        "sky": account("sky", "bluesky", True),
    }
    config = Config(
        Path("p.toml"), Path("q.yaml"), "sqlite:///x.db", ZoneInfo("UTC"), MIN, accounts
    )
    config = replace(config, watches=(WatchSettings(name="brand", terms=["Acme"], alert=True),))
    got = hearing.streams(config, ["m1", "m2", "fb", "off", "paused", "sky"])
    assert [(s.account, s.name, s.every) for s in got] == [
        ("m1", "inbox", 2 * MIN),
        ("m2", "inbox", 2 * MIN),
        ("fb", "inbox", 2 * MIN),
        ("sky", "inbox", 2 * MIN),
        # The first enabled listening account of each network that searches.
        ("m1", "watch:brand", 15 * MIN),
        ("sky", "watch:brand", 15 * MIN),
    ]
    assert got[-1].terms == ("Acme",) and got[-1].alert is True
    assert got[0].alert is False
    # An account whose adapter cannot listen (not built, say) makes no stream.
    assert [s.account for s in hearing.streams(config, ["fb"])] == ["fb"]
