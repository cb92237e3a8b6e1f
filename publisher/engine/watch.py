"""Watching the queue file: saves by rename and in-place writes both wake the daemon.

The directory is watched, not the file: an editor that saves by writing a temporary file and
renaming it over the queue replaces the inode a file watch would be bound to. A queue pattern
(``queue.d/*.yaml``) watches its base directory, recursively when the pattern goes deeper:
a file added, changed or removed wakes the daemon, other files (the database) do not.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from watchfiles import Change, awatch

from publisher.queueset import is_glob, split_glob

log = logging.getLogger("publisher.watch")


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(path))


def pattern_filter(pattern: Path) -> tuple[Path, bool, Callable[[Change, str], bool]]:
    """The directory to watch for a queue pattern, whether recursively, and which of its
    paths the pattern may match (``**/`` matching no directory too, as glob does)."""
    base, rest = split_glob(_absolute(pattern))
    rests = {rest, rest.replace("**/", "")}
    directory, recursive = base, "/" in rest
    while not directory.is_dir() and directory != directory.parent:
        # Not there yet (a directory still to be made or mounted): its first file wakes us.
        directory, recursive = directory.parent, True

    def relevant(_change: Change, name: str) -> bool:
        try:
            rel = Path(name).relative_to(base).as_posix()
        except ValueError:
            return False
        return any(fnmatch.fnmatchcase(rel, r) for r in rests)

    return directory, recursive, relevant


async def watch_queue(path: Path, changed: Callable[[], None], debounce: timedelta) -> None:
    if is_glob(path):
        directory, recursive, relevant = pattern_filter(path)
    else:
        target = _absolute(path)
        directory, recursive = target.parent, False

        def relevant(_change: Change, name: str) -> bool:
            return _absolute(name) == target

    async for _changes in awatch(
        directory,
        watch_filter=relevant,
        debounce=max(int(debounce.total_seconds() * 1000), 50),
        step=50,
        recursive=recursive,
    ):
        log.debug("queue file changed", extra={"action": "watch"})
        changed()
