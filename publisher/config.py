"""publisher.toml: accounts, paths and policies. Secrets only as ``${NAME}`` references.

Every problem is reported as ``publisher.toml:LINE:COL: field: message``; all of them, not
only the first. tomllib gives no positions for values, so ``_Locator`` finds the line of a
key by reading the file's table headers and key names.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from adapters.base import AccountSettings
from adapters.registry import UnknownNetworkError, adapter_class
from publisher.diagnostics import Diagnostic, InvalidFileError, Severity
from publisher.durations import parse_duration
from publisher.secrets import MIN_LENGTH, Secret, SecretSource, resolve_reference
from publisher.slots import Slot, parse_slot


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Section):
    concurrency: int = Field(default=64, ge=1, le=10_000)
    per_account: int = Field(default=4, ge=1, le=1000)
    shutdown_timeout: Duration = timedelta(seconds=30)
    debounce: Duration = timedelta(milliseconds=300)
    request_timeout: Duration = timedelta(seconds=60)
    # How long after an ambiguous answer the network is asked whether the post exists
    # (timelines lag a fresh post).
    resolve_delay: Duration = timedelta(seconds=60)


class RetrySettings(_Section):
    max_attempts: int = Field(default=8, ge=1, le=100)
    base_delay: Duration = timedelta(seconds=30)
    max_delay: Duration = timedelta(hours=1)
    jitter: float = Field(default=0.2, ge=0, le=1)


class NotifySettings(_Section):
    command: list[str] = []
    url: str = ""


class MetricsSettings(_Section):
    listen: str = ""  # "127.0.0.1:9108" turns the health and metrics endpoint on


class LogSettings(_Section):
    format: str = Field(default="text", pattern="^(text|json)$")
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")


class LeaseSettings(_Section):
    duration: Duration = timedelta(seconds=60)
    heartbeat: Duration = timedelta(seconds=20)


class MediaSettings(_Section):
    # Directories editors' media may come from besides the queue file's own (relative paths
    # are relative to this file). See publisher/media.py.
    roots: list[Annotated[str, Field(min_length=1)]] = []


class _TopLevel(_Section):
    queue: str = "queue.yaml"
    database: str = "sqlite:///queue.db"
    timezone: str = "UTC"
    max_lateness: Duration = timedelta(hours=2)
    engine: EngineSettings = EngineSettings()
    retry: RetrySettings = RetrySettings()
    notify: NotifySettings = NotifySettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    lease: LeaseSettings = LeaseSettings()
    media: MediaSettings = MediaSettings()
    accounts: dict[str, dict[str, Any]] = {}


class _AccountPolicy(_Section):
    network: str
    max_per_day: int | None = Field(default=None, ge=1)
    min_interval: Duration | None = None
    target_per_week: float | None = Field(default=None, ge=0)
    slots: list[str] = []
    enabled: bool = True


POLICY_KEYS = frozenset(_AccountPolicy.model_fields)
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class SecretPolicy(StrEnum):
    REQUIRE = "require"  # really publishing: a missing secret is an error
    WARN = "warn"  # dry runs, validate: a missing secret is a warning


@dataclass(frozen=True)
class AccountConfig:
    name: str
    network: str
    settings: AccountSettings
    max_per_day: int | None = None
    min_interval: timedelta | None = None
    target_per_week: float | None = None
    slots: tuple[Slot, ...] = ()
    enabled: bool = True
    line: int = 0


@dataclass(frozen=True)
class Config:
    path: Path
    queue_path: Path
    database_url: str
    timezone: ZoneInfo
    max_lateness: timedelta
    accounts: Mapping[str, AccountConfig]
    engine: EngineSettings = field(default_factory=EngineSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    warnings: tuple[Diagnostic, ...] = field(default=())

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def secrets(self) -> list[Secret]:
        return [
            v
            for a in self.accounts.values()
            for v in a.settings.__dict__.values()
            if isinstance(v, Secret)
        ]


def default_config_path() -> Path:
    return Path(os.environ.get("PUBLISHER_CONFIG", "publisher.toml"))


class _Locator:
    """Finds the line and column of ``a.b.c`` keys in a TOML text."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self.positions: dict[tuple[str, ...], tuple[int, int]] = {}
        table: tuple[str, ...] = ()
        for lineno, line in enumerate(text.splitlines(), start=1):
            if m := self._HEADER.match(line):
                table = tuple(self._split(m.group(1)))
                self.positions.setdefault(table, (lineno, line.index("[") + 1))
            elif m := self._KEY.match(line):
                key = (*table, *self._split(m.group(1)))
                self.positions.setdefault(key, (lineno, m.start(1) + 1))

    @staticmethod
    def _split(dotted: str) -> list[str]:
        return [p.strip().strip("\"'") for p in dotted.split(".")]

    def find(self, path: tuple[str, ...]) -> tuple[int, int]:
        for n in range(len(path), 0, -1):
            if path[:n] in self.positions:
                return self.positions[path[:n]]
        return (1, 1)


