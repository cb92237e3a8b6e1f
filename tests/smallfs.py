"""A small tmpfs mounted for one test: a disk that really fills up, a file system that really
turns read-only.

The daemon's I/O failures are tested against the kernel's own errors (ENOSPC, EROFS) as SQLite
meets them, not against a stand-in: mounting needs root (CAP_SYS_ADMIN), so without it the
tests that use this skip, saying why.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


class SmallFs:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / ".filler"

    def fill(self) -> None:
        """Write until the file system refuses: ENOSPC for whatever writes next."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = 1 << 20
            while size >= 512:  # down to the last partial page
                try:
                    os.write(fd, b"\0" * size)
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    size //= 2
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def read_only(self) -> None:
        """As the kernel does after disk errors (ext4's errors=remount-ro)."""
        result = _mount("-o", "remount,ro", str(self.path))
        assert result.returncode == 0, result.stderr

    def writable(self) -> None:
        result = _mount("-o", "remount,rw", str(self.path))
        assert result.returncode == 0, result.stderr


def small_fs(root: Path, size_mib: int) -> Iterator[SmallFs]:
    """Mount a tmpfs of ``size_mib`` MiB at ``root``; unmounted afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount(8) here to mount a tmpfs")
    result = _mount("-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(root))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {result.stderr.strip()}")
    try:
        yield SmallFs(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
