"""Mutation testing of the pure core (issue 22): run by ``scripts/mutation``, not by CI.

For each group of ``[tool.mutation.group.*]`` in pyproject.toml it stages a copy of the tree
under build/mutation/<group> (``publisher/adapters`` there is a real directory holding the
files of ``adapters/``, so the mutants of ``adapters/shared.py`` are named after the module
the tests import, ``publisher.adapters.shared``), runs mutmut on the group's modules with only
the group's fast tests, and prints each module's score and its surviving mutants. Mutants
listed in ``[[tool.mutation.equivalent]]`` (with the reason they cannot change behaviour) are
left out of the score; every other survivor counts against it.

mutmut runs each mutant against the tests that executed its function on the clean code (it
records them first), stopping at the first failure, so a group costs about the number of its
mutants times the time of the tests that cover the mutated function.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
GENERATED = "# type: ignore # mutmut generated"
SEP = "ǁ"  # mutmut's separator in the mangled name of a method

# mutmut's exit codes: these mean the tests caught the mutant.
CAUGHT = {1, 3, 24, -24, 36, 152, 255, 37, -9, -11}
NOT_RUN = {None, 34}


@dataclass(frozen=True)
class Group:
    name: str
    paths: tuple[str, ...]  # as in the repository: adapters/shared.py, publisher/...
    tests: tuple[str, ...]  # pytest arguments selecting the group's fast tests
    functions: dict[str, tuple[str, ...]]  # path: the only functions mutated there
    goal: dict[str, int]  # path: the lowest acceptable score, in percent


@dataclass(frozen=True)
class Equivalent:
    function: str  # publisher.x.f or publisher.x.Class.method
    change: str  # "<line before> => <line after>", stripped
    why: str


@dataclass
class Mutant:
    name: str  # mutmut's: publisher.durations.x_format_duration__mutmut_3
    function: str  # publisher.durations.format_duration
    exit_code: int | None
    change: str = ""
    why_equivalent: str | None = None


@dataclass
class Score:
    path: str
    goal: int
    mutants: list[Mutant] = field(default_factory=list)

    @property
    def counted(self) -> list[Mutant]:
        return [m for m in self.mutants if m.why_equivalent is None]

    @property
    def caught(self) -> int:
        return sum(1 for m in self.counted if m.exit_code in CAUGHT)

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.counted if m.exit_code not in CAUGHT]

    @property
    def percent(self) -> float:
        n = len(self.counted)
        return 100.0 * self.caught / n if n else 100.0


def staged(path: str) -> str:
    """Where a repository path is in the staged tree (adapters/ lives inside publisher/)."""
    return f"publisher/{path}" if path.startswith("adapters/") else path


def module_of(path: str) -> str:
    return staged(path).removesuffix(".py").replace("/", ".")


def load_config() -> tuple[list[Group], list[Equivalent], dict[str, Any]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutation"]
    groups = []
    for name, g in data["group"].items():
        paths = tuple(g["paths"])
        groups.append(
            Group(
                name=name,
                paths=paths,
                tests=tuple(g["tests"]),
                functions={p: tuple(f) for p, f in g.get("functions", {}).items()},
                goal={p: int(g.get("goal", {}).get(p, data["goal"])) for p in paths},
            )
        )
    equivalents = [
        Equivalent(e["function"], " ".join(e["change"].split()), e["why"])
        for e in data.get("equivalent", [])
    ]
    return groups, equivalents, data


def mutant_globs(group: Group) -> list[str]:
    """mutmut names to run: every mutant of the group's files, or only of listed functions."""
    out = []
    for path in group.paths:
        module = module_of(path)
        functions = group.functions.get(path)
        if not functions:
            out.append(f"{module}.*")
            continue
        for f in functions:
            if "." in f:
                cls, meth = f.split(".", 1)
                out.append(f"{module}.x{SEP}{cls}{SEP}{meth}__mutmut_*")
            else:
                out.append(f"{module}.x_{f}__mutmut_*")
    return out


