"""The test kit for adapters, ours and third-party ones alike (as procrastinate ships one).

- ``FaultServer`` (``faults``): a real HTTP server on 127.0.0.1 answering a network's
  publish request with a fault: 5xx, 429 with and without a reset, a connection reset or
  a timeout before or after the body left, garbage bodies, a 401 quoting the request back;
  ``Refusing`` and ``Blackhole`` (``servers``) for a refused or a never-completed connect.
- ``LocalServer`` (``servers``): an aiohttp app on a free port of 127.0.0.1, for a network's
  own test server; ``StrictServer`` (``strict``): that server's start-up and the answers a
  test injects per endpoint (instead of the work, after it, a dropped connection), and
  ``GraphServer`` (``graph``): what a stand-in for a Graph API adds (error documents, usage
  headers, the token, bodies, ``fields=``), for Facebook, Instagram and Threads.
- ``ServedDirectory`` (``hosting``): a public media host for networks that fetch media from
  a URL: a real ``DirectoryHost`` whose directory a ``LocalServer`` serves. ``LocalS3``
  (``s3server``): moto's S3 server (the ``test`` extra) on 127.0.0.1, for the S3 host.
- ``RecordingAdapter`` (``recording``): publishes nowhere, records what it was asked.
- ``HarnessNetwork`` (``harness``): a network's harness row, what the contract needs;
  ``ErrorTable`` (``errors``): its error codes, our class and the engine's action for each.
- ``CodeIssuer``, ``Browser``, ``BrowserTerminal`` (``oauth``, imported from there): a strict
  OAuth 2 authorization server's checks and a browser that follows its redirect, for a
  network's ``accounts connect`` flow.
- The contract: plain async checks in ``checks``, and as a pytest base class in
  ``publisher.testing.contract`` (the one module here that imports pytest; import it
  from tests only).
"""

from __future__ import annotations

from publisher.testing.errors import (
    BACKOFF,
    CREDENTIALS,
    HOLD,
    NOW,
    VERSION,
    ErrorCase,
    ErrorTable,
    Expect,
    ambiguous,
    attempt,
    rate_limited,
    refused,
    transient,
)
from publisher.testing.faults import DEFAULT_EXPECTED, HARNESS_NOW, RESET_AT, Fault, FaultServer
from publisher.testing.harness import HarnessNetwork, LookupCase
from publisher.testing.leaks import captured_logs, leaks, traces
from publisher.testing.recording import Call, RecordingAdapter, recording_adapters
from publisher.testing.servers import Blackhole, LocalServer, Refusing, serve

__all__ = [
    "BACKOFF",
    "CREDENTIALS",
    "DEFAULT_EXPECTED",
    "HARNESS_NOW",
    "HOLD",
    "NOW",
    "RESET_AT",
    "VERSION",
    "Blackhole",
    "Call",
    "ErrorCase",
    "ErrorTable",
    "Expect",
    "Fault",
    "FaultServer",
    "HarnessNetwork",
    "LocalServer",
    "LookupCase",
    "RecordingAdapter",
    "Refusing",
    "ambiguous",
    "attempt",
    "captured_logs",
    "leaks",
    "rate_limited",
    "recording_adapters",
    "refused",
    "serve",
    "traces",
    "transient",
]
