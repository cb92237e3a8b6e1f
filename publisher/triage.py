"""What a scheduling pass does with the deliveries that are due: the shape the engine decides
and the store writes.

It lives here, below both, so that the store can take the engine's decision as a function
(``publisher.store.Planner``) without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Triage:
    """What one scheduling pass does with the deliveries that are due."""

    chosen: list[Any] = field(default_factory=list)
    missed: list[tuple[Any, str]] = field(default_factory=list)
    deferred: list[tuple[Any, datetime, str]] = field(default_factory=list)