def stage(group: Group, data: dict[str, Any]) -> Path:
    """A fresh copy of what the group's tests need, with mutmut configured for the group."""
    where = WORK / group.name
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "*.db*")
    # symlinks=False: publisher/adapters (a link to ../adapters) becomes a real directory.
    shutil.copytree(ROOT / "publisher", where / "publisher", symlinks=False, ignore=skip)
    for extra in ["tests", *data.get("also_copy", [])]:
        src = ROOT / extra
        if src.is_dir():
            shutil.copytree(src, where / extra, symlinks=True, ignore=skip)
        elif src.exists():
            shutil.copy2(src, where / extra)
    only = [staged(p) for p in group.paths]
    pytest_args = ["-p", "no:cacheprovider", *data.get("pytest_args", [])]
    mutmut = {
        "source_paths": ["publisher"],
        "only_mutate": only,
        "also_copy": list(data.get("also_copy", [])),
        "pytest_add_cli_args_test_selection": list(group.tests),
        "pytest_add_cli_args": pytest_args,
        "use_git_change_detection": False,
        "timeout_multiplier": float(data.get("timeout_multiplier", 15.0)),
    }
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    text += "\n[tool.mutmut]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in mutmut.items())
    (where / "pyproject.toml").write_text(text, "utf-8")
    return where


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v)


