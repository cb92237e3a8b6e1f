"""``publisher history``: every ledger row, in local time, newest last, with filters."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.states import DeliveryState, Outcome
from tests.test_audit import Ledger, at, run_cli, seed, write_config


def ledger() -> Ledger:
    led = Ledger()
    # p-retry on a: a 503, then published (two ledger rows).
    led.add("a", DeliveryState.PUBLISHED, at("2026-10-25 09:00"),
            published=at("2026-10-25T23:30:00+01:00"), post="p-retry",
            outcomes=(Outcome.TRANSIENT, Outcome.PUBLISHED))
    led.add("b", DeliveryState.FAILED, at("2026-10-20 12:00"), post="p-fail",
            error="HTTP 403: forbidden\nby policy")
    led.add("a", DeliveryState.DRY_RUN, at("2026-10-21 08:00"), published=at("2026-10-21 08:00"),
            post="p-dry")
    led.add("a", DeliveryState.PUBLISHED, at("2026-10-26 10:00"),
            published=at("2026-10-26 10:00"), post="p-late")
    return led


def test_every_attempt_newest_last_in_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, ledger())
    assert run_cli(["history", "--config", str(cfg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["time", "post", "account", "network", "#", "outcome", "status",
                                "url", "error"]
    body = lines[1:]
    assert [line.split()[3] for line in body] == ["p-fail", "p-dry", "p-retry", "p-retry",
                                                  "p-late"]
    fail = body[0].split()
    assert fail[:9] == ["2026-10-20", "12:00:00", "CEST", "p-fail", "b", "log", "1", "permanent",
                        "503"]
    assert body[0].rstrip().endswith("HTTP 403: forbidden by policy")  # one line per attempt
    assert "dry-run" in body[1]  # the ledger shows dry runs as what they are
    retry1, retry2 = body[2], body[3]
    assert retry1.split()[:8] == ["2026-10-25", "23:20:00", "CET", "p-retry", "a", "log", "1",
                                  "transient"]
    assert retry2.split()[:9] == ["2026-10-25", "23:30:00", "CET", "p-retry", "a", "log", "2",
                                  "published", "200"]
    assert "https://log.example/p-retry" in retry2


def test_filters_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, ledger())
    assert run_cli(["history", "--config", str(cfg), "--account", "a", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == 1 and doc["timezone"] == "Europe/Paris"
    assert [(r["post"], r["number"]) for r in doc["attempts"]] == [
        ("p-dry", 1), ("p-retry", 1), ("p-retry", 2), ("p-late", 1)]
    first = doc["attempts"][1]
    assert set(first) == {
        "id", "delivery_id", "post", "account", "network", "number", "started_at",
        "finished_at", "finished_local", "outcome", "status_code", "error", "remote_id",
        "remote_url"}
    assert first["finished_at"] == "2026-10-25T22:20:00Z"
    assert first["finished_local"] == "2026-10-25T23:20:00+01:00"
    assert (first["outcome"], first["status_code"], first["error"]) == (
        "transient", 503, "HTTP 503: try later")

    assert run_cli(["history", "--config", str(cfg), "--post", "p-retry", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["outcome"] for r in doc["attempts"]] == ["transient", "published"]
    assert doc["attempts"][1]["remote_url"] == "https://log.example/p-retry"

    # since is inclusive, until exclusive; a bare date is local midnight.
    assert run_cli(["history", "--config", str(cfg), "--since", "2026-10-25 23:30",
                    "--until", "2026-10-26 10:00", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["post"], r["number"]) for r in doc["attempts"]] == [("p-retry", 2)]
    assert run_cli(["history", "--config", str(cfg), "--since", "2026-10-26", "--json"]) == 0
    assert [r["post"] for r in json.loads(capsys.readouterr().out)["attempts"]] == ["p-late"]


def test_empty_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    assert run_cli(["history", "--config", str(cfg)]) == 1
    assert "no database" in capsys.readouterr().err
    seed(tmp_path, Ledger())
    assert run_cli(["history", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip() == "no attempts"
    assert run_cli(["history", "--config", str(cfg), "--since", "2026-10-26",
                    "--until", "2026-10-25"]) == 1
    assert "window is empty" in capsys.readouterr().err


def test_new_york_local_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, zone="America/New_York")
    led = Ledger()
    led.add("a", DeliveryState.PUBLISHED, at("2026-11-01T01:30:00-04:00"),
            published=at("2026-11-01T01:30:00-05:00"))  # the second 01:30 of the night
    seed(tmp_path, led)
    assert run_cli(["history", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()[1]
    assert out.split()[:3] == ["2026-11-01", "01:30:00", "EST"]
    assert run_cli(["history", "--config", str(cfg), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["attempts"]
    assert row["finished_local"] == "2026-11-01T01:30:00-05:00"
    assert row["started_at"] == "2026-11-01T06:29:58Z"
    assert timedelta(hours=1) == at("2026-11-01T01:30:00-05:00") - at("2026-11-01T01:30:00-04:00")
