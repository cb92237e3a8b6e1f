"""Listening's settings (issue 20): ``[[watch]]`` tables and ``[alerts]``, and their checks.

Apart from ``publisher.config`` (which reads them with the rest of publisher.toml) so the
file that holds every setting does not also hold every setting's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from publisher.adapters.registry import UnknownNetworkError, adapter_class
from publisher.diagnostics import Diagnostic, Severity
from publisher.durations import MAX_DURATION, format_duration, parse_duration


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be more than zero")
    if value > MAX_DURATION:
        raise ValueError(f"too long (at most {format_duration(MAX_DURATION)})")
    return value


Period = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
Term = Annotated[str, Field(min_length=1, max_length=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listens(Protocol):
    """What the checks need of an account (``publisher.config.AccountConfig``)."""

    @property
    def network(self) -> str: ...

    @property
    def listen(self) -> bool: ...

    @property
    def enabled(self) -> bool: ...


WATCH_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class WatchSettings(_Section):
    """One ``[[watch]]``: terms searched where a network searches (issue 20)."""

    name: str = Field(pattern=WATCH_NAME)
    terms: list[Term] = Field(min_length=1)
    # Networks searched (none: every network an account of ours listens on and searches).
    networks: list[str] = []
    # Accounts whose credentials search (none: the first listening account of each network).
    accounts: list[str] = []
    every: Period = timedelta(minutes=15)
    alert: bool = False  # every new item of this watch goes to [notify]


class AlertSettings(_Section):
    """``[alerts]``: which new inbox items go to ``[notify]`` (issue 20)."""

    # An item whose text holds one of these (words or phrases, any case) is sent at once.
    terms: list[Term] = []
    # A spike: more than this many items for one account within an hour.
    per_hour: int | None = Field(default=None, ge=1)
    # Or this many times the account's usual hourly rate (its average over ``baseline``)...
    factor: float | None = Field(default=None, gt=1)
    baseline: Period = timedelta(days=7)
    # ...and at least this many items in the hour, so two items after a quiet week is no spike.
    min_items: int = Field(default=5, ge=1)


ERROR = Severity.ERROR


def watch_problems(
    watches: list[WatchSettings],
    accounts: Mapping[str, Listens],
    find: Callable[[tuple[str, ...]], tuple[int, int]],
    filename: str,
) -> list[Diagnostic]:
    """Each ``[[watch]]``'s networks and accounts exist, listen and search; names unique."""
    out: list[Diagnostic] = []
    seen: set[str] = set()
    for n, w in enumerate(watches):
        found: list[tuple[str, str, Severity]] = []
        if w.name in seen:
            found.append(("name", f"a second watch named {w.name!r}: names are unique", ERROR))
        seen.add(w.name)
        for name in w.accounts:
            acc = accounts.get(name)
            hearing = None if acc is None else adapter_class(acc.network).listening
            if acc is None:
                found.append(("accounts", f"no account named {name!r}", ERROR))
            elif hearing is None or not hearing.search:
                found.append(("accounts", f"{name} is on {acc.network}: no search", ERROR))
            elif not acc.listen:
                found.append(("accounts", f"{name} does not listen (listen = false)", ERROR))
        for network in w.networks:
            try:
                hearing = adapter_class(network).listening
            except UnknownNetworkError:
                found.append(("networks", f"unknown network {network!r}", ERROR))
                continue
            if hearing is None or not hearing.search:
                found.append(("networks", f"{network} has no search a watch can use", ERROR))
        if not found and not watch_accounts(w, accounts):
            message = "no listening account of ours can search for this watch: it finds nothing"
            found.append(("name", message, Severity.WARNING))
        for key, message, severity in found:
            line, col = find(("watch", str(n), key))
            out.append(Diagnostic(filename, line, col, f"watch.{n}.{key}", message, severity))
    return out


def watch_accounts(w: WatchSettings, accounts: Mapping[str, Listens]) -> list[str]:
    """The accounts that search for watch ``w``: those named, else the first listening
    account (in the config's order) of each network that searches and the watch covers."""
    if w.accounts:
        return [a for a in w.accounts if a in accounts and accounts[a].listen]  # as named
    out: dict[str, str] = {}
    for name, acc in accounts.items():
        if not acc.listen or not acc.enabled or acc.network in out:
            continue
        if w.networks and acc.network not in w.networks:
            continue
        hearing = adapter_class(acc.network).listening
        if hearing is not None and hearing.search:
            out[acc.network] = name
    return list(out.values())
