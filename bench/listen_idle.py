"""What listening costs a daemon at rest (issue 20).

``python -m bench.listen_idle`` from the repository root (or ``scripts/bench --only listen``).

The same daemon, 500 Mastodon accounts (``--accounts``) and nothing to publish, is run twice
against ``bench/sink.py``: once with ``listen = false`` (the baseline), once listening at a
5-minute interval (``listen_interval``, the default). For each: the CPU time (utime + stime
from ``/proc``) over a window after it is ready and has settled, long enough to hold a whole
interval (so every account's read falls in it), its RSS (``VmRSS``) and peak RSS
(``VmHWM``), and the notification reads the sink answered in the window. Printed as ratios
listening / baseline, measured in the same run on the same machine. Nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.run import Account, Daemon, SinkProcess, reap_children, say, write_config

ACCOUNTS = 500
INTERVAL_S = 300


@dataclass(frozen=True)
class Rest:
    cpu_per_minute: float
    rss_mb: float
    hwm_mb: float
    ready_s: float
    reads: int  # notification reads answered by the sink in the window


def listen_config(path: Path, listen: bool, interval: str) -> None:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        lines.append(line)
        if line.startswith("network = "):
            lines.append(f"listen = {'true' if listen else 'false'}")
            lines.append(f'listen_interval = "{interval}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def listens(sink: SinkProcess) -> int:
    doc = await sink._get("/_bench/count")
    return int(doc.get("listens", 0))


async def at_rest(root: Path, sink: SinkProcess, settle: float, window: float) -> Rest:
    daemon = Daemon(root / "publisher.toml", root, "daemon").start()
    try:
        ready = await daemon.wait_ready(180)
        await asyncio.sleep(settle)  # the first reads of every account done
        reads0 = await listens(sink)
        cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
        await asyncio.sleep(window)
        cpu1, elapsed = daemon.cpu_seconds(), time.monotonic() - t0
        reads = await listens(sink) - reads0
        rss, hwm = daemon.memory_mb("VmRSS"), daemon.memory_mb("VmHWM")
    finally:
        daemon.stop()
    return Rest((cpu1 - cpu0) / (elapsed / 60), rss, hwm, ready, reads)


async def measure(
    accounts: int, interval_s: int, window: float, settle: float, workdir: Path
) -> tuple[Rest, Rest]:
    names = [f"brand-{i:03d}" for i in range(accounts)]
    configured = [Account(n, network="mastodon") for n in names]
    rests: dict[str, Rest] = {}
    async with aiohttp.ClientSession() as http:
        with SinkProcess(workdir, http) as sink:
            for name, listen in (("off", False), ("on", True)):
                root = workdir / name
                config = write_config(
                    root, configured, database=f"sqlite:///{root}/queue.db", sink_url=sink.url
                )
                listen_config(config, listen, f"{interval_s}s")
                (root / "queue.yaml").write_text("posts: []\n", encoding="utf-8")
                say("listen", f"listening {name}: {accounts} accounts, {window:.0f} s at rest")
                rests[name] = await at_rest(root, sink, settle, window)
    return rests["off"], rests["on"]


def report(accounts: int, interval_s: int, off: Rest, on: Rest) -> str:
    lines = [
        f"\nListening at rest: {accounts} Mastodon accounts, one read each every {interval_s} s",
        f"{'':34} {'off':>10} {'on':>10} {'on / off':>9}",
    ]
    rows = [
        ("CPU while idle (CPU-s per minute)", off.cpu_per_minute, on.cpu_per_minute, "{:.3f}"),
        ("RSS at the end (MB)", off.rss_mb, on.rss_mb, "{:.0f}"),
        ("peak RSS, start included (MB)", off.hwm_mb, on.hwm_mb, "{:.0f}"),
        ("start → ready (s)", off.ready_s, on.ready_s, "{:.1f}"),
    ]
    for label, a, b, fmt in rows:
        ratio = f"{b / a:.2f}" if a > 0 else "n/a"
        lines.append(f"{label:34} {fmt.format(a):>10} {fmt.format(b):>10} {ratio:>9}")
    lines.append(f"{'notification reads in the window':34} {off.reads:>10,} {on.reads:>10,}")
    return "\n".join(lines)


async def main(accounts: int, interval_s: int, window: float, settle: float, work: Path) -> None:
    off, on = await measure(accounts, interval_s, window, settle, work)
    print(report(accounts, interval_s, off, on))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS)
    parser.add_argument("--interval", type=int, default=INTERVAL_S, help="seconds")
    parser.add_argument(
        "--window", type=float, default=INTERVAL_S + 30.0, help="idle window, seconds"
    )
    parser.add_argument("--settle", type=float, default=20.0, help="after ready, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="publisher-listen-"))
    try:
        asyncio.run(main(args.accounts, args.interval, args.window, args.settle, workdir))
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        reap_children()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    cli()
