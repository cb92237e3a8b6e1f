"""publisher.toml: accounts, paths and policies. Secrets only as ``${NAME}`` references.

Every problem is reported as ``publisher.toml:LINE:COL: field: message``; all of them, not
only the first. tomllib gives no positions for values, so ``_Locator`` finds the line of a
key by reading the file's table headers and key names.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

from publisher.adapters.base import AccountSettings
from publisher.adapters.registry import UnknownNetworkError, adapter_class
from publisher.diagnostics import Diagnostic, InvalidFileError, Severity
from publisher.durations import format_duration, parse_duration
from publisher.listenconfig import AlertSettings, WatchSettings, watch_problems
from publisher.secrets import MIN_LENGTH, Secret, SecretSource, resolve_reference
from publisher.sections import (
    BaseURL,
    Duration,
    EngineSettings,
    FeedSource,
    FeedsSettings,
    LeaseSettings,
    LogSettings,
    MediaSettings,
    MetricsSettings,
    NotifySettings,
    Period,
    RetrySettings,
    S3Settings,
    WebSettings,
    parse_listen,
)
from publisher.slots import Slot, parse_slot

# The sections, imported from here by the rest of the project as before.
__all__ = [
    "BaseURL",
    "Duration",
    "EngineSettings",
    "FeedSource",
    "FeedsSettings",
    "LeaseSettings",
    "LogSettings",
    "MediaSettings",
    "MetricsSettings",
    "NotifySettings",
    "Period",
    "RetrySettings",
    "S3Settings",
    "WebSettings",
    "parse_listen",
]


class _Section(BaseModel):  # as publisher.sections' (ruff sees a pydantic model here too)
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TopLevel(_Section):
    queue: str = "queue.yaml"
    database: str = "sqlite:///queue.db"
    timezone: str = "UTC"
    max_lateness: Duration = timedelta(hours=2)
    engine: EngineSettings = EngineSettings()
    retry: RetrySettings = RetrySettings()
    notify: NotifySettings = NotifySettings()
    metrics: MetricsSettings = MetricsSettings()
    web: WebSettings = WebSettings()
    log: LogSettings = LogSettings()
    lease: LeaseSettings = LeaseSettings()
    media: MediaSettings = MediaSettings()
    feeds: FeedsSettings = FeedsSettings()
    watch: list[WatchSettings] = []
    alerts: AlertSettings = AlertSettings()
    utm: dict[str, dict[str, str]] = {}  # [utm.<network>]: link tracking per network
    accounts: dict[str, dict[str, Any]] = {}

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str) -> str:
        if not value.strip() or "\0" in value:
            raise ValueError('expected the path of the queue file, e.g. "queue.yaml"')
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        check_database_url(value)
        return value


EVERGREEN_GAP = timedelta(days=30)  # an evergreen post goes to an account at most this often


class _AccountPolicy(_Section):
    network: str
    max_per_day: int | None = Field(default=None, ge=1)
    min_interval: Duration | None = None
    target_per_week: float | None = Field(default=None, ge=0)
    slots: list[str] = []
    enabled: bool = True
    # UTM parameters for this account's links, key by key over [utm.<network>]; see utm.py.
    utm: dict[str, str] | None = None
    # Engagement readings (issue 16): ages after publication, or true/false.
    engagement: StrictBool | list[str] | None = None
    evergreen_gap: Duration = EVERGREEN_GAP
    # Listening (issue 20): on where the network hears, unless said; how often it reads.
    listen: StrictBool | None = None
    listen_interval: Period = timedelta(minutes=5)


POLICY_KEYS = frozenset(_AccountPolicy.model_fields)
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class SecretPolicy(StrEnum):
    REQUIRE = "require"  # really publishing: a missing secret is an error
    WARN = "warn"  # dry runs, validate: a missing secret is a warning


DEFAULT_ENGAGEMENT = ("1h", "24h", "7d", "30d")
MIN_ENGAGEMENT_AGE = timedelta(minutes=1)


@dataclass(frozen=True)
class ReadingAge:
    """An age after publication at which a post's numbers are read, as the config wrote it."""

    label: str
    age: timedelta


