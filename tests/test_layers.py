"""The import contracts (``[tool.importlinter]`` in pyproject.toml) hold, and can fail.

The layers run from the CLI down to the ground; the content types and the text layer import
nothing else of the project; no modules import each other in a circle (issue 14, item 2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.paths import ROOT

LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)


def _contract_names() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["id"]: c["name"] for c in config["tool"]["importlinter"]["contracts"]}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the ``publisher`` package found at ``root``, with its config."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a guard against a hang, not a limit
    )


def _verdicts(output: str) -> dict[str, str]:
    """Each contract's id, KEPT or BROKEN, from lint-imports' summary."""
    out = {}
    for contract_id, name in _contract_names().items():
        for line in output.splitlines():
            if line.startswith(f"{name} KEPT") or line.startswith(f"{name} BROKEN"):
                out[contract_id] = line[len(name) + 1 :].split()[0]
    return out


def test_every_contract_is_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _verdicts(result.stdout) == {
        "layers": "KEPT",
        "ground": "KEPT",
        "connect": "KEPT",
        "acyclic": "KEPT",
    }, result.stdout


# The project's modules importing a module of the ground may load: its own package, and
# ``publisher`` itself (a parent package is always imported first; it defines the version).
@pytest.mark.parametrize("module", ["publisher.content", "publisher.text"])
def test_the_ground_loads_nothing_else_of_the_project(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "print('\\n'.join(m for m in sys.modules if m.split('.')[0] == 'publisher'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(result.stdout.split())
    own = {"publisher", module}
    others = {m for m in loaded if m not in own and not m.startswith(module + ".")}
    assert not others, sorted(others)


CONTENT_TYPES = [
    "DeliveryRef",
    "LinkCard",
    "MediaItem",
    "MediaRef",
    "PostContent",
    "Published",
    "RemotePart",
    "Rendered",
    "RenderedPart",
    "ThreadMode",
]


@pytest.mark.parametrize("name", CONTENT_TYPES)
def test_adapters_find_the_content_types_in_their_base(name: str) -> None:
    """An adapter (ours or a third party's) written against ``publisher.adapters.base`` gets
    the very classes the core uses."""
    import publisher.adapters.base as base
    import publisher.content as content

    assert getattr(base, name) is getattr(content, name)


# Each case: a file, a line added to it, the contracts it must break.
BREAKS = {
    "the text layer imports the adapters": (
        "publisher/text/lengths.py",
        "from publisher.adapters import base as _base  # noqa\n",
        {"layers", "ground", "acyclic"},
    ),
    "the content types import the media module": (
        "publisher/content.py",
        "from publisher import media as _media  # noqa\n",
        {"ground", "layers", "acyclic"},  # media imports the content types
    ),
    "a lazy import closes a circle inside the adapters": (
        "publisher/adapters/shared.py",
        "\n\ndef _later() -> None:\n    from publisher.adapters import base  # noqa\n",
        {"acyclic"},
    ),
    "the store imports the engine anew": (
        "publisher/store/codec.py",
        "from publisher.engine import runtime as _runtime  # noqa\n",
        {"layers", "acyclic"},
    ),
    "a module placed in no layer": ("publisher/unplaced.py", "X = 1\n", {"layers"}),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_the_contracts_catch_a_wrong_import(case: str, tmp_path: Path) -> None:
    """The same check on a copy of the package with one import added: it fails, and says
    which contracts broke."""
    path, line, broken = BREAKS[case]
    shutil.copytree(  # through the link publisher/adapters -> ../adapters
        ROOT / "publisher", tmp_path / "publisher", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.write_text((target.read_text() if target.exists() else "") + line)

    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    verdicts = _verdicts(result.stdout)
    assert {c for c, v in verdicts.items() if v == "BROKEN"} == broken, result.stdout
