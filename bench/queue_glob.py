"""One file per team (issue 18, item 5): 50 queue files, 500 accounts, 50,000 future
deliveries, as ``queue = "queue.d/*.yaml"``.

Figures: the first sync into a fresh store, against the same deliveries as one file synced in
the same process (the repository's convention: a ratio against a baseline measured beside
it); a re-sync after a one-post edit in one file, as a share of the first sync; then the
daemon as a process: CPU while idle over a window, and its peak RSS (start and first sync
included). ``python -m bench.queue_glob [--quick]``, or ``scripts/bench --only queueglob``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

from bench.run import (
    ZONE,
    Account,
    Figure,
    Sizes,
    daemons,
    say,
    sentence,
    sleep_until,
    write_config,
)

FILES = 50
ACCOUNTS = 500
DELIVERIES = 50_000
PER_POST = 2  # accounts per post: 25,000 posts


def team_file(team: int, posts: int, accounts: list[str], start: datetime, rng: Random) -> str:
    """A team's file: timed posts to two of its accounts, a minute apart per team."""
    out = ["posts:"]
    for i in range(posts):
        at = (start + timedelta(minutes=i * 7 + team)).astimezone(ZONE)
        pair = [accounts[(i * PER_POST + k) % len(accounts)] for k in range(PER_POST)]
        out += [
            f"  - id: post-{i:05d}",
            f"    at: {at:%Y-%m-%d %H:%M}",
            f"    accounts: [{', '.join(pair)}]",
            f'    text: "{sentence(rng, 14)}"',
        ]
    return "\n".join(out) + "\n"


def write_project(root: Path, sizes: Sizes, scale: int) -> tuple[Path, Path, int]:
    """The config with a queue pattern, its files, and the same posts as one file beside."""
    files, accounts = FILES // scale, ACCOUNTS // scale
    posts = DELIVERIES // scale // files // PER_POST
    names = [f"acct-{i:03d}" for i in range(accounts)]
    config = write_config(
        root, [Account(n) for n in names], database=f"sqlite:///{root}/queue.db", sizes=sizes
    )
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('"queue.yaml"', '"queue.d/*.yaml"'), encoding="utf-8")
    (root / "queue.d").mkdir()
    start = (datetime.now(UTC) + timedelta(days=7)).replace(second=0, microsecond=0)
    rng = Random(18)
    per_team = accounts // files
    whole = ["posts:"]
    for team in range(files):
        mine = names[team * per_team : (team + 1) * per_team]
        body = team_file(team, posts, mine, start, rng)
        (root / "queue.d" / f"team-{team:02d}.yaml").write_text(body, encoding="utf-8")
        whole.append(body.removeprefix("posts:\n").replace("id: post-", f"id: t{team:02d}-"))
    single = root / "single"
    single.mkdir()
    write_config(
        single, [Account(n) for n in names], database=f"sqlite:///{single}/queue.db", sizes=sizes
    )
    (single / "queue.yaml").write_text("\n".join(whole), encoding="utf-8")
    return config, single / "publisher.toml", files * posts * PER_POST


async def first_sync(config_path: Path, db: Path) -> tuple[float, int]:
    from publisher.config import SecretPolicy, load_config
    from publisher.store import Store
    from publisher.sync import SyncCache, sync_queue

    store = await Store.open(f"sqlite:///{db}")  # migrations: not timed
    try:
        t0 = time.perf_counter()
        config = load_config(config_path, secrets=SecretPolicy.REQUIRE)
        report = await sync_queue(config, store, datetime.now(UTC), cache=SyncCache())
        took = time.perf_counter() - t0
    finally:
        await store.close()
    if report.failed or not report.applied:
        raise RuntimeError(f"the generated queue did not apply: {report.summary()}")
    return took, report.added


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


async def resyncs(
    config_path: Path, db: Path, runs: int, team: Path, post: str
) -> tuple[float, float]:
    """The first sync with a cache, then ``runs`` re-syncs, each after an edit of ``post``'s
    text in ``team`` (a team's file, or the one file of the baseline)."""
    from publisher.config import SecretPolicy, load_config
    from publisher.store import Store
    from publisher.sync import SyncCache, sync_queue

    store = await Store.open(f"sqlite:///{db}")
    cache = SyncCache()
    try:
        config = load_config(config_path, secrets=SecretPolicy.REQUIRE)
        t0 = time.perf_counter()
        await sync_queue(config, store, datetime.now(UTC), cache=cache)
        first = time.perf_counter() - t0
        original = read(team)
        at = original.index('    text: "', original.index(post)) + len('    text: "')
        times: list[float] = []
        for j in range(runs):
            write(team, original[:at] + f"Édité {j} : " + original[at:])
            t0 = time.perf_counter()
            report = await sync_queue(config, store, datetime.now(UTC), cache=cache)
            times.append(time.perf_counter() - t0)
            if report.failed or report.updated != PER_POST or not cache.incremental:
                raise RuntimeError(f"the edit did not sync incrementally: {report.summary()}")
        write(team, original)
    finally:
        await store.close()
    return first, statistics.median(times)


