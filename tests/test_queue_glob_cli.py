"""One file per team through the commands: validate, dry-run, status, calendar, audit."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema

from publisher.store import Store
from publisher.sync import sync_queue
from tests.conftest import Project
from tests.test_cli import cli
from tests.test_queue_glob import (  # noqa: F401 (a fixture)
    BROKEN_B,
    GOOD_A,
    GOOD_B,
    NOW,
    team_project,
    use_pattern,
    write,
)


def audit_schema() -> dict[str, Any]:
    text = files("publisher").joinpath("schema/audit.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


async def test_validate_names_the_broken_file_and_the_others(
    team_project: Project,  # noqa: F811
) -> None:
    use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    write(team_project, "team-b.yaml", GOOD_B)
    config = str(team_project.config_path)
    code, out, err = await cli("validate", "--config", config)
    assert code == 0, err
    assert out.startswith("queue.d/*.yaml (2 files): valid — 4 posts, 5 deliveries")
    code, out, err = await cli("dry-run", "--config", config, "--from", "2026-11-01")
    assert code == 0, err
    assert "team-a.yaml:launch → alpha" in out and "team-b.yaml:launch → beta" in out
    write(team_project, "team-b.yaml", BROKEN_B)
    code, out, err = await cli("validate", "--config", config)
    assert code == 1
    broken = str(team_project.root / "queue.d" / "team-b.yaml")
    assert f"{broken}:4:" in err and "posts[2].at" in err
    assert err.splitlines()[-1] == (
        "1 error(s): team-b.yaml would not be applied (a file with errors keeps its last good "
        "plan); the other files would"
    )
    code, out, err = await cli("validate", "--config", config, "--format", "json")
    doc = json.loads(out)
    assert [d["file"] for d in doc["diagnostics"]] == [broken]
    assert not doc["valid"] and doc["counts"]["posts"] == 2  # team-a.yaml's, checked
    # Every file broken: nothing would be applied.
    write(team_project, "team-a.yaml", BROKEN_B)
    code, out, err = await cli("validate", "--config", config)
    assert code == 1
    assert err.splitlines()[-1] == "2 error(s): the queue is not valid; nothing would be applied"


async def test_status_says_partly_applied_and_audit_groups_by_file(
    team_project: Project,  # noqa: F811
) -> None:
    config = use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    write(team_project, "team-b.yaml", GOOD_B)
    store = await Store.open(team_project.database)
    try:
        await sync_queue(config, store, NOW)
        write(team_project, "team-b.yaml", BROKEN_B)
        await sync_queue(config, store, NOW)
    finally:
        await store.close()
    path = str(team_project.config_path)
    code, out, err = await cli("status", "--config", path)
    assert code == 0, err
    assert "PARTLY APPLIED (a file with errors keeps its last good plan)" in out
    assert "team-b.yaml:4:" in out
    code, out, err = await cli(
        "audit", "--config", path, "--group", "file", "--since", "2026-11-30",
        "--until", "2026-12-07", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, audit_schema())
    assert doc["group"] == "file"
    assert [(t["scope"], t.get("file")) for t in doc["totals"]] == [
        ("file", "team-a.yaml"),
        ("file", "team-b.yaml"),
        ("network", None),
        ("all", None),
    ]
    code, out, err = await cli(
        "audit", "--config", path, "--group", "file", "--since", "2026-11-30",
        "--until", "2026-12-07", "--format", "csv",
    )  # fmt: skip
    assert out.splitlines()[0].endswith(",repeated,file")
    assert out.splitlines()[1].endswith(",team-a.yaml")
    code, out, err = await cli("calendar", "--ics", "--config", path, "--from", "2026-11-30")
    assert code == 1 and "team-b.yaml:4:" in err  # a broken file: as for one broken file


async def test_render_problems_and_rules_in_their_own_file(
    team_project: Project,  # noqa: F811
) -> None:
    team_project.accounts["bird"] = {
        "network": "x",
        "api_key": "${NO_KEY}",
        "api_secret": "${NO_SECRET}",
        "access_token": "${NO_TOKEN}",
        "access_secret": "${NO_TOKEN_SECRET}",
    }
    team_project.write_config()
    use_pattern(team_project)
    write(team_project, "team-a.yaml", GOOD_A)
    write(
        team_project,
        "team-b.yaml",
        f"""\
        posts:
          - {{id: tips, at: 2027-01-04 09:00, accounts: [alpha], text: Tip,
              repeat: {{every: day, count: 2}}}}
          - id: long
            at: 2027-01-05 09:00
            accounts: [bird]
            thread: false
            text: {"mot " * 92}fin
        """,
    )
    config = str(team_project.config_path)
    code, _, err = await cli("validate", "--config", config)
    assert code == 1
    [line] = [x for x in err.splitlines() if "the limit is 280" in x]
    assert line.startswith(f"{team_project.root / 'queue.d' / 'team-b.yaml'}:8:")
    assert "posts[1].text" in line
    code, out, err = await cli("dry-run", "--json", "--config", config, "--from", "2027-01-01")
    posts = {d["post"] for d in json.loads(out)["deliveries"]}
    assert {"team-b.yaml:tips@2027-01-04", "team-b.yaml:tips@2027-01-05"} <= posts
