"""The test kit itself: its contract fails an adapter that breaks it, and it imports without
pytest. (Every real network passing it is ``tests/networks/test_contract.py``.)

Each broken adapter is Mastodon's, wrong in one way only, against the kit's fault server.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from publisher.adapters.base import (
    Absent,
    AdapterError,
    AmbiguousError,
    DeliveryRef,
    LookupResult,
    Published,
    Rendered,
    TransientError,
)
from publisher.adapters.mastodon import MastodonAdapter
from publisher.testing import Fault, HarnessNetwork, LookupCase, transient
from publisher.testing.checks import check_error, check_fault, check_lookup
from publisher.testing.errors import ErrorCase
from tests.networks.mastodon import harness as mastodon

HARNESS = mastodon.HARNESS
TOKEN = HARNESS.secrets["token"]


def broken(cls: type[MastodonAdapter]) -> HarnessNetwork:
    """Mastodon's harness row, building ``cls`` instead of the real adapter."""

    def make(base_url: str, context: Any, secrets: Any) -> MastodonAdapter:
        real = mastodon._make(base_url, context, secrets)
        return cls(real.account, real.settings, real.context)

    return replace(HARNESS, make=make)


class CallsItTransient(MastodonAdapter):
    """Says "nothing was created" when the post may exist."""

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Any = ()
    ) -> Published:
        try:
            return await super().publish(rendered, ref, done)
        except AmbiguousError as err:
            raise TransientError(err.reason) from None


class HexInTheError(MastodonAdapter):
    """Puts the token, hex-encoded, in its error."""

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Any = ()
    ) -> Published:
        try:
            return await super().publish(rendered, ref, done)
        except AdapterError as err:
            err.reason = f"{err.reason} (sent {TOKEN.encode().hex()})"
            raise


class SplitInTheLog(MastodonAdapter):
    """Logs the token cut in two by a zero-width space: no scrubber knows that form."""

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Any = ()
    ) -> Published:
        half = len(TOKEN) // 2
        logging.getLogger("publisher.network.mastodon").debug(
            "token %s\u200b%s", TOKEN[:half], TOKEN[half:]
        )
        return await super().publish(rendered, ref, done)


class AbsentWhenUnsure(MastodonAdapter):
    """Says "not there" when it could not look."""

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        return Absent()


class NeverFinds(MastodonAdapter):
    """Reports a published post as absent."""

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        await super().lookup(ref, rendered, since)
        return Absent()


async def test_the_real_adapter_passes_what_the_broken_ones_fail() -> None:
    await check_fault(HARNESS, Fault.HTTP_500)
    await check_lookup(HARNESS, LookupCase.UNREACHABLE)
    await check_lookup(HARNESS, LookupCase.FOUND)


async def test_a_wrong_error_class_fails_the_contract() -> None:
    with pytest.raises(AssertionError, match=r"TransientError.*expected AmbiguousError"):
        await check_fault(broken(CallsItTransient), Fault.HTTP_500)


async def test_a_secret_in_any_encoding_in_an_error_fails_the_contract() -> None:
    with pytest.raises(AssertionError, match="the error: a secret leaked"):
        await check_fault(broken(HexInTheError), Fault.UNAUTHORIZED)


async def test_a_secret_reaching_the_log_fails_the_contract() -> None:
    with pytest.raises(AssertionError, match="the log: a secret leaked"):
        await check_fault(broken(SplitInTheLog), Fault.HTTP_503)


async def test_absent_without_looking_fails_the_contract() -> None:
    with pytest.raises(AssertionError, match="expected Unknowable"):
        await check_lookup(broken(AbsentWhenUnsure), LookupCase.SERVER_ERROR)


async def test_a_published_post_not_found_fails_the_contract() -> None:
    with pytest.raises(AssertionError, match="expected Found"):
        await check_lookup(broken(NeverFinds), LookupCase.FOUND)


async def test_an_error_table_case_with_the_wrong_expectation_fails() -> None:
    assert HARNESS.errors is not None
    real = next(c for c in HARNESS.errors.cases if c.case.startswith("500"))
    wrong = ErrorCase(real.case, transient(), real.inject, real.server, real.settings)
    with pytest.raises(AssertionError, match="AmbiguousError"):
        await check_error(HARNESS, wrong)
    await check_error(HARNESS, real)


def test_the_kit_imports_without_pytest() -> None:
    """An installed publisher without the test extras still imports ``publisher.testing``;
    only the pytest base class needs pytest."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import publisher.testing, publisher.testing.checks\n"
        "try:\n"
        "    import publisher.testing.contract\n"
        "except ImportError:\n"
        "    print('contract needs pytest')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "contract needs pytest\n"
