"""Issue 19, items 9 and 10 (config and command line): bad input is a clear line, never a
traceback.

Every case runs the real ``publisher`` in a process, as a user would, and checks the exit
code (1 for what the user fixes in a file or a value, 2 for usage), the message (with
``file:line:col`` when it is about the config's content) and that no traceback escaped.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from publisher.engine.decide import RetryPolicy, backoff

ENV = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}

CONFIG = """\
queue = "queue.yaml"
database = "sqlite:///queue.db"
timezone = "America/New_York"
{extra}
[accounts.alpha]
network = "log"

[accounts.beta]
network = "log"
"""

QUEUE = """\
posts:
  - {id: a, at: "2026-12-01T09:00:00-05:00", accounts: [alpha, beta], text: Bonjour}
"""


def publisher(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    # The timeout is a guard against a hang (an audit of centuries used to run for minutes).
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**ENV, **(env or {})},
    )


def write_project(root: Path, extra: str = "") -> Path:
    config = root / "publisher.toml"
    config.write_text(CONFIG.format(extra=extra), encoding="utf-8")
    (root / "queue.yaml").write_text(QUEUE, encoding="utf-8")
    return config


def assert_clean(r: subprocess.CompletedProcess[str], code: int) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)


# ------------------------------------------------------------------ item 9: publisher.toml


@dataclass(frozen=True)
class Bad:
    extra: str  # TOML added at line 4 of CONFIG, or the line that replaces ``replaces``
    where: str  # expected "line:col: field" after "publisher.toml:"
    message: str  # expected on the same line
    replaces: str | None = None


CONFIG_CASES = {
    # From the issue.
    "max_lateness_overflows": Bad(
        'max_lateness = "99999999999999d"', "4:1: max_lateness", "too long (at most 3650d)"
    ),
    "database_scheme": Bad(
        'database = "foo://bar"',
        "2:1: database",
        "unsupported database URL 'foo://bar'",
        replaces='database = "sqlite:///queue.db"',
    ),
    "metrics_listen_not_an_address": Bad(
        '[metrics]\nlisten = "not-an-address"', "5:1: metrics.listen", "is not HOST:PORT"
    ),
    # The same class, found by fuzzing every field with extreme values.
    "duration_digits_overflow_to_infinity": Bad(
        f'[retry]\nbase_delay = "{"9" * 400}s"', "5:1: retry.base_delay", "too long"
    ),
    "duration_over_timedelta_range": Bad(
        '[engine]\nresolve_delay = "1000000000d"', "5:1: engine.resolve_delay", "too long"
    ),
    "negative_duration_as_number": Bad(
        "max_lateness = -5", "4:1: max_lateness", "cannot be negative"
    ),
    "zero_request_timeout": Bad(
        '[engine]\nrequest_timeout = "0s"', "5:1: engine.request_timeout", "longer than 0s"
    ),
    "heartbeat_not_under_lease": Bad(
        '[lease]\nduration = "10s"\nheartbeat = "10s"', "6:1: lease.heartbeat", "shorter than"
    ),
    "metrics_port_out_of_range": Bad(
        '[metrics]\nlisten = "127.0.0.1:99999"', "5:1: metrics.listen", "port from 1 to 65535"
    ),
    "sqlite_url_without_path": Bad(
        'database = "sqlite:///"',
        "2:1: database",
        "sqlite:///PATH",
        replaces='database = "sqlite:///queue.db"',
    ),
    "queue_path_with_nul": Bad(
        'queue = "queue\\u0000.yaml"',
        "1:1: queue",
        "the path of the queue file",
        replaces='queue = "queue.yaml"',
    ),
    "notify_command_empty_program": Bad(
        '[notify]\ncommand = [""]', "5:1: notify.command", "the program to run"
    ),
    "notify_url_not_http": Bad(
        '[notify]\nurl = "ftp://example.com/hook"', "5:1: notify.url", "not an http"
    ),
    "timezone_name_too_long_for_a_path": Bad(
        f'timezone = "{"x" * 300}"',
        "3:1: timezone",
        "unknown time zone",
        replaces='timezone = "America/New_York"',
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_item9_config_field_errors_are_located_lines(tmp_path: Path, case: str) -> None:
    bad = CONFIG_CASES[case]
    config = write_project(tmp_path, "" if bad.replaces else bad.extra)
    if bad.replaces:
        config.write_text(config.read_text().replace(bad.replaces, bad.extra), encoding="utf-8")
    r = publisher("validate", "--config", str(config))
    assert_clean(r, 1)
    line = next((x for x in r.stderr.splitlines() if f"publisher.toml:{bad.where}:" in x), None)
    assert line is not None, r.stderr
    assert bad.message in line, line


def test_item9_config_with_invalid_utf8_points_at_the_byte(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    data = config.read_bytes().replace(b'timezone = "America/New_York"\n', b"# caf\xe9\n")
    config.write_bytes(data)
    r = publisher("validate", "--config", str(config))
    assert_clean(r, 1)
    assert f"{config}:3:6: not UTF-8 text (byte 0xe9)" in r.stderr


def test_item9_metrics_listen_refused_by_run_as_by_validate(tmp_path: Path) -> None:
    config = write_project(tmp_path, '[metrics]\nlisten = "not-an-address"')
    r = publisher("run", "--dry-run", "--config", str(config), timeout=60)
    assert_clean(r, 1)
    assert f"{config}:5:1: metrics.listen:" in r.stderr


def test_item9_metrics_port_taken_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_project(tmp_path, f'[metrics]\nlisten = "127.0.0.1:{port}"')
        r = publisher("run", "--dry-run", "--config", str(config), timeout=60)
    assert_clean(r, 1)
    assert f"[metrics] listen = '127.0.0.1:{port}': cannot listen there" in r.stderr


# -------------------------------------------------------------- item 9: the command line

OUT_OF_RANGE = "out of range: times on the command line lie between 1970-01-01 and 9000-01-01"
NOT_A_SPEED = "the speed is a number above 0 and at most 100000"
TRAVEL = ("run", "--dry-run", "--once", "--time-travel")

CLI_CASES: dict[str, tuple[tuple[str, ...], int, str]] = {
    "dry_run_from_year_9999": (("dry-run", "--from", "9999-12-31T23:59-05:00"), 1, OUT_OF_RANGE),
    "dry_run_until_year_1": (("dry-run", "--until", "0001-01-01T00:00+05:00"), 1, OUT_OF_RANGE),
    "audit_since_year_1": (("audit", "--since", "0001-01-01T00:00+05:00"), 1, OUT_OF_RANGE),
    "audit_until_year_9999_date": (("audit", "--until", "9999-12-31"), 1, OUT_OF_RANGE),
    "audit_window_of_centuries": (
        ("audit", "--since", "1970-01-02", "--until", "8999-12-31"),
        1,
        "an audit shows at most 5,000",
    ),
    "history_since_year_1": (("history", "--since", "0001-01-01T00:00+05:00"), 1, OUT_OF_RANGE),
    "history_until_year_9999": (("history", "--until", "9999-12-31T23:59-05:00"), 1, OUT_OF_RANGE),
    "time_travel_to_year_9999": ((*TRAVEL, "9999-12-31T23:59Z"), 1, OUT_OF_RANGE),
    "time_travel_to_year_1": ((*TRAVEL, "0001-01-01T00:00+05:00"), 1, OUT_OF_RANGE),
    "resolve_oversized_id": (
        ("resolve", "99999999999999999999999999", "drop"),
        2,
        "is not a delivery number",
    ),
    "speed_nan": ((*TRAVEL, "2026-12-01 09:00", "--speed", "nan"), 2, NOT_A_SPEED),
    "speed_inf": ((*TRAVEL, "2026-12-01 09:00", "--speed", "inf"), 2, NOT_A_SPEED),
    "speed_zero": ((*TRAVEL, "2026-12-01 09:00", "--speed", "0"), 2, NOT_A_SPEED),
    "speed_negative": ((*TRAVEL, "2026-12-01 09:00", "--speed", "-5"), 2, NOT_A_SPEED),
}


@pytest.fixture(scope="module")
def project_with_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose database exists, so audit, history and resolve get past opening it."""
    config = write_project(tmp_path_factory.mktemp("ledger"))
    r = publisher("run", "--once", "--config", str(config))
    assert r.returncode == 0, r.stderr
    return config


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_item9_command_line_values_are_clean_errors(project_with_ledger: Path, case: str) -> None:
    args, code, message = CLI_CASES[case]
    r = publisher(*args, "--config", str(project_with_ledger))
    assert_clean(r, code)
    last = r.stderr.strip().splitlines()[-1]
    assert message in last, r.stderr
    if code == 1:
        assert r.stderr.strip() == last, "one line, nothing else"