def engagement_ages(value: bool | list[str] | None, on_by_default: bool) -> tuple[ReadingAge, ...]:
    """An account's ``engagement`` setting as its ages, shortest first (none: off). ValueError
    says what is wrong with one."""
    if value is None:
        value = on_by_default
    if value is True:
        value = list(DEFAULT_ENGAGEMENT)
    if value is False:
        return ()
    ages: dict[timedelta, ReadingAge] = {}
    for text in value:
        age = parse_duration(text)
        if age < MIN_ENGAGEMENT_AGE:
            raise ValueError(f"{text!r} is too soon: ages start at 1m")
        if age in ages:
            raise ValueError(f"{text!r} is the same age as {ages[age].label!r}")
        ages[age] = ReadingAge(text.strip().lower().replace(" ", ""), age)
    if not ages:
        raise ValueError("no ages: write engagement = false to collect nothing")
    return tuple(ages[a] for a in sorted(ages))


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
    utm: Mapping[str, str] = field(default_factory=dict)  # merged: network's, then account's
    engagement: tuple[ReadingAge, ...] = ()  # when to read its posts' numbers; () = never
    # An evergreen post goes to this account at most once per gap (publisher.rules).
    evergreen_gap: timedelta = EVERGREEN_GAP
    listen: bool = False  # gathers what is said to it (resolved with the network's default)
    listen_interval: timedelta = timedelta(minutes=5)


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
    web: WebSettings = field(default_factory=WebSettings)
    log: LogSettings = field(default_factory=LogSettings)
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    feeds_path: Path | None = None  # [feeds] into, resolved
    watches: tuple[WatchSettings, ...] = ()
    alerts: AlertSettings = field(default_factory=AlertSettings)
    warnings: tuple[Diagnostic, ...] = field(default=())

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def secrets(self) -> list[Secret]:
        return [
            *(
                v
                for a in self.accounts.values()
                for v in a.settings.__dict__.values()
                if isinstance(v, Secret)
            ),
            *self.media.secrets(),
            *([self.web.token] if self.web.token is not None else []),
        ]


def default_config_path() -> Path:
    return Path(os.environ.get("PUBLISHER_CONFIG", "publisher.toml"))


class _Locator:
    """Finds the line and column of ``a.b.c`` keys in a TOML text."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    _ARRAY = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]\s*(#.*)?$")  # [[watch]]: watch.0, ...
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self.positions: dict[tuple[str, ...], tuple[int, int]] = {}
        table: tuple[str, ...] = ()
        arrays: dict[tuple[str, ...], int] = {}
        for lineno, line in enumerate(text.splitlines(), start=1):
            if m := self._ARRAY.match(line):
                name = tuple(self._split(m.group(1)))
                arrays[name] = arrays.get(name, -1) + 1
                table = (*name, str(arrays[name]))
                self.positions.setdefault(name, (lineno, line.index("[") + 1))
                self.positions.setdefault(table, (lineno, line.index("[") + 1))
            elif m := self._HEADER.match(line):
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


def _decode(data: bytes, filename: str) -> str:
    """UTF-8, with or without the byte-order mark some Windows editors write."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line = data.count(b"\n", 0, err.start) + 1
        col = len(data[line_start : err.start].decode("utf-8", errors="replace")) + 1
        raise InvalidFileError(
            [
                Diagnostic(
                    filename,
                    line,
                    col,
                    "",
                    f"not UTF-8 text (byte 0x{data[err.start]:02x}): save the file as UTF-8",
                )
            ]
        ) from None


