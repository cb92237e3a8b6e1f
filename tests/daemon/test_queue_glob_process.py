"""One file per team, as a real daemon: a broken file keeps its plan, the others go on."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.daemon.test_process import (  # noqa: F401 (fixtures)
    SlowMastodon,
    masto,
    queue_text,
    spawn,
    status_json,
    wait_for,
    write_files,
)


def scheduled(config: Path) -> set[str]:
    doc = status_json(config)
    return {d["post"] for d in doc["next"] if d["state"] == "scheduled"}  # type: ignore[index,attr-defined]


async def test_broken_file_keeps_its_plan_while_the_others_are_applied(
    tmp_path: Path,
    masto: SlowMastodon,  # noqa: F811
    spawn: object,  # noqa: F811
) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    config = write_files(tmp_path, masto.url, [])
    text = config.read_text(encoding="utf-8").replace('"queue.yaml"', '"queue.d/*.yaml"')
    config.write_text(text, encoding="utf-8")
    teams = tmp_path / "queue.d"
    teams.mkdir()
    a, b = teams / "team-a.yaml", teams / "team-b.yaml"
    a.write_text(queue_text([("launch", later, "A later")]), encoding="utf-8")
    b.write_text(queue_text([("launch", later, "B later")]), encoding="utf-8")
    daemon = spawn(config)  # type: ignore[operator]
    await wait_for(lambda: "queue applied: 2 added" in daemon.output())
    assert scheduled(config) == {"team-a.yaml:launch", "team-b.yaml:launch"}
    # B breaks; then A gets a post due now: it goes out, B's post stays scheduled.
    b.write_text(
        queue_text([("launch", later, "B later")]) + "  - {id: oops, at: never}\n",
        encoding="utf-8",
    )
    await wait_for(lambda: "team-b.yaml:6:" in daemon.output())
    soon = datetime.now(UTC) + timedelta(seconds=1)
    a.write_text(queue_text([("launch", later, "A later"), ("now", soon, "A now")]), "utf-8")
    await wait_for(lambda: any(x[1] == "A now" for x in masto.arrivals))
    assert "not applied, " in daemon.output() and "in team-b.yaml" in daemon.output()
    assert scheduled(config) == {"team-a.yaml:launch", "team-b.yaml:launch"}
    # B fixed, with a post due now: it goes out too.
    soon = datetime.now(UTC) + timedelta(seconds=1)
    b.write_text(queue_text([("launch", later, "B later"), ("now", soon, "B now")]), "utf-8")
    await wait_for(lambda: any(x[1] == "B now" for x in masto.arrivals))
    # B removed: its unsent post is withdrawn, A's stays.
    b.unlink()
    await wait_for(lambda: scheduled(config) == {"team-a.yaml:launch"})
    daemon.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(daemon.proc.wait, 20) == 0
    assert sorted(x[1] for x in masto.arrivals) == ["A now", "B now"]
