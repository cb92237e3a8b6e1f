"""The store sits below the engine: it takes the engine's decision as a function
(``publisher.store.Planner``) and imports nothing of the engine, at import time or later."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys

import publisher.store
from tests.paths import ROOT

STORE = ROOT / "publisher" / "store"


def store_modules() -> list[str]:
    """Every module of the store (its Alembic scripts run inside Alembic, not imported)."""
    return sorted(
        m.name
        for m in pkgutil.walk_packages(publisher.store.__path__, "publisher.store.")
        if not m.name.startswith("publisher.store.migrations")
    )


def test_importing_the_store_loads_no_engine_module() -> None:
    modules = store_modules()
    assert "publisher.store.repo" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules\n"
        "    if m == 'publisher.engine' or m.startswith('publisher.engine.'))))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], "the store loaded the engine"


def test_no_store_module_imports_the_engine_anywhere() -> None:
    """Imports inside functions too, which loading the modules does not run."""
    found = []
    for path in sorted(STORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name == "publisher.engine" or name.startswith("publisher.engine."):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []
