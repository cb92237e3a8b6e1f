"""What several commands share: loading the files and reporting their problems."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError, Severity
from publisher.store import SchemaTooNewError, Store
from publisher.store.db import is_sqlite

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit 1."""


def print_diagnostics(err: InvalidFileError) -> None:
    for d in err.diagnostics:
        print(str(d), file=sys.stderr)


def load(path: Path, policy: SecretPolicy) -> Config:
    try:
        config = load_config(path, secrets=policy)
    except InvalidFileError as err:
        print_diagnostics(err)
        raise UserError(f"{path}: configuration not valid") from None
    for w in config.warnings:
        if w.severity is Severity.WARNING:
            print(str(w), file=sys.stderr)
    return config


def database_exists(config: Config) -> bool:
    if not is_sqlite(config.database_url):
        return True
    path = config.database_url.split(":///", 1)[1]
    return path == ":memory:" or Path(path).exists()


async def open_store(config: Config, *, readonly: bool = False, url: str | None = None) -> Store:
    try:
        return await Store.open(url or config.database_url, readonly=readonly)
    except SchemaTooNewError as err:
        raise UserError(str(err)) from None


def parse_when(text: str, zone: ZoneInfo) -> datetime:
    """A command-line time: ISO 8601 with offset, or a local time in the configured zone."""
    from publisher.times import parse_time

    try:
        return parse_time(text, zone).at
    except ValueError as err:
        raise UserError(str(err)) from None


def fmt_local(when: datetime | None, zone: ZoneInfo) -> str:
    if when is None:
        return "-"
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
