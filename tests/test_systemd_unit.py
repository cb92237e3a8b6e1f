"""systemd/publisher.service: hardened (exposure <= 2.0), valid, and in step with the example.

``systemd-analyze verify`` checks that ExecStart's binary exists and is executable, and
/usr/local/bin/publisher does not exist on a test machine. The checks therefore run on a
copy of the unit, named publisher.service, in a temporary directory, whose ExecStart points
at the virtualenv's ``publisher`` script (or /bin/true); everything else is byte for byte
the shipped unit. ``security --offline=yes`` reads that file without a running systemd.

systemd-analyze missing is a failure, not a skip: CI installs the Debian ``systemd`` package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from publisher.config import EngineSettings, SecretPolicy, load_config
from publisher.durations import parse_duration
from publisher.secrets import REFERENCE, SecretSource

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "publisher.service"
EXAMPLE = ROOT / "systemd" / "publisher.toml.example"
MAX_EXPOSURE = 2.0

Unit = dict[tuple[str, str], list[str]]


def parse_unit(text: str) -> Unit:
    """Keys by (section, name); systemd allows a key several times, so values are lists."""
    out: Unit = defaultdict(list)
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        out[(section, key.strip())].append(value.strip())
    return out


def one(unit: Unit, key: str, section: str = "Service") -> str:
    values = unit[(section, key)]
    assert len(values) == 1, f"{key}= appears {len(values)} times"
    return values[0]


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def analyze() -> str:
    found = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None
    )
    if found is None:
        pytest.fail(
            "systemd-analyze not found: install it (Debian/Ubuntu: apt-get install systemd); "
            "the unit's hardening score and validity cannot be checked without it"
        )
    return found


@pytest.fixture(scope="module")
def unit_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = Path(sys.executable).with_name("publisher")
    binary = str(script) if script.exists() else shutil.which("true") or "/bin/true"
    text = UNIT.read_text(encoding="utf-8")
    patched, n = re.subn(
        r"^ExecStart=/usr/local/bin/publisher(?= )", f"ExecStart={binary}", text, flags=re.M
    )
    assert n == 1, "ExecStart= no longer starts with /usr/local/bin/publisher; update this test"
    path = tmp_path_factory.mktemp("unit") / "publisher.service"
    path.write_text(patched, encoding="utf-8")
    return path


def example_references() -> set[str]:
    """The ${NAME} references among the example's values (not its comments)."""
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    values = [v for a in example["accounts"].values() for v in a.values() if isinstance(v, str)]
    return {m.group(1) for v in values if (m := REFERENCE.fullmatch(v))}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "",
             "LANG": "C.UTF-8"},
    )


def test_security_exposure_is_at_most_2(analyze: str, unit_copy: Path) -> None:
    result = run(analyze, "security", "--offline=yes", "--no-pager", str(unit_copy))
    output = result.stdout + result.stderr
    m = re.search(r"Overall exposure level for publisher\.service:\s*(\d+(?:\.\d+)?)", output)
    assert m is not None, f"no exposure score in:\n{output}"
    score = float(m.group(1))
    failing = "\n".join(line for line in output.splitlines() if line.startswith("✗"))
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}; open items:\n{failing}"


def test_verify_is_clean(analyze: str, unit_copy: Path) -> None:
    result = run(analyze, "verify", "--no-pager", str(unit_copy))
    output = (result.stdout + result.stderr).strip()
    # Lines about other units (a host's own broken units) are not ours to judge.
    ours = [line for line in output.splitlines() if "publisher" in line]
    assert result.returncode == 0, output
    assert ours == [], "\n".join(ours)


def test_verify_catches_mistakes(analyze: str, unit_copy: Path, tmp_path: Path) -> None:
    """The check above is not vacuous: a misspelt key in the same unit is reported."""
    bad = tmp_path / "publisher.service"
    bad.write_text(
        unit_copy.read_text(encoding="utf-8").replace("ProtectHome=yes", "ProtectHomes=yes"),
        encoding="utf-8",
    )
    result = run(analyze, "verify", "--no-pager", str(bad))
    assert "ProtectHomes" in result.stdout + result.stderr


def test_service_essentials(unit: Unit) -> None:
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert one(unit, "ExecStart") == (
        "/usr/local/bin/publisher run --config /etc/publisher/publisher.toml"
    )
    assert one(unit, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "Restart") == "on-failure"
    assert one(unit, "DynamicUser") == "yes"
    assert one(unit, "StateDirectory") == "publisher"
    assert one(unit, "ConfigurationDirectory") == "publisher"
    assert parse_duration(one(unit, "WatchdogSec")) == parse_duration("30s")
    assert one(unit, "RestrictAddressFamilies").split() == ["AF_UNIX", "AF_INET", "AF_INET6"]


def test_item4_a_config_problem_at_start_is_restarted_not_left_down(unit: Unit) -> None:
    """Exit 1 (publisher.toml unusable at start; a queue or I/O problem never exits) is
    restarted like a crash, spaced out and without a start limit, so publishing comes back
    once the file is fixed instead of staying down until someone notices. Only a usage error
    (exit 2, the unit's own command line) is not restarted."""
    assert one(unit, "Restart") == "on-failure"
    prevented = unit[("Service", "RestartPreventExitStatus")]
    assert prevented == ["2"], prevented
    assert parse_duration(one(unit, "RestartSec")) >= parse_duration("10s")
    # A start limit would end the restarts after a few tries, leaving the unit "failed".
    assert one(unit, "StartLimitIntervalSec", section="Unit") == "0"


def test_stop_timeout_exceeds_engine_shutdown_timeout(unit: Unit) -> None:
    stop = parse_duration(one(unit, "TimeoutStopSec"))
    shutdown = EngineSettings().shutdown_timeout
    assert shutdown < stop <= shutdown * 2


def test_credentials_match_the_example_config(unit: Unit) -> None:
    creds = {}
    for value in unit[("Service", "LoadCredential")]:
        name, _, path = value.partition(":")
        creds[name] = path
    assert creds, "no LoadCredential= lines"
    for name, path in creds.items():
        assert path == f"/etc/publisher/credentials/{name}"
    assert example_references() == set(creds)


def test_example_paths_fit_the_unit_layout(unit: Unit) -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    state = "/var/lib/" + one(unit, "StateDirectory")
    assert example["database"] == f"sqlite:///{state}/queue.db"
    assert not Path(example["queue"]).is_absolute()  # next to the config, in /etc/publisher
    assert parse_duration(example["engine"]["shutdown_timeout"]) < parse_duration(
        one(unit, "TimeoutStopSec")
    )


def test_example_config_loads(tmp_path: Path) -> None:
    from publisher.adapters.registry import UnknownNetworkError, adapter_class

    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for account in example["accounts"].values():
        try:
            adapter_class(account["network"])
        except (UnknownNetworkError, ImportError) as err:
            pytest.skip(f"adapter {account['network']!r} not available yet: {err}")
    config_path = tmp_path / "publisher.toml"
    shutil.copy(EXAMPLE, config_path)
    creds = tmp_path / "creds"
    creds.mkdir(mode=0o700)
    for name in example_references():
        (creds / name).write_text(f"value-of-{name}\n", encoding="utf-8")
        (creds / name).chmod(0o600)
    config = load_config(
        config_path, secrets=SecretPolicy.REQUIRE, source=SecretSource({}, creds)
    )
    assert config.database_url == "sqlite:////var/lib/publisher/queue.db"
    assert config.queue_path == tmp_path / "queue.yaml"
    assert all(s.resolved for s in config.secrets())
