"""A network's error table: each answer it can give, our error class and the engine's action.

A case drives the real adapter against the network's local server (injecting the answer),
takes the exception ``publish`` raised, and runs the engine's pure decision
``after_error(err, attempt, now, policy, rand)`` on it: our error class, then the action
(``RetryAt`` / ``GiveUp`` / ``Unresolved`` / ``HoldAccount``), its time, outcome and
attention. A reset time the network gave is kept to the second, never shortened.

A network provides an ``ErrorTable``: its cases, and ``drive``, which runs one case (start
the server, inject, publish once with ``attempt``) and returns the error or None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from publisher.adapters.base import (
    Adapter,
    AdapterError,
    AmbiguousError,
    Attention,
    DeliveryRef,
    PermanentError,
    PostContent,
    RateLimitedError,
    TransientError,
)
from publisher.clock import FakeClock
from publisher.engine.decide import (
    CREDENTIALS_RECHECK,
    GiveUp,
    HoldAccount,
    RetryAt,
    RetryPolicy,
    Unresolved,
    after_error,
)
from publisher.states import Outcome
from publisher.testing.faults import HARNESS_NOW

NOW = HARNESS_NOW
POLICY = RetryPolicy(
    max_attempts=8,
    base_delay=timedelta(seconds=30),
    max_delay=timedelta(hours=1),
    jitter=0.2,
)
RAND = 0.5  # jitter factor exactly 1: attempt 1 waits base_delay
BACKOFF = NOW + timedelta(seconds=30)
HOLD = NOW + CREDENTIALS_RECHECK
TIMEOUT = aiohttp.ClientTimeout(total=3, sock_connect=0.5, sock_read=1.0)

Action = type[RetryAt] | type[GiveUp] | type[Unresolved] | type[HoldAccount]


@dataclass(frozen=True)
class Expect:
    error: type[AdapterError] | None  # None: published after all (a refreshed session)
    action: Action | None = None
    at: datetime | None = None  # RetryAt.at or HoldAccount.until
    outcome: Outcome | None = None
    attention: Attention | None = None
    limited: bool = False  # the whole account waits (RetryAt.account_limited_until == at)
    remote_id: str | None = None
    attempt: int = 1


def transient(at: datetime = BACKOFF, attempt: int = 1) -> Expect:
    return Expect(TransientError, RetryAt, at, Outcome.TRANSIENT, attempt=attempt)


def rate_limited(at: datetime, attention: Attention | None = None) -> Expect:
    return Expect(RateLimitedError, RetryAt, at, Outcome.RATE_LIMITED, attention, limited=True)


def ambiguous(remote_id: str | None = None) -> Expect:
    return Expect(AmbiguousError, Unresolved, remote_id=remote_id)


def refused(attention: Attention | None) -> Expect:
    return Expect(PermanentError, GiveUp, outcome=Outcome.PERMANENT, attention=attention)


CREDENTIALS = Expect(PermanentError, HoldAccount, HOLD, attention=Attention.CREDENTIALS)
# An API version the network no longer serves: held like credentials, never failed.
VERSION = Expect(PermanentError, HoldAccount, HOLD, attention=Attention.VERSION)


@dataclass(frozen=True)
class ErrorCase:
    """One answer of the network: what to do to its server, and what must follow."""

    case: str
    expect: Expect
    inject: Callable[[Any], object] | None = None  # called with the started server
    server: Mapping[str, Any] = field(default_factory=dict)  # server constructor arguments
    settings: Mapping[str, Any] = field(default_factory=dict)  # account settings overrides
    connect_timeout: bool = False  # point the adapter at a listener that never accepts

    def __str__(self) -> str:
        return self.case


Driver = Callable[[ErrorCase, FakeClock, aiohttp.ClientSession], Awaitable[AdapterError | None]]


@dataclass(frozen=True)
class ErrorTable:
    """A network's cases, how to run one, and the codes the table must cover (``listed``:
    each a piece of some case's name, so a case dropped by mistake is noticed)."""

    drive: Driver
    cases: Sequence[ErrorCase]
    listed: Sequence[str] = ()


def content(network: str) -> PostContent:
    """The post every error case publishes."""
    return PostContent(
        post_id="winter-sale",
        account=f"brand-{network}",
        network=network,
        text="Les soldes d'hiver commencent ! Jusqu'à moins cinquante pour cent.",
    )


async def attempt(adapter: Adapter, post: PostContent, clock: FakeClock) -> AdapterError | None:
    """Publish once; the error our adapter raised, or None if the post went out."""
    rendered = adapter.render(post)
    if rendered.errors:
        raise AssertionError(f"the post does not render: {rendered.errors}")
    ref = DeliveryRef(7, post.post_id, post.account, clock.now())
    try:
        await adapter.publish(rendered, ref)
    except AdapterError as err:
        return err
    return None


def require(ok: bool, message: object) -> None:
    """An assertion that holds under ``python -O`` too, and outside pytest."""
    if not ok:
        raise AssertionError(message)


async def check_error_case(table: ErrorTable, case: ErrorCase) -> None:
    """Run ``case``: the error is the most specific of our classes that it should be, and
    the engine's decision on it is the expected action, time, outcome and attention."""
    clock = FakeClock(NOW)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        err = await table.drive(case, clock, session)
    want = case.expect
    if want.error is None:
        require(err is None, f"expected the post to go out, got {err!r}")
        return
    require(isinstance(err, want.error), f"{type(err).__name__}: {err}")
    assert err is not None
    # The most specific of our classes: a RateLimitedError is no TransientError, etc.
    require(
        not any(
            isinstance(err, other)
            for other in (TransientError, RateLimitedError, PermanentError, AmbiguousError)
            if not issubclass(want.error, other)
        ),
        type(err).__mro__,
    )
    step = after_error(err, want.attempt, NOW, POLICY, RAND)
    require(type(step) is want.action, step)
    if isinstance(step, RetryAt):
        require(step.at == want.at, (step.at, want.at))
        require(step.outcome is want.outcome, step)
        require(step.attention is want.attention, step)
        if want.limited:
            require(step.account_limited_until == step.at, step)
            require(isinstance(err, RateLimitedError), err)
            assert isinstance(err, RateLimitedError)
            given = err.reset_at or (NOW + err.retry_after if err.retry_after else None)
            if given is not None:
                require(step.at >= given, "the engine would come back before the reset")
        else:
            require(step.account_limited_until is None, step)
    elif isinstance(step, GiveUp):
        require(step.outcome is want.outcome, step)
        require(step.attention is want.attention, step)
        require(bool(step.reason), step)
    elif isinstance(step, HoldAccount):
        require(step.until == want.at, step)
        require(step.attention is want.attention, step)
    else:
        require(isinstance(step, Unresolved), step)
        assert isinstance(step, Unresolved)
        require(step.remote_id == want.remote_id, step)


def check_listed(table: ErrorTable) -> None:
    """Every code the table must cover has a case."""
    cases = [c.case for c in table.cases]
    missing = [needle for needle in table.listed if not any(needle in c for c in cases)]
    require(not missing, f"no case for: {missing}")
