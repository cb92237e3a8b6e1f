"""What several commands share: loading the files and reporting their problems.

Every command module imports this one, and ``publisher --help`` imports every command
module: the config (pydantic, the adapters) and the store (SQLAlchemy) load inside the
functions that use them (``tests/test_fast_start.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from publisher.diagnostics import InvalidFileError, Severity

if TYPE_CHECKING:
    from publisher.config import Config, SecretPolicy
    from publisher.store import Store

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75  # sysexits' EX_TEMPFAIL

# Command-line times: wide enough for any window anyone means, narrow enough that the
# arithmetic on them (a window's weeks, a time-travelling clock's next day) cannot leave
# the range of a datetime (years 1 to 9999).
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(9000, 1, 1, tzinfo=UTC)


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit 1."""

    exit_code = EXIT_USER


class UnavailableError(UserError):
    """Something we depend on cannot be reached now (the database server): worth trying
    again, so not exit 1, which the service unit treats as "do not restart"."""

    exit_code = EXIT_TEMPFAIL


def print_diagnostics(err: InvalidFileError) -> None:
    for d in err.diagnostics:
        print(str(d), file=sys.stderr)


def load(path: Path, policy: SecretPolicy) -> Config:
    from publisher.config import load_config

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
    from publisher.store.dburl import is_sqlite

    if not is_sqlite(config.database_url):
        return True
    path = config.database_url.split(":///", 1)[1]
    return path == ":memory:" or Path(path).exists()


async def open_store(config: Config, *, readonly: bool = False, url: str | None = None) -> Store:
    """The store, or a one-line reason it cannot be opened (never the driver's traceback)."""
    from sqlalchemy.exc import DBAPIError

    from publisher.secrets import REDACTOR
    from publisher.store import SchemaTooNewError, Store
    from publisher.store.dburl import is_sqlite, redact_url

    target = url or config.database_url
    try:
        return await Store.open(target, readonly=readonly)
    except SchemaTooNewError as err:
        raise UserError(str(err)) from None
    except (DBAPIError, OSError) as err:
        reason = getattr(err, "orig", None) or err
        detail = REDACTOR.scrub(" ".join(str(reason).split()))[:300]
        where = redact_url(target)
        if isinstance(err, OSError) and not is_sqlite(target):
            raise UnavailableError(f"cannot reach the database {where}: {detail}") from None
        raise UserError(f"cannot open the database {where}: {detail}") from None


def parse_when(text: str, zone: ZoneInfo) -> datetime:
    """A command-line time, the same for every command: ISO 8601 with offset, a local time in
    the configured zone, or a date alone (local midnight)."""
    from publisher.times import TimeOutOfRangeError, parse_command_time

    try:
        at = parse_command_time(text, zone).at
    except TimeOutOfRangeError:  # one message for every time the command line refuses
        raise UserError(out_of_range(text)) from None
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
    from publisher.diagnostics import suggest

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
