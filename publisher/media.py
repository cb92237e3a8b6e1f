"""Media files: confined to their roots, opened once, judged by the bytes read.

An editor names a media file (or a link card's thumb) relative to the queue file. It must lie
inside a media root: the queue file's directory, or a directory the operator lists in
``[media] roots``. Everything about the file is learnt through ``open_media``, at sync
(validation) and again at send time (the upload): it walks the path from the root's
directory one component at a time, never following a link out of the root, opens the file
once, checks that file (a regular, non-empty file under a size limit, an image or a video by
its first bytes) and reads from it. The bytes an adapter uploads are the bytes checked;
nothing opens the file again by its path, so a link re-pointed after the sync (at a
credential, the database, ``/proc/self/environ``) reaches nothing.

Links inside a root are followed when they stay inside it (at most ``MAX_LINKS`` of them):
``media/a.jpg -> ../photos/a.jpg`` works, ``media/a.jpg -> /run/credentials/…`` is refused
without looking at its target. Errors never describe anything outside the roots: a path or
a link that leads out is refused as such, the same whether its target exists or not.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from publisher.content import MediaRef as MediaRef  # where a file is; opened here

# No network takes a bigger file (X's videos, 512 MB, are the largest); a file above it is
# refused before it is read, so a huge file cannot fill the daemon's memory.
MAX_MEDIA_BYTES = 1 << 30
# Links followed in one path, as Linux's own limit (MAXSYMLINKS).
MAX_LINKS = 40
# Directories one path may go down (each holds a descriptor while it is walked).
MAX_DEPTH = 64
SNIFF_BYTES = 16
QUEUE_DIR_LABEL = "the queue file's directory"

# Directories are opened for walking only: search permission is enough, as for a path.
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO put in a media folder must not hang the open; it is refused after.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
TYPES_EXPECTED = "JPEG, PNG, GIF, WebP, MP4 or MOV expected"


class MediaError(Exception):
    """Why a media file cannot be used. The text is safe to show an editor."""


def sniff_media_type(head: bytes) -> str | None:
    """The MIME type of an image or video from its first bytes; None when it is neither."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "video/quicktime"  # QuickTime files from before the ftyp box
    return None


class _HasRoots(Protocol):
    @property
    def roots(self) -> Sequence[str]: ...


class MediaConfig(Protocol):
    """What ``MediaRoots.around`` reads of a ``publisher.config.Config`` (a layer above this
    one): the config file's directory and the operator's ``[media] roots``."""

    @property
    def base_dir(self) -> Path: ...

    @property
    def media(self) -> _HasRoots: ...


@dataclass(frozen=True, slots=True)
class MediaRoot:
    path: Path  # absolute and normalised (not resolved: it is part of content hashes)
    label: str  # as the operator wrote it: the only way a root is named to an editor


@dataclass(frozen=True, slots=True)
class MediaRoots:
    """The directories media may come from; editors' paths are relative to ``base``."""

    base: Path
    roots: tuple[MediaRoot, ...]

    @classmethod
    def for_queue(cls, queue_path: Path, config: MediaConfig | None = None) -> MediaRoots:
        return cls.around(queue_path.parent, config)

    @classmethod
    def around(cls, queue_dir: Path, config: MediaConfig | None = None) -> MediaRoots:
        """The queue file's directory first, then the operator's ``[media] roots`` (relative
        to the config file's directory)."""
        base = Path(os.path.abspath(queue_dir))
        roots = [MediaRoot(base, QUEUE_DIR_LABEL)]
        if config is not None:
            config_dir = Path(os.path.abspath(config.base_dir))
            for raw in config.media.roots:
                path = Path(os.path.normpath(config_dir / raw))
                if all(r.path != path for r in roots):
                    roots.append(MediaRoot(path, raw))
        return cls(base, tuple(roots))

    def inside(self) -> str:
        return "media must be inside " + " or ".join(r.label for r in self.roots)

    def locate(self, raw: str) -> MediaRef:
        """Where an editor's path lies, worked out from its text alone (nothing is looked
        at); MediaError when it is absolute or its normalised form leaves every root."""
        if "\x00" in raw:
            raise MediaError(f"{raw!r} is not a file name")
        if os.path.isabs(raw):
            raise MediaError(
                f"{raw}: an absolute path; {self.inside()}, written relative to the queue file"
            )
        full = os.path.normpath(os.path.join(self.base, raw))
        ref = self._under(full, raw)
        if ref is None:
            raise MediaError(f"{raw}: {self.inside()}")
        return ref

    def admit(self, ref: MediaRef) -> MediaRef:
        """``ref`` checked against the roots in force now (the operator may have changed
        them since the sync); a stored absolute path is placed under them."""
        if ref.root is None:
            found = self._under(os.path.normpath(ref.rel), ref.name)
            if found is None:
                raise MediaError(f"{ref.name}: {self.inside()}")
            return found
        if all(r.path != ref.root for r in self.roots):
            raise MediaError(f"{ref.name}: {self.inside()}")
        return ref

    def _under(self, full: str, name: str) -> MediaRef | None:
        for root in self.roots:
            top = str(root.path)
            prefix = top if top.endswith("/") else top + "/"
            if full.startswith(prefix):
                return MediaRef(root.path, full[len(prefix) :], name)
            if full == top:
                return MediaRef(root.path, "", name)
        return None


