"""A network's harness row: everything the contract tests need to drive its adapter.

A network (built in or third-party) defines one ``HarnessNetwork``; the contract tests
(``publisher.testing.checks``, run by ``publisher.testing.contract.AdapterContract``) take
it from there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from publisher.adapters.base import Adapter, AdapterContext, AdapterError, PostContent
from publisher.clock import FakeClock
from publisher.testing.errors import ErrorTable
from publisher.testing.faults import DEFAULT_EXPECTED, Fault, Handler

# ``serve(clock, secrets)``: the network's own local server, accepting the account whose
# secret values are ``secrets``; the context manager yields its base URL.
Serve = Callable[[FakeClock, Mapping[str, str]], AbstractAsyncContextManager[str]]


class LookupCase(StrEnum):
    FOUND = "found"  # published, then looked up: the same parts
    ABSENT = "absent"  # another post published, this one not: proved absent
    UNREACHABLE = "unreachable"  # nothing listens: unknowable, never absent
    SERVER_ERROR = "server-error"  # every request answers 500: unknowable
    GARBAGE = "garbage"  # every request answers 200 with what is not JSON: unknowable


@dataclass
class HarnessNetwork:
    """How to point one network's adapter at the fault server and at its own server.

    ``make(base_url, context, secrets)`` builds the adapter for an account whose secret
    values are ``secrets`` (the contract checks none of them leaks into an error or the
    log), using the ``context`` the harness gives (its HTTP session has short timeouts).
    ``publish_path`` is the path of the request the fault applies to; ``setup`` answers
    every other (method, path) the adapter needs before it.
    ``rate_limit_headers(reset_at)`` are the headers of the network's 429 with a reset.
    ``error_body(status)`` is the network's JSON error document for an HTTP status.
    ``expected`` overrides ``DEFAULT_EXPECTED`` where the network's rules differ (say why).
    ``unread_resets``: rate-limit faults whose reset hint the network does not read (the
    engine backs off instead); say why.
    ``serve`` (for the found/absent lookups) and ``errors`` (the error table) are optional.
    ``read_id``: the post id the engagement read-fault check asks for, where the network's
    ids have a shape ``checks.READ_ID`` (digits) is not.
    ``known_failures``: contract checks the adapter fails today, each with why; they run
    as strict expected failures, so a fix is noticed (and the entry must then go).
    """

    network: str
    make: Callable[[str, AdapterContext, Mapping[str, str]], Adapter]
    content: PostContent
    publish_method: str
    publish_path: str
    rate_limit_headers: Callable[[datetime], Mapping[str, str]]
    error_body: Callable[[int], Mapping[str, object]]
    setup: Mapping[tuple[str, str], Handler] = field(default_factory=dict)
    expected: Mapping[Fault, type[AdapterError]] = field(default_factory=dict)
    unread_resets: frozenset[Fault] = frozenset()
    secrets: Mapping[str, str] = field(
        default_factory=lambda: {
            "token": "SECRET-harness-token-7f3a9c",
            "secret": "SECRET-harness-secret-b41d2e",
        }
    )
    serve: Serve | None = None
    errors: ErrorTable | None = None
    read_id: str | None = None
    known_failures: Mapping[Fault | LookupCase, str] = field(default_factory=dict)

    def expect(self, fault: Fault) -> type[AdapterError]:
        return self.expected.get(fault, DEFAULT_EXPECTED[fault])

    def __str__(self) -> str:
        return self.network