def test_item9_validate_into_head_exits_quietly(tmp_path: Path) -> None:
    """`publisher validate | head -2`, with a real pipe: the reader leaves early."""
    names = [f"acct-{i:04d}" for i in range(3000)]  # ~180 KB of output, past any pipe buffer
    config = tmp_path / "publisher.toml"
    config.write_text(
        'database = "sqlite:///queue.db"\n'
        + "".join(f'[accounts.{n}]\nnetwork = "log"\n' for n in names),
        encoding="utf-8",
    )
    (tmp_path / "queue.yaml").write_text(
        "posts:\n  - {id: a, at: 2030-12-01 09:00, text: Bonjour, accounts: "
        f"[{', '.join(names)}]}}\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "validate", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()  # what `head -2` does once it has its lines
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)  # a guard against a hang, not a limit
    assert head[0].startswith(b"queue.yaml: valid")
    assert err == ""
    assert code == 141  # 128 + SIGPIPE, as a shell reports any tool whose reader left


def test_item9_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (tmp_path / "queue.db").write_text("not a database, just text " * 100)
    for command in ("status", "validate", "history"):
        r = publisher(command, "--config", str(config))
        assert_clean(r, 1)
        assert r.stderr.strip() == (
            f"publisher: cannot open the database sqlite:///{tmp_path}/queue.db: "
            "file is not a database"
        )
    # A server that cannot be reached is worth retrying: not exit 1 ("do not restart").
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        config.write_text(
            config.read_text().replace(
                "sqlite:///queue.db", f"postgresql://someone:pa55word@127.0.0.1:{port}/db"
            )
        )
        r = publisher("status", "--config", str(config))
    assert_clean(r, 75)
    assert r.stderr.startswith(
        f"publisher: cannot reach the database postgresql://someone:***@127.0.0.1:{port}/db:"
    )
    assert "pa55word" not in r.stderr


