"""Where the tests' vendored material is: everything they read lives in the repository."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONFORMANCE = TESTS / "conformance"
PEERS = TESTS / "peers"
