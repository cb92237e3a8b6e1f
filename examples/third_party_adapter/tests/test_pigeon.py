"""The pigeon adapter against its loft: what it sends, and its account check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from pigeon_harness import HARNESS, make
from pigeon_loft import TOKEN, Loft
from publisher_pigeon import PigeonAdapter

from publisher.adapters.base import AdapterContext, CheckStatus, DeliveryRef
from publisher.adapters.registry import adapter_class
from publisher.clock import FakeClock
from publisher.testing import NOW


@pytest.fixture
async def loft() -> AsyncIterator[Loft]:
    clock = FakeClock(NOW)
    async with Loft(now=clock.now) as server:
        yield server


async def test_a_post_is_one_message_with_its_text(loft: Loft) -> None:
    clock = FakeClock(NOW)
    async with aiohttp.ClientSession() as session:
        adapter = make(loft.url, AdapterContext(session, clock), {"token": TOKEN})
        rendered = adapter.render(HARNESS.content)
        assert not rendered.errors
        ref = DeliveryRef(1, HARNESS.content.post_id, HARNESS.content.account, NOW)
        published = await adapter.publish(rendered, ref)
    assert [m.text for m in loft.messages] == [HARNESS.content.text]
    assert published.remote_id == loft.messages[0].id
    assert published.url == f"{loft.url}/m/{loft.messages[0].id}"


async def test_check_names_the_loft_or_says_what_is_wrong(loft: Loft) -> None:
    clock = FakeClock(NOW)
    async with aiohttp.ClientSession() as session:
        good = await make(loft.url, AdapterContext(session, clock), {"token": TOKEN}).check()
        bad = await make(
            loft.url, AdapterContext(session, clock), {"token": "not-the-token-0000"}
        ).check()
    assert (good.status, good.identity) == (CheckStatus.OK, loft.name)
    assert bad.status is CheckStatus.ATTENTION and "401" in bad.detail


def test_too_long_is_refused_at_render() -> None:
    adapter = make("http://127.0.0.1:9", AdapterContext(None, FakeClock(NOW)), {"token": TOKEN})
    rendered = adapter.render(replace(HARNESS.content, text="roucou " * 60))
    assert rendered.errors, "a pigeon carries one message, no thread"


def test_publisher_finds_the_network_by_its_entry_point() -> None:
    assert adapter_class("pigeon") is PigeonAdapter