def test_item9_retry_backoff_after_many_rate_limits_is_capped() -> None:
    """Rate limits do not use up max_attempts, so the attempt number grows without bound;
    30 s doubled 45 times overflowed timedelta and stopped the daemon."""
    policy = RetryPolicy(max_attempts=8, jitter=0)
    for attempt in (46, 100, 10_000):
        assert backoff(attempt, policy, 0.5) == policy.max_delay


# ------------------------------------------------------------- the last guard: a bug


BUGGY_ADAPTER = """\
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.secrets import Secret


class BuggySettings(LogSettings):
    token: Secret


class BuggyAdapter(LogAdapter):
    network = "buggy"
    Settings = BuggySettings

    def build_payload(self, text, media, index, total, content):
        raise RuntimeError(f"unexpected {{self.settings.token.reveal()}} in\\nthe payload")
"""


def test_item9_a_bug_is_one_scrubbed_line_and_exit_70(tmp_path: Path) -> None:
    """A third-party adapter with a bug: the command says so on one line, without the
    traceback, and without the secret the exception carried."""
    plugins = tmp_path / "plugins"
    (plugins / "buggy-0.1.dist-info").mkdir(parents=True)
    (plugins / "buggy-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: buggy\nVersion: 0.1\n"
    )
    (plugins / "buggy-0.1.dist-info" / "entry_points.txt").write_text(
        "[publisher.adapters]\nbuggy = buggy_adapter:BuggyAdapter\n"
    )
    (plugins / "buggy_adapter.py").write_text(BUGGY_ADAPTER.replace("{{", "{").replace("}}", "}"))
    config = write_project(tmp_path)
    config.write_text(
        config.read_text() + '\n[accounts.gamma]\nnetwork = "buggy"\ntoken = "${BUGGY_TOKEN}"\n'
    )
    (tmp_path / "queue.yaml").write_text(
        QUEUE.replace("2026-12-01", "2030-12-01").replace("[alpha, beta]", "[gamma]")
    )
    path = os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])
    r = publisher(
        "dry-run",
        "--config",
        str(config),
        env={"PYTHONPATH": path, "BUGGY_TOKEN": "tok-SECRET-123456"},
    )
    assert_clean(r, 70)
    assert "tok-SECRET-123456" not in r.stderr
    assert re.fullmatch(
        r"publisher: internal error, this is a bug \(please report it\): "
        r"RuntimeError: unexpected \*\*\* in the payload \(at buggy_adapter\.py:\d+ in "
        r"build_payload\)\n",
        r.stderr,
    ), r.stderr


# -------------------------------------------------------------------------------- item 10


def test_item10_config_with_a_byte_order_mark_just_works(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    r = publisher("validate", "--config", str(config))
    assert_clean(r, 0)
    assert "queue.yaml: valid" in r.stdout


@pytest.mark.parametrize(
    "command",
    [("dry-run",), ("audit",), ("history",), ("accounts", "check")],
    ids=" ".join,
)
def test_item10_unknown_account_is_an_error_naming_the_known_ones(
    project_with_ledger: Path, command: tuple[str, ...]
) -> None:
    r = publisher(*command, "--account", "alpah", "--config", str(project_with_ledger))
    assert_clean(r, 1)
    assert r.stderr.strip() == (
        "publisher: unknown account 'alpah' (did you mean 'alpha'?); known accounts: alpha, beta"
    )
    assert r.stdout == ""


@pytest.mark.parametrize("network", ["log", "x"])
def test_item9_max_length_too_small_to_split_is_a_located_error(
    tmp_path: Path, network: str
) -> None:
    """Fuzzing account settings: a `max_length` of a few characters passed validate and
    made dry-run raise from the splitter ("even one character does not fit")."""
    config = write_project(tmp_path)
    config.write_text(
        config.read_text().replace(
            '[accounts.alpha]\nnetwork = "log"\n',
            f'[accounts.alpha]\nnetwork = "{network}"\nmax_length = 5\n'
            + (
                'api_key = "k"\napi_secret = "s"\naccess_token = "t"\naccess_secret = "a"\n'
                if network == "x"
                else ""
            ),
        )
    )
    (tmp_path / "queue.yaml").write_text(
        QUEUE.replace("2026-12-01", "2030-12-01").replace("Bonjour", "Bonjour tout le monde")
    )
    for command in ("validate", "dry-run"):
        r = publisher(command, "--config", str(config))
        assert_clean(r, 1)
        assert "publisher.toml:7:1: accounts.alpha.max_length: " in r.stderr, r.stderr
