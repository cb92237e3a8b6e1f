"""The pigeon network passes publisher's adapter contract (``publisher.testing``)."""

from __future__ import annotations

from pigeon_harness import HARNESS

from publisher.testing.contract import AdapterContract


class TestPigeonContract(AdapterContract):
    harness = HARNESS