async def bench_queue_glob(sizes: Sizes, workdir: Path, quick: bool) -> list[Figure]:
    root = workdir / "queueglob"
    root.mkdir(parents=True)
    scale = 10 if quick else 1
    config, single, deliveries = write_project(root, sizes, scale)
    files, accounts = FILES // scale, ACCOUNTS // scale
    say("queueglob", f"{files} files, {accounts} accounts, {deliveries:,} future deliveries")
    await first_sync(single, root / "warm.db")  # imports and caches: not counted
    # Taking turns (A B A B), so that a drift in the machine's speed hits both.
    globs: list[float] = []
    ones: list[float] = []
    added = 0
    for run in range(2 if not quick else 3):
        took, added = await first_sync(config, root / f"glob-{run}.db")
        globs.append(took)
        ones.append((await first_sync(single, root / f"single-{run}.db"))[0])
        say(
            "queueglob",
            f"first sync: {globs[-1]:.2f} s ({added:,} added); one file {ones[-1]:.2f} s",
        )
    glob_s, one_s = statistics.median(globs), statistics.median(ones)
    runs = sizes.resync_runs
    ratio = statistics.median(g / o for g, o in zip(globs, ones, strict=True))
    middle = files // 2
    team = root / "queue.d" / f"team-{middle:02d}.yaml"
    first, resync_s = await resyncs(config, root / "resync.db", runs, team, "id: post-00010")
    single_file = single.parent / "queue.yaml"
    post = f"id: t{middle:02d}-00010"
    _, one_resync = await resyncs(single, root / "resync-single.db", runs, single_file, post)
    say(
        "queueglob", f"re-sync after a one-post edit: {resync_s:.3f} s; one file {one_resync:.3f} s"
    )
    window = sizes.idle_window
    glob_d = await idle_daemon(config, root, window, "files")
    one_d = await idle_daemon(single, single.parent, window, "one file")
    share = resync_s / first
    return [
        Figure(
            "queueglob",
            f"first sync, {files} files, {deliveries:,} deliveries, {accounts} accounts",
            f"{glob_s:.2f} s",
        ),
        Figure("queueglob", "  the same posts as one file", f"{one_s:.2f} s"),
        Figure(
            "queueglob",
            "  files / one file (median of the pairs)",
            f"{ratio:.2f}×",
            "≤ 1.5",
            ratio <= 1.5,
        ),
        Figure(
            "queueglob", "re-sync after a one-post edit in one file, median", f"{resync_s:.3f} s"
        ),
        Figure("queueglob", "  re-sync / first sync", f"{share:.3f}", "≤ 0.05", share <= 0.05),
        Figure("queueglob", "  the same edit in one file, median", f"{one_resync:.3f} s"),
        Figure("queueglob", "  files / one file", f"{resync_s / one_resync:.2f}×"),
        Figure(
            "queueglob",
            f"daemon CPU while idle ({window:.0f} s window)",
            f"{glob_d.cpu:.3f} CPU-s/min",
            "≤ 0.3 CPU-s/min",
            glob_d.cpu <= 0.3,
        ),
        Figure("queueglob", "  the same posts as one file", f"{one_d.cpu:.3f} CPU-s/min"),
        Figure(
            "queueglob",
            "daemon peak RSS (VmHWM), first sync included",
            f"{glob_d.hwm:.0f} MB ({glob_d.hwm / one_d.hwm:.2f}× one file's {one_d.hwm:.0f} MB)",
        ),
        Figure(
            "queueglob",
            "daemon RSS at the end of the window",
            f"{glob_d.rss:.0f} MB (one file: {one_d.rss:.0f} MB)",
        ),
        Figure(
            "queueglob",
            "daemon start → ready (first sync done)",
            f"{glob_d.ready:.1f} s (one file: {one_d.ready:.1f} s)",
        ),
    ]


@dataclass(frozen=True)
class Idle:
    ready: float  # seconds from the spawn to READY (its first sync done)
    cpu: float  # CPU-s per minute over the window
    hwm: float  # MB
    rss: float  # MB


async def idle_daemon(config: Path, root: Path, window: float, what: str) -> Idle:
    """``publisher run`` on a fresh store: ready (first sync), then a window at rest."""
    with daemons(config, root, 1) as (daemon,):
        ready = await daemon.wait_ready(600)
        say("queueglob", f"daemon ({what}) ready after {ready:.1f} s; {window:.0f} s idle window")
        cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
        await sleep_until(time.time() + window)
        cpu1, elapsed = daemon.cpu_seconds(), time.monotonic() - t0
        hwm, rss = daemon.memory_mb("VmHWM"), daemon.memory_mb("VmRSS")
    return Idle(ready, (cpu1 - cpu0) / (elapsed / 60), hwm, rss)


def main() -> None:
    from bench.run import FULL, QUICK, load_average, print_table

    parser = argparse.ArgumentParser(prog="python -m bench.queue_glob")
    parser.add_argument("--quick", action="store_true", help="sizes ÷10, 15 s window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="publisher-bench-") as tmp:
        sizes = QUICK if args.quick else FULL
        loads = [load_average()]
        figures = asyncio.run(bench_queue_glob(sizes, Path(tmp), args.quick))
        loads.append(load_average())
    print_table(figures, args.quick, loads)


if __name__ == "__main__":
    main()
