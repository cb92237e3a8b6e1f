"""API versions that end: the published dates, the warning a month before, and
``accounts check`` saying it for LinkedIn and Facebook (against their strict servers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from publisher.adapters.apiversions import (
    VERSION_WARNING,
    graph_end_of_life,
    linkedin_sunset,
    version_warning,
)
from publisher.adapters.base import AdapterContext, CheckStatus
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.linkedin import DEFAULT_VERSION, LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from tests.networks.facebook.server import GraphServer
from tests.networks.linkedin.server import LinkedInServer

TODAY = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TOKEN = "SECRET-apiversions-token-0b7d"
ORG = "urn:li:organization:5515715"
PAGE = "1234567890"


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def test_linkedin_sunsets_published_or_a_year_after_release() -> None:
    assert linkedin_sunset("202511") == at(2026, 11, 16)  # the migrations table
    assert linkedin_sunset("202603") == at(2027, 3, 16)
    assert linkedin_sunset("202607") == at(2027, 7, 15)  # not listed: a year, on the 15th
    assert linkedin_sunset("202607.01") == at(2027, 7, 15)
    assert linkedin_sunset("2026-07") is None


def test_graph_end_of_life_from_the_table() -> None:
    assert graph_end_of_life("v23.0") == at(2027, 10, 8)
    assert graph_end_of_life("v20.0") == at(2026, 9, 24)
    assert graph_end_of_life("v26.0") is None  # "TBD" in Meta's table
    assert graph_end_of_life("v12.0") == at(2025, 9, 12)  # older than the table: ended
    assert graph_end_of_life("latest") is None


def test_the_default_versions_are_served_today_and_for_months() -> None:
    assert (
        version_warning("LinkedIn-Version", "version", linkedin_sunset(DEFAULT_VERSION), TODAY)
        is None
    )
    assert version_warning("Graph", "api_version", graph_end_of_life("v23.0"), TODAY) is None
    # The retired default is said to be retired, with what to do.
    said = version_warning("LinkedIn-Version 202511", "version", linkedin_sunset("202511"), TODAY)
    assert said == (
        "LinkedIn-Version 202511 is no longer served (since 2026-11-16): set `version` to a "
        "version served today, then reload the daemon"
    )


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (VERSION_WARNING + timedelta(seconds=1), None),
        (VERSION_WARNING, "in 30 days"),
        (timedelta(days=1), "in 1 day "),
        (timedelta(hours=3), "within a day"),
        (timedelta(0), "no longer served"),
    ],
)
def test_the_warning_comes_a_month_before(left: timedelta, said: str | None) -> None:
    end = at(2027, 7, 15)
    got = version_warning("LinkedIn-Version 202607", "version", end, end - left)
    if said is None:
        assert got is None
    else:
        assert got is not None and said in got


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def test_accounts_check_warns_of_linkedins_version(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(at(2027, 6, 20))
    async with LinkedInServer(author=ORG, token=TOKEN, now=clock.now) as server:
        settings = LinkedInSettings(
            author=ORG, token=Secret("LI", TOKEN), api_base=server.url, version="202607"
        )
        adapter = LinkedInAdapter("brand-li", settings, AdapterContext(session, clock))
        result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION
    assert "LinkedIn-Version 202607 stops being served in 25 days (2027-07-15)" in result.detail


async def test_accounts_check_warns_of_graphs_end_of_life(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(at(2027, 9, 20))
    async with GraphServer(page_id=PAGE, token=TOKEN, now=clock.now) as server:
        settings = FacebookSettings(
            page_id=PAGE, page_token=Secret("FB", TOKEN), api_base=server.url
        )
        adapter = FacebookAdapter("brand-fb", settings, AdapterContext(session, clock))
        result = await adapter.check()
        assert result.status is CheckStatus.ATTENTION
        assert "Graph API v23.0 stops being served in 18 days (2027-10-08)" in result.detail
        await clock.set(TODAY)
        assert (await adapter.check()).status is CheckStatus.OK
