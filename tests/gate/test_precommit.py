"""The pre-commit hook this repository provides, and the examples docs/editors.md gives for an
editors' repository: they name the hook there is, with arguments `validate` takes, and the hook
run as pre-commit runs it passes a good queue and stops a bad one."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from publisher.cli import build_parser
from tests.paths import ROOT

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
DOC = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")


def hook() -> dict[str, Any]:
    [only] = HOOKS
    assert isinstance(only, dict)
    return only


def yaml_blocks() -> list[Any]:
    """The YAML blocks of the pre-commit and CI sections (earlier sections show queue.yaml)."""
    hooks = DOC[DOC.index("## pre-commit") :]
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", hooks, re.DOTALL)]


def test_the_hook_runs_validate_on_the_whole_queue() -> None:
    h = hook()
    assert h["id"] == "publisher-validate"
    assert h["entry"] == "publisher validate"
    assert h["language"] == "python"
    assert h["pass_filenames"] is False  # validate takes --config, never file names
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert shlex.split(h["entry"])[0] in scripts


@pytest.mark.parametrize(
    ("path", "runs"),
    [
        ("queue.yaml", True),
        ("editors/queue.yml", True),
        ("publisher.toml", True),
        ("media/soldes.jpg", True),
        ("media/Soldes.JPEG", True),
        ("media/clip.mp4", True),
        ("README.md", False),
        ("notes.txt", False),
        ("queue.yaml.bak", False),
        ("old-queue.yaml", False),
    ],
)
def test_the_hook_runs_when_the_queue_config_or_media_change(path: str, runs: bool) -> None:
    assert bool(re.search(hook()["files"], path)) is runs


def run_hook(repo: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The hook's entry with its arguments, from the repository's root, as pre-commit runs it
    (the `publisher` script being `python -m publisher.cli` here)."""
    entry = shlex.split(hook()["entry"])
    assert entry[0] == "publisher"
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", *entry[1:], *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_the_documented_hook_passes_the_example_and_stops_a_post_that_cannot_go_out(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "editors"
    shutil.copytree(ROOT / "examples", repo)
    [remote, local, _workflow] = yaml_blocks()
    [configured] = remote["repos"][0]["hooks"]
    assert configured["id"] == hook()["id"]
    good = run_hook(repo, configured["args"])
    assert good.returncode == 0, good.stderr
    assert "queue.yaml: valid" in good.stdout
    queue = repo / "queue.yaml"
    with queue.open("a", encoding="utf-8") as f:
        f.write(
            "\n  - id: too-long-for-x\n    at: 2099-12-01 09:00\n    accounts: [brand-x]\n"
            f"    thread: false\n    text: {'mot ' * 92}fin\n"
        )
    bad = run_hook(repo, configured["args"])
    assert bad.returncode == 1
    assert "the limit is 280 (threads are off) (brand-x, x)" in bad.stderr
    assert not (repo / "queue.db").exists()
    [own] = local["repos"][0]["hooks"]
    assert own["id"] == hook()["id"] and own["files"] == hook()["files"]
    assert own["pass_filenames"] is False
    assert shlex.split(own["entry"])[:2] == ["publisher", "validate"]
    build_parser().parse_args(shlex.split(own["entry"])[1:])


def test_the_documented_workflow_annotates_with_validate() -> None:
    workflow = yaml_blocks()[2]
    steps = workflow["jobs"]["validate"]["steps"]
    last = shlex.split(steps[-1]["run"])
    assert last[:2] == ["publisher", "validate"]
    args = build_parser().parse_args(last[1:])
    assert args.format == "github" and str(args.config) == "publisher.toml"
