"""Every broken file is refused, with every problem at its exact line and column."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.diagnostics import Severity
from tests.broken_cases import CASES, CONFIG_CASES, QUEUE_CASES, BrokenCase, run_case


def test_the_table_is_big_enough() -> None:
    assert len(QUEUE_CASES) >= 32
    assert len(CONFIG_CASES) >= 8
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_broken_file(case: BrokenCase, tmp_path: Path) -> None:
    if case.needs_non_root and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    err = run_case(case, tmp_path)
    assert err is not None, f"{case.name}: the file was accepted"
    listing = "\n".join(str(d) for d in err.diagnostics)
    expected_errors = [e for e in case.expected if e.severity is Severity.ERROR]
    assert len(err.errors) == len(expected_errors), f"{case.name}: got\n{listing}"
    unmatched = list(err.diagnostics)
    for exp in case.expected:
        match = next(
            (
                d
                for d in unmatched
                if (d.line, d.column, d.severity) == (exp.line, exp.column, exp.severity)
                and exp.fragment in d.message
            ),
            None,
        )
        assert match is not None, (
            f"{case.name}: no {exp.severity} at {exp.line}:{exp.column} containing "
            f"{exp.fragment!r}; got\n{listing}"
        )
        unmatched.remove(match)
        # The rendered form an editor reads: FILE:LINE:COL: ...
        assert str(match).startswith(f"{tmp_path / case.main_file}:{exp.line}:{exp.column}: ")
    assert all(d.file == str(tmp_path / case.main_file) for d in err.diagnostics)


@pytest.mark.parametrize(
    "case", [c for c in QUEUE_CASES if not c.needs_non_root], ids=lambda c: c.name
)
def test_validate_command_reports_each_queue_case(case: BrokenCase, tmp_path: Path) -> None:
    """`publisher validate`: exit 1, each error as `file:line:col: message`, no traceback."""
    import contextlib
    import io

    from publisher.cli import main
    from tests.broken_cases import materialize

    paths = materialize(case, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", "--config", str(paths.config)])
    assert code == 1, err.getvalue()
    lines = err.getvalue().splitlines()
    assert "Traceback" not in err.getvalue()
    for exp in case.expected:
        where = f"{paths.queue}:{exp.line}:{exp.column}: "
        assert any(line.startswith(where) and exp.fragment in line for line in lines), (
            f"{case.name}: no {where}...{exp.fragment!r} in\n{err.getvalue()[:3000]}"
        )


@pytest.mark.parametrize("case", QUEUE_CASES, ids=lambda c: c.name)
def test_each_queue_case_config_is_valid(case: BrokenCase, tmp_path: Path) -> None:
    """The blame is on the queue file: the same config with an empty queue loads."""
    fixed = BrokenCase(case.name, "queue", "posts: []\n", (), config=case.config)
    assert run_case(fixed, tmp_path) is None


GOOD_QUEUE = """\
posts:
  - id: kept-1
    at: 2026-12-01 09:00
    accounts: [brand-a, brand-b]
    text: Un post qui doit rester prévu
  - id: kept-2
    accounts: [brand-c]
    text: Un post dans un créneau
"""


@pytest.mark.parametrize(
    "case", [c for c in QUEUE_CASES if not c.needs_non_root], ids=lambda c: c.name
)
async def test_broken_queue_leaves_the_store_unchanged(case: BrokenCase, tmp_path: Path) -> None:
    """The last good plan stays in force: nothing added, changed or canceled."""
    from datetime import UTC, datetime, timedelta

    from publisher.config import SecretPolicy, load_config
    from publisher.secrets import SecretSource
    from publisher.store import Store
    from publisher.sync import sync_queue
    from tests.broken_cases import materialize

    paths = materialize(case, tmp_path)
    config = load_config(
        paths.config,
        secrets=SecretPolicy.REQUIRE,
        source=SecretSource(dict(case.environ), paths.credentials),
    )
    broken = paths.queue.read_bytes()
    paths.queue.write_text(GOOD_QUEUE, encoding="utf-8")
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    store = await Store.open(f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        first = await sync_queue(config, store, now)
        assert first.applied and first.added == 3
        before = sorted(
            (d.post_id, d.account, d.state, d.due_at, d.content_hash, d.reason)
            for d in await store.all_deliveries()
        )
        paths.queue.write_bytes(broken)
        report = await sync_queue(config, store, now + timedelta(minutes=1))
        assert not report.applied and report.errors
        after = sorted(
            (d.post_id, d.account, d.state, d.due_at, d.content_hash, d.reason)
            for d in await store.all_deliveries()
        )
        assert after == before
        load = await store.load_state()
        assert load is not None and not load.ok
    finally:
        await store.close()