@dataclass(frozen=True, slots=True)
class MediaFile:
    """What ``open_media`` found: the type read from the file, and its bytes."""

    mime_type: str
    size: int
    identity: tuple[int, int, int, int]  # size, mtime, inode, ctime: one version of the file
    data: bytes  # every byte (``whole``) or the first ones


def open_media(
    ref: MediaRef,
    roots: MediaRoots | None = None,
    *,
    limit: int = MAX_MEDIA_BYTES,
    whole: bool = True,
) -> MediaFile:
    """Open ``ref`` beneath its root, check it and read it: all bytes, or the first ones.

    ``roots``, when given, are the roots in force (``MediaRoots.admit``). Blocking: call it
    off the event loop. Raises MediaError, whose text names ``ref.name`` only.
    """
    if roots is not None:
        ref = roots.admit(ref)
    if ref.root is None:
        raise MediaError(f"{ref.name}: not inside a media root")
    try:
        root_fd = os.open(ref.root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError as err:
        raise MediaError(f"cannot read {ref.name}: its media root cannot be opened") from err
    fds = [root_fd]
    try:
        fd = _walk(ref, ref.root, fds)
        try:
            return _check(ref, fd, limit, whole)
        finally:
            os.close(fd)
    finally:
        for d in fds:
            os.close(d)


def _walk(ref: MediaRef, root: Path, fds: list[int]) -> int:
    """The open descriptor of the file ``ref`` names, reached from ``root``, open in
    ``fds[0]``; ``fds`` holds the directories walked (the caller closes them)."""
    pending = _components(ref.rel)
    pending.reverse()  # popped from the end
    hops = 0
    while True:
        if not pending:
            raise MediaError(f"{ref.name} is not a file")  # the root, or a path ending in /
        part = pending.pop()
        if part == "..":
            if len(fds) == 1:
                raise _leads_out(ref)
            os.close(fds.pop())
            continue
        last = not pending
        try:
            fd = os.open(part, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=fds[-1])
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise _os_error(ref, err) from None
            target = _link_target(part, fds[-1])
            if target is None:
                if err.errno == errno.ENOTDIR:
                    raise _os_error(ref, err) from None
                raise MediaError(f"{ref.name} changed while it was being opened") from None
            hops += 1
            if hops > MAX_LINKS:
                raise MediaError(f"{ref.name}: too many links") from None
            if target.startswith("/"):
                inner = _beneath(target, root)
                if inner is None:
                    raise _leads_out(ref) from None
                for d in fds[1:]:
                    os.close(d)
                del fds[1:]
                steps = inner
            else:
                steps = _components(target)
            pending.extend(reversed(steps))
            continue
        if last:
            return fd
        if len(fds) > MAX_DEPTH:
            os.close(fd)
            raise MediaError(f"{ref.name}: too deep")
        fds.append(fd)


def _check(ref: MediaRef, fd: int, limit: int, whole: bool) -> MediaFile:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{ref.name} is not a file")
    if st.st_size == 0:
        raise MediaError(f"{ref.name} is empty")
    if st.st_size > limit:
        raise MediaError(f"{ref.name} is {st.st_size:,} bytes, more than {limit:,}")
    try:
        data = _read(fd, limit + 1 if whole else SNIFF_BYTES)
    except OSError as err:
        raise _os_error(ref, err) from None
    if not data:
        raise MediaError(f"{ref.name} is empty")
    if len(data) > limit:  # it grew since the fstat
        raise MediaError(f"{ref.name} is more than {limit:,} bytes")
    mime = sniff_media_type(data[:SNIFF_BYTES])
    if mime is None:
        raise MediaError(f"cannot tell what {ref.name} is: {TYPES_EXPECTED}")
    size = len(data) if whole else st.st_size
    identity = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    return MediaFile(mime, size, identity, data)


def _read(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < most:
        chunk = os.read(fd, min(most - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _link_target(part: str, dir_fd: int) -> str | None:
    """The target of the link ``part`` in ``dir_fd``; None when it is not a link."""
    try:
        return os.readlink(part, dir_fd=dir_fd)
    except OSError:
        return None


def _beneath(target: str, root: Path) -> list[str] | None:
    """The steps of an absolute link target below ``root`` (as written, or resolved), or
    None when it does not start there: then it leads out, whatever lies there."""
    steps = _components(target)
    for top in (str(root), os.path.realpath(root)):
        prefix = _components(top)
        if steps[: len(prefix)] == prefix:
            return steps[len(prefix) :]
    return None


def _leads_out(ref: MediaRef) -> MediaError:
    return MediaError(f"{ref.name} is a link that leads out of its media root")


def _os_error(ref: MediaRef, err: OSError) -> MediaError:
    if err.errno == errno.ENOENT:
        return MediaError(f"no such file: {ref.name}")
    return MediaError(f"cannot read {ref.name}: {err.strerror or type(err).__name__}")


def limit_for(kind_is_image: bool, max_image: int, max_video: int) -> int:
    """The most bytes a network takes for one file of this kind (0: it declares none)."""
    declared = max_image if kind_is_image else max_video
    return min(declared, MAX_MEDIA_BYTES) if declared else MAX_MEDIA_BYTES