def check_database_url(url: str) -> None:
    """Refuse at load what the store could not open, saying why, never echoing a password."""
    from publisher.store.dburl import DatabaseURLError, driver_url

    try:
        durl = driver_url(url)
    except DatabaseURLError as err:
        raise ValueError(str(err)) from None
    if "\0" in url:
        raise ValueError("the URL contains a NUL character")
    if durl.startswith("sqlite"):
        if not re.match(r"^sqlite\+pysqlite:///.+$", durl):
            raise ValueError(
                "a SQLite URL is sqlite:///PATH (three slashes), e.g. sqlite:///queue.db"
            )
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(durl)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise ValueError("not a PostgreSQL URL (postgresql://user@host:5432/db)") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the port must be from 1 to 65535")
    if not parsed.database:
        raise ValueError("the URL names no database (postgresql://user@host/db)")


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
        data = path.read_bytes()
    except OSError as err:
        raise InvalidFileError(
            [Diagnostic(filename, 1, 1, "", f"cannot read: {err.strerror}")]
        ) from None
    text = _decode(data, filename)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidFileError([_toml_syntax(err, filename)]) from None
    loc = _Locator(text)
    diags: list[Diagnostic] = []
    source = source or SecretSource.from_environment()
    refs = _References(source, secrets, loc, filename, diags)
    _resolve_section_secrets(raw, refs)
    try:
        top = _TopLevel.model_validate(raw)
    except ValidationError as err:
        found = [d for d in diags if d.severity is Severity.ERROR]  # section secrets
        raise InvalidFileError(found + _pydantic_diagnostics(err, (), loc, filename)) from None

    try:
        zone = ZoneInfo(top.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        line, col = loc.find(("timezone",))
        diags.append(
            Diagnostic(filename, line, col, "timezone", f"unknown time zone {top.timezone!r}")
        )
        zone = ZoneInfo("UTC")
    if top.lease.heartbeat >= top.lease.duration:
        line, col = loc.find(("lease", "heartbeat"))
        diags.append(
            Diagnostic(
                filename,
                line,
                col,
                "lease.heartbeat",
                f"must be shorter than [lease] duration ({format_duration(top.lease.duration)}), "
                "or every claim lapses while its request is out",
            )
        )
    diags += _media_problems(top.media, loc, filename)
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
        reading = cls.engagement
        try:
            if reading is None and policy.engagement:
                raise ValueError(f"{policy.network} cannot read engagement")
            ages = engagement_ages(policy.engagement, reading is not None and reading.on_by_default)
        except ValueError as err:
            kline, kcol = loc.find((*prefix, "engagement"))
            diags.append(Diagnostic(filename, kline, kcol, f"accounts.{name}.engagement", str(err)))
            ages = ()
        hearing = cls.listening
        if hearing is None and policy.listen:
            kline, kcol = loc.find((*prefix, "listen"))
            diags.append(
                Diagnostic(
                    filename,
                    kline,
                    kcol,
                    f"accounts.{name}.listen",
                    f"{policy.network} cannot listen: remove listen",
                )
            )
        listen = hearing is not None and (
            policy.listen if policy.listen is not None else hearing.on_by_default
        )
        resolved: dict[str, Any] = {}
        for key, value in network_raw.items():
            try:
                resolved[key] = _reference(value, (*prefix, key), refs)
            except ValueError:
                continue
        try:
            settings = _validate_settings(cls.Settings, resolved)
        except ValidationError as err:
            diags += _pydantic_diagnostics(err, prefix, loc, filename)
            continue
        utm = {**top.utm.get(policy.network, {}), **(policy.utm or {})}
        utm_problem = check_utm(utm)
        if utm_problem:
            where_utm = (*prefix, "utm") if policy.utm else ("utm", policy.network)
            kline, kcol = loc.find(where_utm)
            diags.append(Diagnostic(filename, kline, kcol, ".".join(where_utm), utm_problem))
        if cls.fetches_media and not (top.media.public_dir or top.media.s3):
            diags.append(
                Diagnostic(
                    filename,
                    line,
                    col,
                    "accounts." + name,
                    f"{policy.network} fetches media from a public URL: without a [media] host "
                    "(public_dir, or [media.s3]) its posts with media cannot be published",
                    Severity.WARNING,
                )
            )
        accounts[name] = AccountConfig(
            name=name,
            network=policy.network,
            utm={k: v for k, v in utm.items() if v},
            settings=settings,
            max_per_day=policy.max_per_day,
            min_interval=policy.min_interval,
            target_per_week=policy.target_per_week,
            slots=tuple(slots),
            enabled=policy.enabled,
            line=line,
            engagement=ages,
            evergreen_gap=policy.evergreen_gap,
            listen=listen,
            listen_interval=policy.listen_interval,
        )
    if not top.accounts:
        diags.append(
            Diagnostic(filename, 1, 1, "accounts", "no accounts: add an [accounts.NAME] table")
        )
    base = path.parent
    queue_path = (
        (base / top.queue).resolve() if not Path(top.queue).is_absolute() else Path(top.queue)
    )
    feeds_path = (base / top.feeds.into).resolve() if top.feeds.into else None
    diags += _feeds_problems(top.feeds, feeds_path, queue_path, top.accounts, loc, filename)
    diags += watch_problems(top.watch, accounts, loc.find, filename)
    if any(d.severity is Severity.ERROR for d in diags):
        raise InvalidFileError(diags)
    return Config(
        path=path,
        queue_path=queue_path,
        database_url=_database_url(top.database, base),
        timezone=zone,
        max_lateness=top.max_lateness,
        accounts=accounts,
        engine=top.engine,
        retry=top.retry,
        notify=top.notify,
        metrics=top.metrics,
        web=top.web,
        log=top.log,
        lease=top.lease,
        media=top.media,
        feeds=top.feeds,
        feeds_path=feeds_path,
        watches=tuple(top.watch),
        alerts=top.alerts,
        warnings=tuple(diags),
    )


def check_utm(params: Mapping[str, str]) -> str | None:
    from publisher.utm import check_values

    return check_values(params)


def _matches_pattern(path: Path, queue: Path) -> bool:
    """Whether ``path`` could be one of a queue pattern's files (``queue.d/*.yaml``): the
    daemon would apply what it appends before anyone reviews it."""
    if not glob.has_magic(str(queue)):
        return False
    patterns = {str(queue), str(queue).replace("**/", "")}
    return any(fnmatch.fnmatchcase(str(path), p) for p in patterns)


def _feeds_problems(
    feeds: FeedsSettings,
    into: Path | None,
    queue: Path,
    accounts: Mapping[str, Any],
    loc: _Locator,
    filename: str,
) -> list[Diagnostic]:
    out = []
    if feeds.source and into is None:
        line, col = loc.find(("feeds",))
        out.append(
            Diagnostic(
                filename,
                line,
                col,
                "feeds.into",
                '[[feeds.source]] needs [feeds] into = "FILE": the file the team reviews',
            )
        )
    if into is not None and (into == queue or _matches_pattern(into, queue)):
        line, col = loc.find(("feeds", "into"))
        out.append(
            Diagnostic(
                filename,
                line,
                col,
                "feeds.into",
                "must not be the queue file (nor one of its pattern's): feed items go to a "
                "file the team reviews first",
            )
        )
    for i, source in enumerate(feeds.source):
        for name in source.accounts:
            if name not in accounts:
                line, col = loc.find(("feeds", "source"))
                out.append(
                    Diagnostic(
                        filename,
                        line,
                        col,
                        f"feeds.source[{i}].accounts",
                        f"unknown account {name!r}",
                    )
                )
    return out


@dataclass(frozen=True)
class _References:
    """Resolves ``${NAME}`` values, noting each problem (at the key's place) in ``diags``."""

    source: SecretSource
    policy: SecretPolicy
    loc: _Locator
    filename: str
    diags: list[Diagnostic]


def _reference(value: Any, key: tuple[str, ...], refs: _References) -> Any:
    """``value``, or the Secret a whole-string ``${NAME}`` names; ValueError (after noting
    why) when it cannot be used at all."""
    if not isinstance(value, str):
        return value
    where = ".".join(key)
    line, col = refs.loc.find(key)
    try:
        ref = resolve_reference(value, refs.source, where)
    except (ValueError, PermissionError) as err:
        refs.diags.append(Diagnostic(refs.filename, line, col, where, str(err).split(": ", 1)[-1]))
        raise ValueError(where) from None
    if isinstance(ref, Secret) and not ref.resolved:
        msg = (
            f"secret ${{{ref.name}}} is not set (environment variable {ref.name} "
            f"or file $CREDENTIALS_DIRECTORY/{ref.name})"
        )
        severity = Severity.ERROR if refs.policy is SecretPolicy.REQUIRE else Severity.WARNING
        refs.diags.append(Diagnostic(refs.filename, line, col, where, msg, severity))
    elif isinstance(ref, Secret) and len(ref.reveal()) < MIN_LENGTH:
        msg = (
            f"secret ${{{ref.name}}} is shorter than {MIN_LENGTH} characters: too short "
            "to tell from ordinary words, so logs and errors are not scrubbed of it"
        )
        refs.diags.append(Diagnostic(refs.filename, line, col, where, msg, Severity.WARNING))
    return ref


# The keys of sections (not accounts) that hold secrets: resolved before validation.
_SECTION_SECRETS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("media", "s3"): ("access_key_id", "secret_access_key"),
    ("web",): ("token",),
}


