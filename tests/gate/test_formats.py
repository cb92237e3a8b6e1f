"""`publisher validate --format json|github`: every diagnostic with file, line, column,
severity, account, network and message (docs/json.md), whatever stage found it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from publisher.commands.checks import Finding
from publisher.commands.validate import github_line
from publisher.diagnostics import Diagnostic, Severity
from tests.conftest import Project
from tests.paths import ROOT
from tests.test_cli import cli

LONG = "mot " * 92 + "fin"  # 371 characters

QUEUE_TOO_LONG = f"""\
posts:
  - id: long
    at: 2099-12-01 09:00
    accounts: [bird]
    thread: false
    text: {LONG}
"""

DIAGNOSTIC_KEYS = {
    "file",
    "line",
    "column",
    "severity",
    "field",
    "message",
    "post",
    "account",
    "network",
}


@pytest.fixture
def bird(project: Project) -> Project:
    project.accounts = {
        "bird": {
            "network": "x",
            "api_key": "${NO_KEY}",
            "api_secret": "${NO_SECRET}",
            "access_token": "${NO_TOKEN}",
            "access_secret": "${NO_TOKEN_SECRET}",
        },
        "alpha": {"network": "log"},
    }
    project.write_config()
    return project


async def test_json_lists_a_render_problem_with_its_delivery(bird: Project) -> None:
    bird.write_queue(QUEUE_TOO_LONG)
    code, out, err = await cli("validate", "--format", "json", "--config", str(bird.config_path))
    assert code == 1
    assert err == ""  # the document is the whole answer
    doc = json.loads(out)
    assert doc["schema"] == 1 and doc["valid"] is False
    assert doc["config"] == str(bird.config_path) and doc["queue"] == str(bird.queue_path)
    assert doc["counts"] == {
        "errors": 1,
        "warnings": 4,  # the four unset secrets of publisher.toml
        "posts": 1,
        "deliveries": 1,
        "pending": 1,
        "failing": 1,
    }
    assert all(set(d) == DIAGNOSTIC_KEYS for d in doc["diagnostics"])
    [error] = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert error == {
        "file": str(bird.queue_path),
        "line": 6,
        "column": 11,
        "severity": "error",
        "field": "posts[0].text",
        "message": "text is 371 long, the limit is 280 (threads are off)",
        "post": "long",
        "account": "bird",
        "network": "x",
    }
    secrets = [d for d in doc["diagnostics"] if d["severity"] == "warning"]
    assert {d["file"] for d in secrets} == {str(bird.config_path)}
    assert all(d["post"] is d["account"] is d["network"] is None for d in secrets)


async def test_json_lists_the_queue_files_own_errors(bird: Project) -> None:
    bird.write_queue("""\
        posts:
          - id: a
            at: 2099-12-01 9h
            accounts: [alpha, nobody]
            text: A
        """)
    code, out, _ = await cli("validate", "--format", "json", "--config", str(bird.config_path))
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False
    assert doc["counts"]["posts"] is None and doc["counts"]["pending"] is None
    errors = [
        (d["line"], d["column"], d["field"]) for d in doc["diagnostics"] if d["severity"] == "error"
    ]
    assert errors == [(3, 9, "posts[0].at"), (4, 23, "posts[0].accounts[1]")]


async def test_json_lists_the_config_files_errors(bird: Project) -> None:
    bird.config_path.write_text(
        bird.config_path.read_text() + '\n[accounts.broken]\nnetwork = "nowhere"\n'
    )
    code, out, err = await cli("validate", "--format", "json", "--config", str(bird.config_path))
    assert code == 1, err
    doc = json.loads(out)
    assert doc["valid"] is False and doc["queue"] is None
    [error] = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert error["file"] == str(bird.config_path) and "nowhere" in error["message"]


async def test_json_of_the_example_is_valid(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = tmp_path / "examples" / "publisher.toml"
    code, out, _ = await cli("validate", "--format", "json", "--config", str(config))
    assert code == 0
    doc = json.loads(out)
    assert doc["valid"] is True and doc["counts"]["errors"] == 0
    assert doc["counts"]["deliveries"] == doc["counts"]["pending"] > 40
    warned = {(d["post"], d["account"]) for d in doc["diagnostics"] if d["post"]}
    assert ("winter-sale-launch", "brand-fb") in warned  # Facebook drops the alt text


async def test_github_annotations(bird: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(bird.root)  # a workflow runs at the repository's root
    bird.write_queue(QUEUE_TOO_LONG)
    code, out, _ = await cli("validate", "--format", "github", "--config", str(bird.config_path))
    assert code == 1
    lines = out.splitlines()
    assert (
        "::error file=queue.yaml,line=6,col=11,title=publisher validate::posts[0].text: "
        "text is 371 long, the limit is 280 (threads are off) (bird, x)"
    ) in lines
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(warnings) == 4
    assert all(re.match(r"::warning file=publisher.toml,line=\d+,col=1,", w) for w in warnings)
    assert lines[-1] == "publisher validate: 1 error(s), 4 warning(s)"


def test_github_annotations_escape_what_the_runner_would_read_as_syntax() -> None:
    finding = Finding(
        Diagnostic("/elsewhere/a,b:c.yaml", 3, 7, "posts[0].text", "50% done\r\nnext"),
        "p",
        "bird",
        "x",
    )
    assert github_line(finding) == (
        "::error file=/elsewhere/a%2Cb%3Ac.yaml,line=3,col=7,title=publisher validate::"
        "posts[0].text: 50%25 done%0D%0Anext (bird, x)"
    )
    warning = Finding(Diagnostic("q.yaml", 1, 1, "", "hm", Severity.WARNING))
    assert github_line(warning).startswith("::warning file=q.yaml,line=1,col=1,")


async def test_text_says_how_many_deliveries_cannot_go_out(bird: Project) -> None:
    bird.write_queue(QUEUE_TOO_LONG)
    code, out, err = await cli("validate", "--config", str(bird.config_path))
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == "1 error(s): 1 of 1 deliveries cannot be published as written"
    assert "valid —" not in out + err


def test_docs_json_describes_the_validate_document() -> None:
    text = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")
    section = text.split("## `publisher validate --format json`", 1)[1].split("\n## ", 1)[0]
    for key in [*DIAGNOSTIC_KEYS, "valid", "config", "queue", "counts", "notes", "failing"]:
        assert f"`{key}`" in section or f'"{key}"' in section, key
