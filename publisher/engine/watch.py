"""Watching the queue file: saves by rename and in-place writes both wake the daemon.

The directory is watched, not the file: an editor that saves by writing a temporary file and
renaming it over the queue replaces the inode a file watch would be bound to.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from watchfiles import Change, awatch

log = logging.getLogger("publisher.watch")


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(path))


async def watch_queue(path: Path, changed: Callable[[], None], debounce: timedelta) -> None:
    target = _absolute(path)
    directory = target.parent

    def relevant(_change: Change, name: str) -> bool:
        return _absolute(name) == target

    async for _changes in awatch(
        directory,
        watch_filter=relevant,
        debounce=max(int(debounce.total_seconds() * 1000), 50),
        step=50,
        recursive=False,
    ):
        log.debug("queue file changed", extra={"action": "watch"})
        changed()
