"""What the media-confinement test needs of a network, and where it finds the networks.

Each ``tests/networks/<net>/confinement.py`` lists its ``NETWORKS`` (a media type, or a link
card's thumb, per entry): ``test_media_confinement.py`` runs every one it finds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.adapters.base import Adapter, AdapterContext
from publisher.clock import FakeClock

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Network:
    name: str
    account: str
    ext: str  # the media file's type
    thumb: bool  # the file is a link card's thumb rather than an attached image
    server: Callable[[FakeClock], AbstractAsyncContextManager[Any]]
    make: Callable[[Any, str, AdapterContext], Adapter]
    stored: Callable[[Any], list[bytes]]  # every file the server kept
    posts: Callable[[Any], int]  # how many posts the server holds

    def __str__(self) -> str:
        return f"{self.name}-{'thumb' if self.thumb else self.ext}"


def networks() -> list[Network]:
    """Every network folder's entries."""
    found: list[Network] = []
    for path in sorted(HERE.glob("*/confinement.py")):
        module = importlib.import_module(f"tests.networks.{path.parent.name}.confinement")
        found.extend(module.NETWORKS)
    return found
