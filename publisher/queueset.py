"""A queue of many files: ``queue = "queue.d/*.yaml"``, one file per team.

Each file is parsed alone and applied whole or not at all, on its own: a file with an error
keeps its last good plan (its stored deliveries are left as they are) and holds back no other
file. A post's identity is its file's path under the pattern's base directory, a colon, and
its id: ``team-a.yaml:launch``. Ids may not hold a colon, so the last colon splits the two,
and two files may both have a post ``launch``. A single-file queue keeps bare ids.

A post moved to another file (or a file renamed) would be a new post under its new name, and
would go out again. A sync carries its identity instead (``carry_moves``): a post new to the
store whose id and content are those of a stored post that left another file keeps the
stored identity, and a warning says so.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher import lifecycle
from publisher.config import AccountConfig, Config
from publisher.diagnostics import Diagnostic, InvalidFileError, Severity
from publisher.limits import MAX_ID_CHARS
from publisher.marks import FILE_MARK
from publisher.media import MediaRoots
from publisher.queuefile import (
    ParseCache,
    PostSpec,
    QueueFile,
    parse_queue,
    queue_text,
    read_queue_bytes,
)
from publisher.store.plan import PlanEntry

SEP = FILE_MARK  # between a post's file and its id; ids may not hold one
# A parsed post's hash memo (by its id) and the memo of its qualified copy: see FileCache.
Memos = dict[int, tuple[dict[Any, Any], dict[Any, Any]]]
_SPEC_FIELDS = tuple(f.name for f in fields(PostSpec))
_RULE_WORDS = (b"repeat", b"evergreen")  # a file that may have rules plans with the time


def is_glob(path: Path) -> bool:
    """Whether the configured queue is a pattern (``*``, ``?``, ``[``) rather than a file."""
    return glob.has_magic(str(path))


def split_glob(path: Path) -> tuple[Path, str]:
    """The pattern's base directory (its parts before the first with a wildcard) and the
    rest of the pattern, relative to it: names are relative to the base."""
    parts = path.parts
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:first]), "/".join(parts[first:])


def qualify(name: str, post_id: str) -> str:
    return f"{name}{SEP}{post_id}"


def file_name(post_id: str) -> str | None:
    """The file a stored post id comes from (``team-a.yaml``), None for a bare id."""
    name, sep, _ = post_id.rpartition(SEP)
    return name if sep else None


def bare_id(post_id: str) -> str:
    return post_id.rpartition(SEP)[2]


def media_roots(config: Config) -> MediaRoots:
    """Where media may be read from when a post is sent or shown: under the queue file's
    directory, or a pattern's base directory (each file's own directory lies under it)."""
    queue = config.queue_path
    if is_glob(queue):
        return MediaRoots.around(split_glob(queue)[0], config)
    return MediaRoots.for_queue(queue, config)


def file_of(config: Config, post_id: str) -> str:
    """The path of the file a post id comes from, for diagnostics and ``audit --by file``."""
    name = file_name(post_id)
    if name is None or not is_glob(config.queue_path):
        return str(config.queue_path)
    return str(split_glob(config.queue_path)[0] / name)


@dataclass(frozen=True)
class Member:
    """One file of the pattern, as read."""

    name: str  # relative to the pattern's base, with "/" between directories
    path: Path
    data: bytes | None  # None: it could not be read (``error``)
    error: str | None = None


def read_members(pattern: Path) -> list[Member]:
    """Every file the pattern matches, in name order, with its bytes. Names starting with a
    dot (editors' temporary and lock files) are left out, at any depth."""
    base, rest = split_glob(pattern)
    out: list[Member] = []
    for path in sorted(base.glob(rest)):
        rel = path.relative_to(base)
        if any(part.startswith(".") for part in rel.parts) or path.is_dir():
            continue
        try:
            out.append(Member(rel.as_posix(), path, read_queue_bytes(path)))
        except OSError as err:
            if path.exists() or path.is_symlink():
                out.append(Member(rel.as_posix(), path, None, err.strerror or str(err)))
    return out


def members_digest(members: Sequence[Member]) -> bytes:
    """What a sync depends on from the files: their names and bytes (see plan_fingerprint)."""
    h = hashlib.sha256()
    for m in members:
        h.update(m.name.encode() + b"\x00")
        h.update(b"\x01" + (m.error or "").encode() if m.data is None else m.data)
        h.update(b"\x00")
    return h.hexdigest().encode()


def timeless(members: Sequence[Member]) -> bool:
    """No file can hold a rule: the same files plan the same at any time."""
    return not any(m.data is not None and w in m.data for m in members for w in _RULE_WORDS)


@dataclass(frozen=True)
class FilePlan:
    """One file, parsed: its posts under their qualified ids, or its errors."""

    name: str
    path: Path
    digest: bytes
    posts: tuple[PostSpec, ...]
    warnings: tuple[Diagnostic, ...]
    errors: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class QueueSet:
    """The files of a pattern: the good ones merged into one queue, the others kept."""

    queue: QueueFile  # the posts of the files without errors, qualified, file by file
    files: tuple[FilePlan, ...]

    @property
    def kept(self) -> frozenset[str]:
        """Files with errors: their stored plan stays as it is."""
        return frozenset(f.name for f in self.files if f.errors)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.errors]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Every file's warnings, the kept files' included (the merged queue has the others')."""
        return [d for f in self.files if f.errors for d in f.warnings]


def renamed(post: PostSpec, post_id: str, hashes: dict[Any, Any] | None = None) -> PostSpec:
    """The same post under another id. Its content hashes are its own (the id is part of
    them): ``hashes`` is the memo of an earlier copy under the same id, else a new one."""
    out = object.__new__(PostSpec)
    for name in _SPEC_FIELDS:
        object.__setattr__(out, name, getattr(post, name))
    object.__setattr__(out, "id", post_id)
    object.__setattr__(out, "_hashes", {} if hashes is None else hashes)
    return out


class FileCache:
    """What a process keeps of each file from one sync to the next: an unchanged file is
    not parsed again, and a changed one re-parses only the posts whose text changed (one
    ``ParseCache`` per file). Owned by the caller (``SyncCache``)."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._plans: dict[str, FilePlan] = {}
        self._parses: dict[str, ParseCache] = {}
        # Per file, the qualified copies' hash memos by their parsed post's memo (shared by
        # the parse cache's copies of an unchanged post): an edit re-hashes only what changed.
        self._memos: dict[str, Memos] = {}
        self.parsed: list[str] = []  # files the last load parsed (tests, benches)
        self.fresh = 0  # posts they parsed afresh
        self.whole = False  # one of them parsed whole (no post reused)

    def load(self, config: Config, members: Sequence[Member]) -> QueueSet:
        if self._config is not config:
            self._config, self._plans, self._parses, self._memos = config, {}, {}, {}
        plans: list[FilePlan] = []
        self.parsed = []
        for m in members:
            digest = hashlib.blake2b(m.data or b"", digest_size=16).digest()
            plan = self._plans.get(m.name)
            if plan is None or plan.digest != digest or plan.path != m.path or m.data is None:
                self.parsed.append(m.name)
                parse = self._parses.setdefault(m.name, ParseCache())
                memos = self._memos.get(m.name, {})
                plan = parse_member(m, digest, config, parse, memos)
                self._memos[m.name] = memos
            plans.append(plan)
        self._plans = {p.name: p for p in plans}
        self._parses = {n: c for n, c in self._parses.items() if n in self._plans}
        self._memos = {n: c for n, c in self._memos.items() if n in self._plans}
        self.fresh = sum(self._parses[n].parsed for n in self.parsed if n in self._parses)
        self.whole = any(
            self._parses[n].mode != "chunked" for n in self.parsed if n in self._parses
        )
        posts = tuple(q for p in plans if not p.errors for q in p.posts)
        warnings = tuple(d for p in plans if not p.errors for d in p.warnings)
        return QueueSet(QueueFile(config.queue_path, posts, warnings), tuple(plans))


def parse_member(
    m: Member,
    digest: bytes,
    config: Config,
    cache: ParseCache | None = None,
    memos: Memos | None = None,
) -> FilePlan:
    """One file, parsed alone, its posts qualified with its name. ``memos`` (updated in
    place to this parse's posts) lends the copies of unchanged posts their hashes."""
    where = str(m.path)
    if m.data is None:
        diag = Diagnostic(where, 1, 1, "", f"cannot read the queue file: {m.error}")
        return FilePlan(m.name, m.path, digest, (), (), (diag,))
    try:
        queue = parse_queue(queue_text(m.path, m.data), m.path, config, cache=cache)
    except InvalidFileError as err:
        errors = tuple(d for d in err.diagnostics if d.severity is Severity.ERROR)
        warnings = tuple(d for d in err.diagnostics if d.severity is not Severity.ERROR)
        return FilePlan(m.name, m.path, digest, (), warnings, errors)
    posts: list[PostSpec] = []
    errors_: list[Diagnostic] = []
    before = {} if memos is None else dict(memos)
    if memos is not None:
        memos.clear()
    for post in queue.posts:
        qid = qualify(m.name, post.id)
        if len(qid) > MAX_ID_CHARS:
            errors_.append(
                Diagnostic(
                    where,
                    post.line,
                    post.column,
                    "id",
                    f"with its file's name the post's identity {qid!r} is {len(qid)} "
                    f"characters, more than {MAX_ID_CHARS}: shorten the id or the file name",
                )
            )
        bare = post._hashes  # shared by the parse cache's copies of this post
        held = before.get(id(bare))
        memo: dict[Any, Any] = held[1] if held is not None and held[0] is bare else {}
        if memos is not None:
            memos[id(bare)] = (bare, memo)
        posts.append(renamed(post, qid, memo))
    if errors_:
        return FilePlan(m.name, m.path, digest, (), queue.warnings, tuple(errors_))
    return FilePlan(m.name, m.path, digest, tuple(posts), queue.warnings, ())


def load_set(config: Config, members: Sequence[Member]) -> QueueSet:
    """Every file parsed afresh (commands: nothing to reuse)."""
    return FileCache().load(config, members)


def no_files(config: Config) -> Diagnostic:
    return Diagnostic(
        str(config.queue_path),
        1,
        1,
        "",
        "no queue file matches this pattern (check publisher.toml's `queue`); nothing is "
        "applied and the last good plan stays",
    )


def carry_moves(
    queue: QueueFile,
    stored: Mapping[str, tuple[str, int, datetime | None]],
    kept: frozenset[str],
    accounts: Mapping[str, AccountConfig],
    path_of: Mapping[str, Path],
) -> tuple[QueueFile, list[Diagnostic]]:
    """``queue`` with each moved post under the identity it is stored with.

    ``stored`` is every stored post (content hash, line, removed_at), removed ones included.
    A post is moved when its qualified id was never stored and a stored post of another file
    that no file has any more (and not a kept file's: it stays where it is) has the same id
    and the same content: the one such post still in the plan, else the one removed. The
    same id with other content is a new post, and a warning names the one withdrawn.
    """
    new = [p for p in queue.posts if p.id not in stored]
    if not new:
        return queue, []
    wanted = {bare_id(p.id) for p in new}
    ids = {p.id for p in queue.posts}
    leaving: dict[str, list[str]] = {}  # bare id: stored ids of other files, no file has
    for pid in stored:
        name = file_name(pid)
        if name is None or name in kept or pid in ids:
            continue
        bare = bare_id(pid)
        if bare in wanted:
            leaving.setdefault(bare, []).append(pid)
    if not leaving:
        return queue, []
    moves: dict[str, str] = {}
    notes: list[Diagnostic] = []
    for post in new:
        name, bare = file_name(post.id), bare_id(post.id)
        where = str(path_of.get(name or "", queue.path))
        # The id is part of a post's hashes: compare it as it would be under the stored id.
        same = [
            pid
            for pid in leaving.get(bare, [])
            if pid not in moves.values()
            and stored[pid][0] == renamed(post, pid).post_hash(accounts)
        ]
        live = [pid for pid in same if stored[pid][2] is None]
        chosen = live if live else same
        if len(chosen) == 1:
            moves[post.id] = chosen[0]
            notes.append(_moved(where, post, chosen[0], removed=not live))
            continue
        withdrawn = sorted(pid for pid in leaving.get(bare, []) if stored[pid][2] is None)
        if withdrawn:
            notes.append(
                Diagnostic(
                    where,
                    post.line,
                    post.column,
                    "id",
                    f"{bare!r} is new in this file, and {', '.join(withdrawn)} left another "
                    "file with other content: this is a new post (the other one is withdrawn; "
                    "what of it was published stays published)",
                    Severity.WARNING,
                )
            )
    if not moves:
        return queue, notes
    posts = tuple(renamed(p, moves[p.id]) if p.id in moves else p for p in queue.posts)
    return QueueFile(queue.path, posts, queue.warnings), notes


def _moved(where: str, post: PostSpec, stored_id: str, *, removed: bool) -> Diagnostic:
    earlier = " (where it had been removed)" if removed else ""
    return Diagnostic(
        where,
        post.line,
        post.column,
        "id",
        f"{bare_id(post.id)!r} moved here from {file_name(stored_id)}{earlier}: it keeps its "
        f"identity {stored_id!r}, so nothing of it is sent again",
        Severity.WARNING,
    )


def keep_files(
    index: Mapping[tuple[str, str], PlanEntry],
    posts: Mapping[str, tuple[str, int, datetime | None]],
    kept: frozenset[str],
) -> tuple[
    dict[tuple[str, str], PlanEntry],
    dict[str, tuple[str, int, datetime | None]],
    dict[str, set[datetime]],
]:
    """The stored plan without the kept files' posts, which a sync must leave as they are,
    and the times their pending deliveries hold per account (no new slot is given them)."""
    out: dict[tuple[str, str], PlanEntry] = {}
    held: dict[str, set[datetime]] = {}
    for key, e in index.items():
        if file_name(key[0]) in kept:
            if e.state not in lifecycle.FINAL:
                held.setdefault(key[1], set()).add(e.scheduled_at)
        else:
            out[key] = e
    left = {pid: v for pid, v in posts.items() if file_name(pid) not in kept}
    return out, left, held
