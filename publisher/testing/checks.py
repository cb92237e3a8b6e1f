"""The contract every adapter passes, as plain async checks (no pytest needed to run them).

Each check raises ``AssertionError`` saying what is wrong, or ``NotApplicable`` when the
network's harness row lacks what it needs. ``publisher.testing.contract`` runs them as
pytest tests; a network's own tests may call them directly.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import aiohttp

from publisher.adapters.base import (
    Absent,
    Adapter,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    DeliveryRef,
    Found,
    LookupResult,
    OwnPost,
    PostContent,
    RateLimitedError,
    Role,
    TransientError,
    Unknowable,
)
from publisher.adapters.registry import adapter_class
from publisher.clock import FakeClock
from publisher.testing.errors import ErrorCase, check_error_case, check_listed, require
from publisher.testing.faults import HARNESS_NOW, RESET_AT, Fault, FaultServer
from publisher.testing.harness import HarnessNetwork, LookupCase
from publisher.testing.leaks import captured_logs, leaks
from publisher.testing.servers import Refusing

TIMEOUT = aiohttp.ClientTimeout(total=3, sock_connect=0.5, sock_read=1.0)
# The engine looks a delivery up from an hour before its time (``Daemon._resolve``).
LOOKUP_FROM = timedelta(hours=1)


class NotApplicable(Exception):
    """The harness row does not give what this check needs (a skipped test)."""


def _no_secret(net: HarnessNetwork, what: str, text: str) -> None:
    found = leaks(text, *net.secrets.values())
    require(not found, f"{what}: a secret leaked ({found}) in {text!r}")


def _error_text(err: BaseException) -> str:
    reason = err.reason if isinstance(err, AdapterError) else ""
    return "\n".join([str(err), repr(err), reason, "".join(traceback.format_exception(err))])


@dataclass
class _Context:
    clock: FakeClock
    context: AdapterContext
    waited: list[timedelta]


@asynccontextmanager
async def _adapter_context() -> AsyncIterator[_Context]:
    """A session with short timeouts, a fake clock, and waits that only record."""
    clock = FakeClock(HARNESS_NOW)
    waited: list[timedelta] = []

    async def wait(delay: timedelta) -> None:
        waited.append(delay)

    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT, wait=wait)
        yield _Context(clock, context, waited)


def _ref(post: PostContent, clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(7, post.post_id, post.account, clock.now())


async def check_fault(net: HarnessNetwork, fault: Fault) -> None:
    """``fault`` on the publish request becomes the expected one of our errors, and no
    secret reaches the error, its traceback or the log; a reset the network gave is read."""
    with captured_logs() as logs:
        async with FaultServer(net, fault) as server, _adapter_context() as ctx:
            adapter = net.make(server.url, ctx.context, net.secrets)
            rendered = adapter.render(net.content)
            require(not rendered.errors, rendered.errors)
            try:
                await adapter.publish(rendered, _ref(net.content, ctx.clock))
            except AdapterError as caught:
                err = caught
            else:
                raise AssertionError(f"{fault}: published, expected {net.expect(fault).__name__}")
    want = net.expect(fault)
    require(
        isinstance(err, want),
        f"{fault}: {type(err).__name__} ({err.reason!r}), expected {want.__name__}",
    )
    _no_secret(net, f"{fault}: the error", _error_text(err))
    _no_secret(net, f"{fault}: the log", logs.text())
    now = ctx.clock.now()
    if not isinstance(err, RateLimitedError):
        return
    when = err.reset_at or (now + err.retry_after if err.retry_after else None)
    reads = fault in (Fault.RATE_LIMIT_WITH_RESET, Fault.RATE_LIMIT_RETRY_AFTER)
    if reads and fault not in net.unread_resets:
        read = f"{err.reset_at} / {err.retry_after}"
        require(when == RESET_AT, f"{fault}: reset time not read: {read}")
    else:
        require(err.reset_at is None or err.reset_at > now, f"{fault}: reset in the past")


# The remote id an engagement read asks for: the fault answers before any network reads it.
# A network whose ids have a shape this is not (a LinkedIn URN) names one: ``read_id``.
READ_ID = "1000000000000000001"


async def check_read_fault(net: HarnessNetwork, fault: Fault) -> None:
    """``fault`` on every request of an engagement read (``read_engagement``, then
    ``read_followers`` where the network reads followers) becomes our error as for a
    publish, but a read creates nothing: never ``AmbiguousError`` (what would be ambiguous is
    transient). No secret reaches the error or the log; a reset is read."""
    cls = adapter_class(net.network)
    if cls.engagement is None:
        raise NotApplicable(f"{net.network} declares no engagement reading")
    read_id = net.read_id or READ_ID
    reads: dict[str, Read] = {"figures": lambda a: a.read_engagement([read_id])}
    if cls.engagement.followers:
        reads["followers"] = lambda a: a.read_followers()
    await _read_fault(net, fault, reads)


async def check_listen_fault(net: HarnessNetwork, fault: Fault) -> None:
    """As ``check_read_fault``, for listening (issue 20): ``read_inbox`` from the first read
    (a per-post network asked for the comments of one post), and ``search`` where the
    network searches."""
    cls = adapter_class(net.network)
    if cls.listening is None:
        raise NotApplicable(f"{net.network} declares no listening")
    own = [OwnPost(net.read_id or READ_ID, RESET_AT - timedelta(days=1))]
    reads: dict[str, Read] = {"inbox": lambda a: a.read_inbox(None, own)}
    if cls.listening.search:
        reads["search"] = lambda a: a.search(["publisher", "#launch"], None)
    await _read_fault(net, fault, reads)


Read = Callable[[Adapter], Awaitable[object]]


async def _read_fault(net: HarnessNetwork, fault: Fault, reads: Mapping[str, Read]) -> None:
    for what, read in reads.items():
        with captured_logs() as logs:
            async with (
                FaultServer(net, fault, everywhere=True) as server,
                _adapter_context() as ctx,
            ):
                adapter = net.make(server.url, ctx.context, net.secrets)
                try:
                    answer = await read(adapter)
                except AdapterError as caught:
                    err = caught
                else:
                    raise AssertionError(f"{fault}: {what} read {answer!r}, expected an error")
        want = net.expect(fault)
        if want is AmbiguousError:
            want = TransientError
        require(
            isinstance(err, want),
            f"{fault} ({what}): {type(err).__name__} ({err.reason!r}), expected {want.__name__}",
        )
        _no_secret(net, f"{fault}: the {what} error", _error_text(err))
        _no_secret(net, f"{fault}: the log of the {what} read", logs.text())
        if isinstance(err, RateLimitedError):
            resets = fault in (Fault.RATE_LIMIT_WITH_RESET, Fault.RATE_LIMIT_RETRY_AFTER)
            if resets and fault not in net.unread_resets:
                now = ctx.clock.now()
                when = err.reset_at or (now + err.retry_after if err.retry_after else None)
                require(when == RESET_AT, f"{fault}: reset time of the {what} read not read")


def _unknowable(result: LookupResult | AdapterError) -> str | None:
    """The reason, when ``result`` leaves the question open (as the engine takes an error)."""
    if isinstance(result, Unknowable):
        return result.reason
    if isinstance(result, AdapterError):
        return _error_text(result)
    return None


async def _lookup(adapter: Adapter, post: PostContent, clock: FakeClock) -> LookupResult:
    rendered = adapter.render(post)
    require(not rendered.errors, rendered.errors)
    ref = _ref(post, clock)
    return await adapter.lookup(ref, rendered, ref.scheduled_at - LOOKUP_FROM)


def _other(post: PostContent) -> PostContent:
    """Another post of the same account, not to be taken for ``post``."""
    return replace(
        post, post_id=f"{post.post_id}-other", text="Un tout autre message, sans rapport. #autre"
    )


async def check_lookup(net: HarnessNetwork, case: LookupCase) -> None:
    """A published post is found as published; one never sent is proved absent; a network
    that cannot answer leaves the question open (never absent), as does, always, a network
    whose lookup cannot settle anything (``Adapter.lookup_limit``). No secret leaks."""
    if case in (LookupCase.FOUND, LookupCase.ABSENT):
        await _lookup_on_own_server(net, case)
        return
    fault = {LookupCase.SERVER_ERROR: Fault.HTTP_500, LookupCase.GARBAGE: Fault.INVALID_JSON}
    with captured_logs() as logs:
        async with _adapter_context() as ctx:
            if case is LookupCase.UNREACHABLE:
                with Refusing() as nothing:
                    adapter = net.make(nothing.url, ctx.context, net.secrets)
                    result = await _answer(adapter, net.content, ctx.clock)
            else:
                async with FaultServer(net, fault[case], everywhere=True) as server:
                    adapter = net.make(server.url, ctx.context, net.secrets)
                    result = await _answer(adapter, net.content, ctx.clock)
    reason = _unknowable(result)
    require(reason is not None, f"{case}: {result!r}, expected Unknowable")
    assert reason is not None
    _no_secret(net, f"{case}: the reason", reason)
    _no_secret(net, f"{case}: the log", logs.text())


async def _answer(
    adapter: Adapter, post: PostContent, clock: FakeClock
) -> LookupResult | AdapterError:
    try:
        return await _lookup(adapter, post, clock)
    except AdapterError as err:
        return err


async def _lookup_on_own_server(net: HarnessNetwork, case: LookupCase) -> None:
    if net.serve is None:
        raise NotApplicable(f"{net.network}'s harness row has no serve (its own server)")
    with captured_logs() as logs:
        async with _adapter_context() as ctx, net.serve(ctx.clock, net.secrets) as url:
            adapter = net.make(url, ctx.context, net.secrets)
            if adapter.lookup_limit:
                await _blind_lookup(adapter, net, case, ctx.clock)
            elif case is LookupCase.ABSENT:
                other = _other(net.content)
                await adapter.publish(adapter.render(other), _ref(other, ctx.clock))
                result = await _lookup(adapter, net.content, ctx.clock)
                require(isinstance(result, Absent), f"{case}: {result!r}, expected Absent")
            else:
                rendered = adapter.render(net.content)
                published = await adapter.publish(rendered, _ref(net.content, ctx.clock))
                result = await _lookup(adapter, net.content, ctx.clock)
                require(isinstance(result, Found), f"{case}: {result!r}, expected Found")
                assert isinstance(result, Found)
                got = [(p.index, p.remote_id) for p in result.published.parts]
                sent = [(p.index, p.remote_id) for p in published.parts]
                require(got == sent, f"{case}: found {got}, published {sent}")
    _no_secret(net, f"{case}: the log", logs.text())


async def _blind_lookup(
    adapter: Adapter, net: HarnessNetwork, case: LookupCase, clock: FakeClock
) -> None:
    """A network whose lookup cannot settle anything (``Adapter.lookup_limit``): published or
    not, the answer is ``Unknowable`` saying what to check; never ``Absent``, which would
    send the post again, nor a guess."""
    if case is LookupCase.FOUND:
        await adapter.publish(adapter.render(net.content), _ref(net.content, clock))
    result = await _lookup(adapter, net.content, clock)
    require(isinstance(result, Unknowable), f"{case}: {result!r}, expected Unknowable")
    assert isinstance(result, Unknowable)
    require(
        adapter.lookup_limit in result.reason,
        f"{case}: the reason {result.reason!r} does not say the network's lookup limit",
    )


async def check_first_comment(net: HarnessNetwork) -> None:
    """A network that declares comments (``Capabilities.comments``) publishes the post's
    first comment after the post, as the last part, and its lookup finds the post and the
    comment under the ids published (else an unknown outcome could send the comment twice)."""
    if net.serve is None:
        raise NotApplicable(f"{net.network}'s harness row has no serve (its own server)")
    post = replace(net.content, first_comment="Le programme complet : https://example.com/p")
    async with _adapter_context() as ctx, net.serve(ctx.clock, net.secrets) as url:
        adapter = net.make(url, ctx.context, net.secrets)
        if adapter.capabilities().comments is None:
            raise NotApplicable(f"{net.network} takes no first comment")
        rendered = adapter.render(post)
        require(not rendered.errors, rendered.errors)
        comment = rendered.comment
        require(comment is not None and rendered.parts[-1] is comment, "no comment rendered last")
        require(
            [p.role for p in rendered.parts[:-1]] == [Role.POST] * (len(rendered.parts) - 1),
            "the comment is not after every part of the post",
        )
        published = await adapter.publish(rendered, _ref(post, ctx.clock))
        sent = [(p.index, p.remote_id) for p in published.parts]
        require(len(sent) == len(rendered.parts), f"published {sent} for {len(rendered.parts)}")
        result = await _lookup(adapter, post, ctx.clock)
        require(isinstance(result, Found), f"lookup after the comment: {result!r}")
        assert isinstance(result, Found)
        got = [(p.index, p.remote_id) for p in result.published.parts]
        require(got == sent, f"the lookup found {got}, published {sent}")


def check_registered(net: HarnessNetwork) -> None:
    """The network is installed under its name (the ``publisher.adapters`` entry point)
    and names the adapter class the harness builds."""
    cls = adapter_class(net.network)
    context = AdapterContext(session=None, clock=FakeClock(HARNESS_NOW))
    adapter = net.make("http://127.0.0.1:9", context, net.secrets)
    require(
        type(adapter) is cls,
        f"entry point {net.network} is {cls}, the harness builds {type(adapter)}",
    )
    require(cls.network == net.network, f"{cls.__name__}.network is {cls.network!r}")


async def check_error(net: HarnessNetwork, case: ErrorCase) -> None:
    if net.errors is None:
        raise NotApplicable(f"{net.network}'s harness row has no error table")
    await check_error_case(net.errors, case)


def check_error_listing(net: HarnessNetwork) -> None:
    if net.errors is None:
        raise NotApplicable(f"{net.network}'s harness row has no error table")
    check_listed(net.errors)


__all__ = [
    "NotApplicable",
    "check_error",
    "check_error_listing",
    "check_fault",
    "check_first_comment",
    "check_listen_fault",
    "check_lookup",
    "check_read_fault",
    "check_registered",
]