def _pydantic_diagnostics(
    err: ValidationError, prefix: tuple[str, ...], loc: _Locator, filename: str
) -> list[Diagnostic]:
    out = []
    for e in err.errors():
        path = (*prefix, *(str(p) for p in e["loc"]))
        line, col = loc.find(path)
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(Diagnostic(filename, line, col, ".".join(path), msg))
    return out


def _toml_syntax(err: tomllib.TOMLDecodeError, filename: str) -> Diagnostic:
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
    line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
    msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "invalid TOML"
    return Diagnostic(filename, line, col, "", f"TOML syntax: {msg}")


def load_config(
    path: Path,
    *,
    secrets: SecretPolicy = SecretPolicy.REQUIRE,
    source: SecretSource | None = None,
) -> Config:
    """Read and check ``publisher.toml``; raise InvalidFileError with every problem."""
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidFileError(
            [Diagnostic(filename, 1, 1, "", f"cannot read: {err.strerror}")]
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidFileError([_toml_syntax(err, filename)]) from None
    loc = _Locator(text)
    diags: list[Diagnostic] = []
    try:
        top = _TopLevel.model_validate(raw)
    except ValidationError as err:
        raise InvalidFileError(_pydantic_diagnostics(err, (), loc, filename)) from None

    try:
        zone = ZoneInfo(top.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        line, col = loc.find(("timezone",))
        diags.append(
            Diagnostic(filename, line, col, "timezone", f"unknown time zone {top.timezone!r}")
        )
        zone = ZoneInfo("UTC")

    source = source or SecretSource.from_environment()
    accounts: dict[str, AccountConfig] = {}
    for name, table in top.accounts.items():
        prefix = ("accounts", name)
        line, col = loc.find(prefix)
        if not isinstance(table, dict):
            diags.append(Diagnostic(filename, line, col, "accounts." + name, "must be a table"))
            continue
        if not ACCOUNT_NAME.match(name):
            diags.append(
                Diagnostic(
                    filename,
                    line,
                    col,
                    "accounts." + name,
                    "account names use lowercase letters, digits, '-', '_' and '.'",
                )
            )
        policy_raw = {k: v for k, v in table.items() if k in POLICY_KEYS}
        network_raw = {k: v for k, v in table.items() if k not in POLICY_KEYS}
        try:
            policy = _AccountPolicy.model_validate(policy_raw)
        except ValidationError as err:
            diags += _pydantic_diagnostics(err, prefix, loc, filename)
            continue
        try:
            cls = adapter_class(policy.network)
        except UnknownNetworkError as err:
            kline, kcol = loc.find((*prefix, "network"))
            diags.append(Diagnostic(filename, kline, kcol, f"accounts.{name}.network", str(err)))
            continue
        slots: list[Slot] = []
        for i, s in enumerate(policy.slots):
            try:
                slots.append(parse_slot(s))
            except ValueError as err:
                kline, kcol = loc.find((*prefix, "slots"))
                diags.append(
                    Diagnostic(filename, kline, kcol, f"accounts.{name}.slots[{i}]", str(err))
                )
        resolved: dict[str, Any] = {}
        for key, value in network_raw.items():
            where = f"accounts.{name}.{key}"
            kline, kcol = loc.find((*prefix, key))
            if not isinstance(value, str):
                resolved[key] = value
                continue
            try:
                ref = resolve_reference(value, source, where)
            except (ValueError, PermissionError) as err:
                diags.append(Diagnostic(filename, kline, kcol, where, str(err).split(": ", 1)[-1]))
                continue
            if isinstance(ref, Secret) and not ref.resolved:
                msg = (
                    f"secret ${{{ref.name}}} is not set (environment variable {ref.name} "
                    f"or file $CREDENTIALS_DIRECTORY/{ref.name})"
                )
                severity = Severity.ERROR if secrets is SecretPolicy.REQUIRE else Severity.WARNING
                diags.append(Diagnostic(filename, kline, kcol, where, msg, severity))
            elif isinstance(ref, Secret) and len(ref.reveal()) < MIN_LENGTH:
                msg = (
                    f"secret ${{{ref.name}}} is shorter than {MIN_LENGTH} characters: too short "
                    "to tell from ordinary words, so logs and errors are not scrubbed of it"
                )
                diags.append(Diagnostic(filename, kline, kcol, where, msg, Severity.WARNING))
            resolved[key] = ref
        try:
            settings = _validate_settings(cls.Settings, resolved)
        except ValidationError as err:
            diags += _pydantic_diagnostics(err, prefix, loc, filename)
            continue
        accounts[name] = AccountConfig(
            name=name,
            network=policy.network,
            settings=settings,
            max_per_day=policy.max_per_day,
            min_interval=policy.min_interval,
            target_per_week=policy.target_per_week,
            slots=tuple(slots),
            enabled=policy.enabled,
            line=line,
        )
    if not top.accounts:
        diags.append(
            Diagnostic(filename, 1, 1, "accounts", "no accounts: add an [accounts.NAME] table")
        )
    if any(d.severity is Severity.ERROR for d in diags):
        raise InvalidFileError(diags)
    base = path.parent
    return Config(
        path=path,
        queue_path=(base / top.queue).resolve()
        if not Path(top.queue).is_absolute()
        else Path(top.queue),
        database_url=_database_url(top.database, base),
        timezone=zone,
        max_lateness=top.max_lateness,
        accounts=accounts,
        engine=top.engine,
        retry=top.retry,
        notify=top.notify,
        metrics=top.metrics,
        log=top.log,
        lease=top.lease,
        media=top.media,
        warnings=tuple(diags),
    )


def _validate_settings(model: type[AccountSettings], values: dict[str, Any]) -> AccountSettings:
    # Unresolved secrets (dry runs) validate as placeholders: rendering needs no credentials.
    return model.model_validate(
        {
            k: (
                v
                if not isinstance(v, Secret) or v.resolved or _is_secret_field(model, k)
                else f"${{{v.name}}}"
            )
            for k, v in values.items()
        }
    )


def _is_secret_field(model: type[AccountSettings], key: str) -> bool:
    info = model.model_fields.get(key)
    return info is not None and "Secret" in str(info.annotation)


def _database_url(url: str, base: Path) -> str:
    """Relative SQLite paths are relative to the config file, like every other path."""
    m = re.match(r"^sqlite(\+\w+)?:///(.*)$", url)
    if m and m.group(2) and not m.group(2).startswith("/") and m.group(2) != ":memory:":
        return f"sqlite:///{(base / m.group(2)).resolve()}"
    return url
