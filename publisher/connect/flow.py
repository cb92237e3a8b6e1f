"""What a connect flow is: an account's table as written, what the flow hands back, and the
human at the terminal (a seam, so tests drive it as a browser would).

A flow never writes anything: it returns the values it obtained by the account's field names
(``Obtained``), and ``publisher.commands.connect`` stores them where the account's ``${NAME}``
references find them, only once the whole flow succeeded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from publisher.clock import Clock
from publisher.secrets import REDACTOR, REFERENCE, SecretSource

if TYPE_CHECKING:
    import aiohttp


class ConnectError(Exception):
    """The flow cannot go on; the message is for the operator and carries no secret."""

    def __init__(self, message: str) -> None:
        super().__init__(REDACTOR.scrub(message))


class Purpose(StrEnum):
    """What the scopes asked for serve: publishing always, the others when asked."""

    PUBLISH = "publish"
    ENGAGEMENT = "engagement"
    LISTENING = "listening"


@dataclass(frozen=True)
class Scopes:
    """A network's scopes by purpose: data, read by the flow and by the report."""

    by_purpose: Mapping[Purpose, tuple[str, ...]]

    def needed(self, purposes: Sequence[Purpose]) -> tuple[str, ...]:
        out: list[str] = []
        for purpose in (Purpose.PUBLISH, *purposes):
            for scope in self.by_purpose.get(purpose, ()):
                if scope not in out:
                    out.append(scope)
        return tuple(out)


@dataclass(frozen=True)
class Granted:
    """The scopes asked for and, where the network says, those it granted."""

    needed: tuple[str, ...]
    granted: frozenset[str] | None  # None: the network does not report them

    @property
    def missing(self) -> tuple[str, ...]:
        if self.granted is None:
            return ()
        granted = self.granted
        # A top-level scope covers its own (Mastodon: "write" covers "write:statuses").
        return tuple(s for s in self.needed if s not in granted and s.split(":")[0] not in granted)


@dataclass(frozen=True)
class Keep:
    """A file a flow's adapter keeps beside the secrets (X's ``token_file``), written after
    them by ``write`` (atomic, 0600); not written with ``--print``."""

    path: Path
    write: Callable[[Path], None]


@dataclass(frozen=True)
class Obtained:
    """What a flow got: values by the account's field names, and what to tell the operator."""

    values: Mapping[str, str]
    granted: Granted
    identity: str
    notes: tuple[str, ...] = ()
    keep: tuple[Keep, ...] = ()


@dataclass(frozen=True)
class Output:
    """A value a flow produces and where it goes: the first of ``fields`` the account has.

    ``secret`` values must go through a ``${NAME}`` reference; a plain one (a page id) given
    literally in the account is taken as the operator's choice instead."""

    fields: tuple[str, ...]
    secret: bool = True
    required: bool = True


@dataclass(frozen=True)
class Account:
    """One ``[accounts.NAME]`` table as written (not validated by an adapter: the networks a
    connect flow serves need not be installed yet), with references resolved on demand."""

    name: str
    network: str
    table: Mapping[str, Any]
    source: SecretSource
    config_path: Path

    def reference(self, key: str) -> str | None:
        """The NAME of ``key = "${NAME}"``; None when it is absent or written literally."""
        value = self.table.get(key)
        if not isinstance(value, str):
            return None
        m = REFERENCE.fullmatch(value.strip())
        return m.group(1) if m else None

    def text(self, key: str, default: str | None = None) -> str | None:
        """A setting's value: the literal, the reference's value, else ``default``."""
        value = self.table.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            return str(value)
        name = self.reference(key)
        if name is None:
            return value
        try:
            found = self.source.lookup(name, f"accounts.{self.name}.{key}")
        except PermissionError as err:  # a secret file others may read: refused, as the daemon does
            raise ConnectError(str(err)) from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConnectError(
                f"accounts.{self.name}.{key}: cannot read ${{{name}}} ({err})"
            ) from None
        if found is not None:
            REDACTOR.add(found)
        return found if found is not None else default

    def needs(self, key: str, why: str) -> str:
        value = self.text(key)
        if not value:
            ref = self.reference(key)
            where = f" (${{{ref}}} is not set)" if ref else ""
            raise ConnectError(f"accounts.{self.name}.{key} is needed {why}{where}")
        return value


def read_account(path: Path, name: str, source: SecretSource) -> Account:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConnectError(f"{path}: cannot read: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConnectError(f"{path}: not valid TOML ({err}); run publisher validate") from None
    accounts = doc.get("accounts")
    table = accounts.get(name) if isinstance(accounts, dict) else None
    if not isinstance(table, dict):
        known = ", ".join(sorted(accounts)) if isinstance(accounts, dict) else "none"
        raise ConnectError(
            f"{path}: no account {name!r} (known: {known}); add [accounts.{name}] first"
        )
    network = table.get("network")
    if not isinstance(network, str):
        raise ConnectError(f"{path}: accounts.{name} has no network")
    return Account(name, network, table, source, path)


class Terminal(Protocol):
    """The operator: told things, shown the authorization URL, asked to paste or choose."""

    def say(self, text: str) -> None: ...

    async def browse(self, url: str) -> None:
        """Open ``url`` in a browser where there is one (it is printed anyway)."""
        ...

    async def pasted(self) -> str:
        """The next line the operator pastes (a redirect URL or a code); waits forever if
        nobody can paste."""
        ...

    async def choose(self, question: str, options: Sequence[str]) -> int:
        """The index of the option chosen."""
        ...

    async def ask(self, question: str, *, hidden: bool) -> str:
        """A line typed by the operator; ``hidden``: not echoed (a password, a token)."""
        ...


@dataclass(frozen=True)
class Options:
    """How to run the flow: the loopback port, or a redirect URI registered elsewhere."""

    purposes: tuple[Purpose, ...] = ()
    port: int | None = None  # None: the network's default (0: any free port)
    redirect_uri: str | None = None  # not a loopback: the operator pastes what it shows
    timeout: float = 600.0


@dataclass(frozen=True)
class Context:
    session: aiohttp.ClientSession
    terminal: Terminal
    clock: Clock
    options: Options = field(default_factory=Options)


Run = Callable[[Account, Context], Awaitable[Obtained]]


@dataclass(frozen=True)
class Flow:
    """One network's connect flow: where its outputs go, as data, and the function (which
    holds the network's scopes, as data too: ``Scopes`` beside it)."""

    network: str
    outputs: tuple[Output, ...]
    run: Run
