"""Where ``accounts connect`` puts what it obtained: one file per secret, or the terminal.

A ``${NAME}`` reference is looked up in the environment, then in the credentials directory
(``publisher.secrets.SecretSource``: the file ``$CREDENTIALS_DIRECTORY/NAME``, refused when
group or others may read it). So each value is written to ``DIR/NAME``, mode 0600, atomically
(a temporary file in the same directory, fsync, rename, fsync of the directory): a reader sees
the old value or the new one, never half of one. Every file is prepared before the first is
renamed into place, so a failure while writing leaves every old value as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class VaultError(Exception):
    """The credentials directory cannot take the values (missing, not writable, a bad name)."""


@dataclass(frozen=True)
class Stored:
    """One value written: its reference name and its file (never the value)."""

    name: str
    path: Path


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _prepare(directory: Path, name: str, value: str) -> str:
    """A synced temporary file holding ``value``, mode 0600, beside its final name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def ensure_directory(directory: Path) -> None:
    """Create the directory (0700) if missing; refuse one others can read."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise VaultError(f"cannot create {directory}: {err.strerror}") from None
    if not directory.is_dir():
        raise VaultError(f"{directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise VaultError(f"{directory} is not writable")


def store(directory: Path, values: Mapping[str, str]) -> list[Stored]:
    """Write each ``NAME: value`` to ``directory/NAME``; all prepared, then all renamed."""
    for name in values:
        if NAME.fullmatch(name) is None:
            raise VaultError(f"{name!r} is not a ${{NAME}} reference name")
    ensure_directory(directory)
    for name in values:
        target = directory / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise VaultError(f"{target} is not a regular file: not replaced")
    prepared: list[tuple[str, str]] = []
    try:
        for name, value in values.items():
            prepared.append((name, _prepare(directory, name, value)))
    except OSError as err:
        for _, tmp in prepared:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise VaultError(f"cannot write into {directory}: {err.strerror}") from None
    stored = []
    for name, tmp in prepared:
        adopt_owner(Path(tmp))
        os.replace(tmp, directory / name)
        stored.append(Stored(name, directory / name))
    _fsync_dir(directory)
    return stored


def adopt_owner(path: Path) -> None:
    """Give a file its directory's owner when root writes it into someone else's directory:
    the service's own state directory (systemd's DynamicUser owns it, and does not hand files
    inside over again once the directory is its own), so the service can read what root wrote
    there. Anyone else writes files that are theirs already."""
    if os.geteuid() != 0:
        return
    parent = path.parent.stat()
    mine = path.stat()
    if (mine.st_uid, mine.st_gid) != (parent.st_uid, parent.st_gid):
        os.chown(path, parent.st_uid, parent.st_gid)


def shell_lines(values: Mapping[str, str]) -> list[str]:
    """``NAME='value'`` lines for ``--print``: what an operator's own secret store takes."""
    return [f"{name}={_quote(value)}" for name, value in values.items()]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
