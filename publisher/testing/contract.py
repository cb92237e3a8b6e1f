"""The contract tests as a pytest base class: subclass it with a network's harness row.

    from publisher.testing.contract import AdapterContract
    from my_network_tests.harness import HARNESS

    class TestMyNetworkContract(AdapterContract):
        harness = HARNESS

Every fault mode, the lookups, the error table and the registration then run as tests of
the subclass. This module imports pytest (and needs pytest-asyncio): import it from tests
only; ``publisher.testing`` itself does not.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

import pytest

from publisher.testing.checks import (
    NotApplicable,
    check_error,
    check_error_listing,
    check_fault,
    check_first_comment,
    check_listen_fault,
    check_lookup,
    check_read_fault,
    check_registered,
)
from publisher.testing.errors import ErrorCase
from publisher.testing.faults import Fault
from publisher.testing.harness import HarnessNetwork, LookupCase

T = TypeVar("T")


async def _run(check: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return await check()
    except NotApplicable as why:
        pytest.skip(str(why))


class AdapterContract:
    """Base of a network's contract tests; ``harness`` is its row. Not collected itself
    (its name does not start with ``Test``)."""

    harness: ClassVar[HarnessNetwork]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize from ``harness`` (a class attribute, unknown to a decorator)."""
        if "fault" in metafunc.fixturenames:
            metafunc.parametrize("fault", self._params(list(Fault)), ids=str)
        if "lookup_case" in metafunc.fixturenames:
            metafunc.parametrize("lookup_case", self._params(list(LookupCase)), ids=str)
        if "error_case" in metafunc.fixturenames:
            table = self.harness.errors
            cases = list(table.cases) if table is not None else []
            metafunc.parametrize("error_case", cases, ids=str)

    def _params(self, cases: list[Fault] | list[LookupCase]) -> list[Any]:
        """Each case, a known failure marked as a strict expected failure."""
        known = self.harness.known_failures
        return [
            pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=known[c]))
            if c in known
            else c
            for c in cases
        ]

    @pytest.mark.asyncio
    async def test_fault_maps_to_our_error(self, fault: Fault) -> None:
        await check_fault(self.harness, fault)

    @pytest.mark.asyncio
    async def test_engagement_read_fault_maps_to_our_error(self, fault: Fault) -> None:
        await _run(lambda: check_read_fault(self.harness, fault))

    @pytest.mark.asyncio
    async def test_listening_read_fault_maps_to_our_error(self, fault: Fault) -> None:
        await _run(lambda: check_listen_fault(self.harness, fault))

    @pytest.mark.asyncio
    async def test_lookup(self, lookup_case: LookupCase) -> None:
        await _run(lambda: check_lookup(self.harness, lookup_case))

    @pytest.mark.asyncio
    async def test_error_code_maps_to_our_class_and_the_engines_action(
        self, error_case: ErrorCase
    ) -> None:
        await _run(lambda: check_error(self.harness, error_case))

    def test_every_listed_code_has_a_case(self) -> None:
        try:
            check_error_listing(self.harness)
        except NotApplicable as why:
            pytest.skip(str(why))

    @pytest.mark.asyncio
    async def test_first_comment_after_the_post_and_found(self) -> None:
        await _run(lambda: check_first_comment(self.harness))

    def test_registered_under_its_name(self) -> None:
        check_registered(self.harness)
