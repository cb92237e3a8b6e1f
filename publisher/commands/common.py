"""What several commands share: loading the files and reporting their problems."""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError, Severity
from publisher.store import SchemaTooNewError, Store
from publisher.store.db import is_sqlite

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2

# Command-line times: wide enough for any window anyone means, narrow enough that the
# arithmetic on them (a window's weeks, a time-travelling clock's next day) cannot leave
# the range of a datetime (years 1 to 9999).
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(9000, 1, 1, tzinfo=UTC)


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
        at = parse_time(text, zone).at
    except ValueError as err:
        raise UserError(str(err)) from None
    except OverflowError:  # a local time next to year 1 or 9999 has no UTC instant
        raise UserError(out_of_range(text)) from None
    return in_range(at, text)


def out_of_range(text: str) -> str:
    return (
        f"{text.strip()!r} is out of range: times on the command line lie between "
        f"{TIME_MIN:%Y-%m-%d} and {TIME_MAX:%Y-%m-%d} (UTC)"
    )


def in_range(at: datetime, text: str) -> datetime:
    # A day's slack either side: 1970-01-01 00:00 in Paris is 1969-12-31 23:00 UTC.
    if not TIME_MIN - timedelta(days=1) <= at <= TIME_MAX + timedelta(days=1):
        raise UserError(out_of_range(text))
    return at


def check_accounts(names: Iterable[str], known: Collection[str]) -> None:
    """An ``--account`` that names nothing is a mistake, never an empty answer."""
    from publisher.queuefile import suggest

    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    named = []
    for name in unknown:
        close = suggest(name, known)
        named.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
    listed = sorted(known)
    shown = ", ".join(listed[:20]) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
    raise UserError(
        f"unknown account{'s' if len(unknown) > 1 else ''} {', '.join(named)}; "
        f"known accounts: {shown or 'none'}"
    )


def fmt_local(when: datetime | None, zone: ZoneInfo) -> str:
    if when is None:
        return "-"
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
