"""Start-up time (issue 15, item 5): ``publisher --help``, ``validate`` and ``dry-run`` on the
example, each against ``python -c pass`` in the same run.

``python -m bench.startup`` from the repository root (``-n RUNS``, default 11), or as part of
``scripts/bench`` (``--only startup``). Each command runs as a whole process, the way an editor
or a pre-commit hook runs it: the ``publisher`` console script beside this interpreter (else
``python -m publisher.cli``), on a copy of ``examples/`` with no database. The command and
the bare interpreter take turns (A B A B …) after one warm-up each, so a drift in the machine's
speed hits both; the figures are medians of the wall times, of the CPU times (user + system,
from the kernel's accounting of each finished child), and of the ratios pair by pair.

Bytecode is cached as an installed package has it: the children write and read their ``.pyc``
files under a temporary ``PYTHONPYCACHEPREFIX`` (the warm-up fills it; the tree stays clean),
whatever ``PYTHONDONTWRITEBYTECODE`` says in this environment. ``--as-is`` runs them in the
environment as it is instead: with ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__`` in the
checkout, every run compiles the project's modules from source.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_START = "2026-12-01T00:00+01:00"  # the example's first day: dry-run shows every post
TARGETS = {"help": 0.3, "validate": 0.6}  # seconds, medians, on the development machine


@dataclass(frozen=True)
class Timing:
    """Medians over the counted runs of one command and of ``python -c pass`` beside it."""

    name: str
    command: str
    runs: int
    wall: float
    cpu: float
    bare_wall: float
    bare_cpu: float
    ratio: float  # median of command / bare, pair by pair (wall)
    spread: tuple[float, float]  # the command's fastest and slowest wall time
    exit_code: int
    target: float | None


def publisher_command() -> list[str]:
    """The console script of this interpreter's environment, as a user runs it."""
    script = Path(sys.executable).with_name("publisher")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "publisher.cli"]


def child_env(pycache: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # The repository's code, whether or not it is installed (the console script honours it).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one whole process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def measure(name: str, argv: Sequence[str], runs: int, env: dict[str, str], cwd: Path) -> Timing:
    bare = [sys.executable, "-c", "pass"]
    run_once(argv, env, cwd)  # warm-up: fills the bytecode cache and the page cache
    run_once(bare, env, cwd)
    walls: list[float] = []
    cpus: list[float] = []
    bare_walls: list[float] = []
    bare_cpus: list[float] = []
    codes: set[int] = set()
    for _ in range(runs):
        wall, cpu, code = run_once(argv, env, cwd)
        walls.append(wall)
        cpus.append(cpu)
        codes.add(code)
        wall, cpu, _code = run_once(bare, env, cwd)
        bare_walls.append(wall)
        bare_cpus.append(cpu)
    shown = " ".join(
        Path(a).name if i == 0 else ("examples/" + Path(a).name if a.startswith("/") else a)
        for i, a in enumerate(argv)
    )
    return Timing(
        name,
        shown,
        runs,
        statistics.median(walls),
        statistics.median(cpus),
        statistics.median(bare_walls),
        statistics.median(bare_cpus),
        statistics.median(a / b for a, b in zip(walls, bare_walls, strict=True)),
        (min(walls), max(walls)),
        max(codes),
        TARGETS.get(name),
    )


def startup_times(runs: int, *, cached: bool = True) -> list[Timing]:
    """``--help``, ``validate`` and ``dry-run`` on a copy of the example (no database);
    ``cached``: with a bytecode cache of their own, else in this environment as it is."""
    with tempfile.TemporaryDirectory(prefix="publisher-startup-") as tmp:
        work = Path(tmp)
        site = work / "example"
        shutil.copytree(ROOT / "examples", site, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
        config = str(site / "publisher.toml")
        env = child_env(work / "pycache" if cached else None)
        cli = publisher_command()
        commands = {
            "help": [*cli, "--help"],
            "validate": [*cli, "validate", "--config", config],
            "dry-run": [*cli, "dry-run", "--config", config, "--from", EXAMPLE_START],
        }
        return [measure(name, argv, runs, env, site) for name, argv in commands.items()]


def describe(t: Timing) -> str:
    return (
        f"{t.wall:.3f} s wall, {t.cpu:.3f} s CPU; python -c pass {t.bare_wall:.3f} s wall, "
        f"{t.bare_cpu:.3f} s CPU; {t.ratio:.1f}× (medians of {t.runs}; "
        f"{t.spread[0]:.3f}–{t.spread[1]:.3f} s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=11, help="counted runs of each")
    parser.add_argument(
        "--as-is", action="store_true", help="no bytecode cache of its own: the environment as is"
    )
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    timings = startup_times(max(1, args.runs), cached=not args.as_is)
    after = os.getloadavg()[0]
    cache = "environment as is" if args.as_is else "bytecode cached"
    print(
        f"start-up ({cache}), {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"1-min load average {min(load, after):.1f}–{max(load, after):.1f}"
    )
    for t in timings:
        verdict = ""
        if t.target is not None:
            verdict = f"  target ≤ {t.target} s: {'met' if t.wall <= t.target else 'MISSED'}"
        code = "" if t.exit_code == 0 else f"  (exit {t.exit_code})"
        print(f"{t.command}\n  {describe(t)}{verdict}{code}")
    return 1 if any(t.exit_code != 0 for t in timings) else 0


if __name__ == "__main__":
    sys.exit(main())