def run_group(group: Group, data: dict[str, Any], jobs: int, log: Path) -> float:
    where = stage(group, data)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MUTANT_UNDER_TEST")}
    started = time.monotonic()
    with log.open("w") as out:
        cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)]
        done = subprocess.run(
            [*cmd, *mutant_globs(group)], cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        sys.exit(f"mutmut failed on group {group.name} (exit {done.returncode}); see {log}")
    return time.monotonic() - started


def function_sources(mutated_file: Path) -> dict[str, list[str]]:
    """Each function of mutmut's mutated file (mangled name: its body's lines)."""
    source = mutated_file.read_text("utf-8")
    tree = ast.parse(source)
    all_lines = source.splitlines()
    out: dict[str, list[str]] = {}

    def visit(nodes: Iterable[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"x{SEP}{node.name}{SEP}")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
                if prefix and not name.startswith("x"):
                    name = prefix + name
                seg = all_lines[node.lineno - 1 : node.end_lineno]
                lines = [ln.replace(GENERATED, "").rstrip() for ln in seg]
                # The signature too (a default value is mutated there), without the name.
                lines[0] = lines[0].replace(f"def {node.name}(", "def (", 1)
                out[name] = lines

    visit(tree.body, "")
    return out


def describe(orig: Sequence[str], mutant: Sequence[str]) -> str:
    """The mutant as "<line before> => <line after>", whitespace collapsed."""
    before, after = [], []
    matcher = difflib.SequenceMatcher(None, orig, mutant, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            before += [" ".join(line.split()) for line in orig[i1:i2]]
            after += [" ".join(line.split()) for line in mutant[j1:j2]]
    return f"{' / '.join(before)} => {' / '.join(after)}"


def readable(mangled_function: str) -> str:
    if mangled_function.startswith(f"x{SEP}"):
        _, cls, meth = mangled_function.split(SEP)
        return f"{cls}.{meth}"
    return mangled_function.removeprefix("x_")


def collect(group: Group, equivalents: list[Equivalent], globs: list[str]) -> dict[str, Score]:
    where = WORK / group.name / "mutants"
    scores: dict[str, Score] = {}
    for path in group.paths:
        spath = staged(path)
        score = scores[path] = Score(path, group.goal[path])
        meta = json.loads((where / f"{spath}.meta").read_text("utf-8"))
        sources = function_sources(where / spath)
        module = module_of(path)
        for name, code in sorted(meta["exit_code_by_key"].items(), key=lambda kv: natural(kv[0])):
            if not any(fnmatch.fnmatch(name, g) for g in globs):
                continue
            mangled = name[len(module) + 1 :]
            func_mangled, _, _number = mangled.rpartition("__mutmut_")
            function = f"{module}.{readable(func_mangled)}"
            orig = sources.get(f"{func_mangled}__mutmut_orig", [])
            change = describe(orig, sources.get(mangled, []))
            m = Mutant(name, function, code, change)
            for e in equivalents:
                if e.function == function and e.change == change:
                    m.why_equivalent = e.why
            if code in NOT_RUN:
                sys.exit(f"{name} was not run (exit code {code}): rerun scripts/mutation")
            score.mutants.append(m)
    return scores


def natural(name: str) -> tuple[str, int]:
    head, _, n = name.rpartition("__mutmut_")
    return head, int(n) if n.isdigit() else -1


def report(scores: list[Score], equivalents: list[Equivalent], verbose: bool) -> bool:
    ok = True
    used = set()
    print()
    print(f"{'module':<34} {'mutants':>7} {'equiv.':>6} {'caught':>6} {'score':>7}  goal")
    for s in scores:
        equiv = len(s.mutants) - len(s.counted)
        good = s.percent >= s.goal
        ok &= good
        print(
            f"{s.path:<34} {len(s.mutants):>7} {equiv:>6} {s.caught:>6} {s.percent:>6.1f}%"
            f"  {s.goal}%{'' if good else '  BELOW'}"
        )
        used |= {(m.function, m.change) for m in s.mutants if m.why_equivalent}
    total = sum(len(s.counted) for s in scores)
    caught = sum(s.caught for s in scores)
    if total:
        print(
            f"{'all':<34} {sum(len(s.mutants) for s in scores):>7} "
            f"{sum(len(s.mutants) - len(s.counted) for s in scores):>6} {caught:>6} "
            f"{100.0 * caught / total:>6.1f}%"
        )
    for s in scores:
        if s.survivors:
            print(f"\nsurvivors in {s.path}:")
            for m in s.survivors:
                status = "survived" if m.exit_code == 0 else f"exit {m.exit_code}"
                if m.exit_code in (5, 33):
                    status = "no test runs it"
                print(f"  {m.function}  [{status}]  {m.name.rpartition('.')[2]}")
                print(f"      {m.change}")
        if verbose:
            for m in s.mutants:
                if m.why_equivalent:
                    print(f"  equivalent: {m.function}: {m.change}  ({m.why_equivalent})")
    stale = [e for e in equivalents if (e.function, e.change) not in used]
    ran = {s.path for s in scores}
    stale = [e for e in stale if any(e.function.startswith(module_of(p)) for p in ran)]
    if stale:
        print("\nequivalent mutants listed in pyproject.toml that no longer exist:")
        for e in stale:
            print(f"  {e.function}: {e.change}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    groups, equivalents, data = load_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "groups",
        nargs="*",
        help=f"groups to run (default all: {', '.join(g.name for g in groups)})",
    )
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="report the last run's results without running mutmut",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list equivalents too")
    args = parser.parse_args(argv)
    unknown = set(args.groups) - {g.name for g in groups}
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    chosen = [g for g in groups if not args.groups or g.name in args.groups]
    scores: list[Score] = []
    started = time.monotonic()
    for g in chosen:
        log = WORK / f"{g.name}.log"
        if not args.report_only:
            WORK.mkdir(parents=True, exist_ok=True)
            print(f"group {g.name}: {', '.join(g.paths)} ...", flush=True)
            took = run_group(g, data, args.jobs, log)
            print(f"  done in {took / 60:.1f} min (log: {log.relative_to(ROOT)})", flush=True)
        scores.extend(collect(g, equivalents, mutant_globs(g)).values())
    ok = report(scores, equivalents, args.verbose)
    if not args.report_only:
        print(f"\ntotal time {(time.monotonic() - started) / 60:.1f} min with {args.jobs} jobs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
