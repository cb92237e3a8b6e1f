"""Every HTTP adapter against every fault mode: the right error type, and no secret leaked."""

from __future__ import annotations

import importlib
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext, DeliveryRef, RateLimitedError
from publisher.clock import FakeClock
from publisher.testing.faults import RESET_AT, Fault, FaultServer, HarnessNetwork

HERE = Path(__file__).parent


def _networks() -> list[HarnessNetwork]:
    nets = []
    for path in sorted(HERE.glob("*/harness.py")):
        module = importlib.import_module(f"tests.networks.{path.parent.name}.harness")
        nets.append(module.HARNESS)
    return nets


NETWORKS = _networks()


def test_every_http_network_is_in_the_harness() -> None:
    from publisher.adapters.registry import available

    covered = {n.network for n in NETWORKS}
    missing = set(available()) - covered - {"log"}
    assert not missing, f"adapters without a fault-harness entry: {sorted(missing)}"


@pytest.mark.parametrize("fault", list(Fault), ids=str)
@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: n.network)
async def test_fault_maps_to_our_error(net: HarnessNetwork, fault: Fault) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    timeout = aiohttp.ClientTimeout(total=3, sock_connect=0.5, sock_read=1.0)
    async with FaultServer(net, fault) as server, aiohttp.ClientSession(timeout=timeout) as session:
        waited: list[timedelta] = []

        async def wait(delay: timedelta) -> None:
            waited.append(delay)

        context = AdapterContext(session=session, clock=clock, timeout=timeout, wait=wait)
        adapter = net.make(server.url, context, net.secrets)
        rendered = adapter.render(net.content)
        assert not rendered.errors, rendered.errors
        ref = DeliveryRef(7, net.content.post_id, net.content.account, clock.now())
        with pytest.raises(net.expect(fault)) as info:
            await adapter.publish(rendered, ref)
    err = info.value
    # No secret anywhere in what the error says or its traceback.
    text = "\n".join([str(err), repr(err), err.reason, "".join(traceback.format_exception(err))])
    for secret in net.secrets.values():
        assert secret not in text, f"{fault}: secret leaked in {text!r}"
    if fault is Fault.RATE_LIMIT_WITH_RESET:
        assert isinstance(err, RateLimitedError)
        when = err.reset_at or (clock.now() + err.retry_after if err.retry_after else None)
        assert when == RESET_AT, f"reset time not read: {err.reset_at} / {err.retry_after}"
    if fault is Fault.RATE_LIMIT_NO_RESET:
        assert isinstance(err, RateLimitedError)
        assert err.reset_at is None or err.reset_at > clock.now()