def _resolve_section_secrets(raw: dict[str, Any], refs: _References) -> None:
    """``[media.s3]``'s keys and ``[web] token`` as Secrets before validation (in place)."""
    for path, keys in _SECTION_SECRETS.items():
        table: Any = raw
        for name in path:
            table = table.get(name) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            continue
        for key in keys:
            if key in table:
                where = ".".join((*path, key))
                try:
                    table[key] = _reference(table[key], (*path, key), refs)
                except ValueError:
                    table[key] = Secret(key, None, where)  # noted; checked no further


def _media_problems(media: MediaSettings, loc: _Locator, filename: str) -> list[Diagnostic]:
    """The public media host is given in exactly one form: ``public_dir`` with
    ``public_base_url``, or ``[media.s3]`` with ``public_base_url`` or ``presign``."""

    def at(key: tuple[str, ...], msg: str) -> Diagnostic:
        line, col = loc.find(("media", *key))
        return Diagnostic(filename, line, col, ".".join(("media", *key)), msg)

    out = []
    if media.s3 is not None:
        if media.public_dir or media.public_base_url:
            key = "public_dir" if media.public_dir else "public_base_url"
            out.append(
                at((key,), "give either public_dir and public_base_url, or [media.s3], not both")
            )
        if bool(media.s3.public_base_url) == (media.s3.presign is not None):
            out.append(
                at(
                    ("s3",),
                    'give either public_base_url (a public bucket or CDN) or presign = "1h" '
                    "(presigned URLs), exactly one",
                )
            )
    elif media.public_dir and not media.public_base_url:
        out.append(
            at(("public_dir",), "needs public_base_url: the URL this directory is served at")
        )
    elif media.public_base_url and not media.public_dir:
        out.append(at(("public_base_url",), "needs public_dir: the directory served there"))
    return out


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
