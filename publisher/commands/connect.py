"""``publisher accounts connect ACCOUNT``: run the account's network's authorization flow and
store what it gives where the account's ``${NAME}`` references find it, then check it.

Nothing is written unless the whole flow succeeded; then each secret goes to its file in the
credentials directory (``--credentials-dir``, else ``$CREDENTIALS_DIRECTORY``), or to stdout
with ``--print`` and nowhere else. Output names the references and files, never a value.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.commands.common import EXIT_OK, EXIT_USER, UserError

if TYPE_CHECKING:
    from publisher.adapters.base import AccountCheck
    from publisher.config import Config
    from publisher.connect.flow import Obtained

Checked = Callable[["Config", Sequence[str]], Awaitable[dict[str, "AccountCheck"]]]


def register(
    inner: Any, common: Callable[[argparse.ArgumentParser], None], checked: Checked
) -> None:
    p = inner.add_parser(
        "connect",
        help="authorize publisher on an account's network and store the credentials",
    )
    common(p)
    p.add_argument("account", metavar="ACCOUNT", help="an account of publisher.toml")
    p.add_argument(
        "--credentials-dir",
        type=Path,
        default=None,
        help="where the ${NAME} files go (default: $CREDENTIALS_DIRECTORY)",
    )
    p.add_argument(
        "--print",
        action="store_true",
        help="print NAME='value' lines for your own secret store instead of writing files",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the address")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="loopback port of the redirect (default: the network's, 8750, or any for Mastodon)",
    )
    p.add_argument(
        "--redirect-uri",
        default=None,
        help="a redirect URL registered with the app, not a loopback: paste where it lands",
    )
    p.add_argument(
        "--scopes",
        default="publish",
        help="what to ask for: publish, plus engagement and/or listening (comma separated)",
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the authorization"
    )

    async def handler(args: argparse.Namespace) -> int:
        return await main(args, checked)

    p.set_defaults(handler=handler)


def _store(name: str, creds: Path, values: Mapping[str, str], obtained: Obtained) -> None:
    """The values into their files, then the files the adapter keeps; names said, not values."""
    from publisher.connect.vault import VaultError, adopt_owner, store

    try:
        for s in store(creds, values):
            print(f"stored ${{{s.name}}} in {s.path}")
    except VaultError as err:
        raise UserError(f"accounts connect {name}: {err}; nothing stored") from None
    for keep in obtained.keep:
        try:
            keep.write(keep.path)
            adopt_owner(keep.path)
        except OSError as err:
            raise UserError(
                f"accounts connect {name}: the secrets are stored, but not {keep.path} "
                f"({err.strerror}): create its directory and connect again"
            ) from None
        print(f"stored the token pair in {keep.path}")


def _scopes(obtained: Obtained) -> int:
    """The scopes asked against those granted; a missing one is a warning and exit 1."""
    granted = obtained.granted
    if granted.needed:
        said = "not reported" if granted.granted is None else " ".join(sorted(granted.granted))
        print(f"scopes needed: {' '.join(granted.needed)}")
        print(f"scopes granted: {said}")
    if granted.missing:
        print(f"WARNING: not granted: {' '.join(granted.missing)}: publishing may be refused")
        return EXIT_USER
    return EXIT_OK


def _purposes(text: str) -> tuple[Any, ...]:
    from publisher.connect.flow import Purpose

    out = []
    for word in (w.strip() for w in text.split(",")):
        try:
            out.append(Purpose(word))
        except ValueError:
            choices = ", ".join(p.value for p in Purpose)
            raise UserError(f"--scopes: unknown {word!r} (choose among {choices})") from None
    return tuple(p for p in out if p is not Purpose.PUBLISH)


async def main(args: argparse.Namespace, checked: Checked) -> int:
    import aiohttp

    from publisher.clock import SystemClock
    from publisher.config import SecretPolicy, load_config
    from publisher.connect import FLOWS
    from publisher.connect.console import Console
    from publisher.connect.flow import ConnectError, Context, Options, read_account
    from publisher.connect.targets import place, plan
    from publisher.connect.vault import shell_lines
    from publisher.diagnostics import InvalidFileError
    from publisher.secrets import REDACTOR, SecretSource

    from_env = os.environ.get("CREDENTIALS_DIRECTORY")
    creds = args.credentials_dir or (Path(from_env) if from_env else None)
    if creds is None and not args.print:
        raise UserError(
            "where should the credentials go? --credentials-dir DIR (or $CREDENTIALS_DIRECTORY), "
            "or --print to print them for your own secret store"
        )
    options = Options(_purposes(args.scopes), args.port, args.redirect_uri, args.timeout)
    source = SecretSource(dict(os.environ), creds)
    console = Console(browser=not args.no_browser)
    try:
        account = read_account(args.config, args.account, source)
        flow = FLOWS.get(account.network)
        if flow is None:
            known = ", ".join(sorted(FLOWS))
            raise ConnectError(f"no connect flow for network {account.network!r} (known: {known})")
        targets = plan(account, flow)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            obtained = await flow.run(account, Context(session, console, SystemClock(), options))
    except ConnectError as err:
        raise UserError(f"accounts connect {args.account}: {err}; nothing stored") from None
    placement = place(account, targets, obtained)
    print(f"connected {account.name} ({account.network}): {obtained.identity}")
    if args.print:
        for line in shell_lines(placement.values):
            print(line)
        for keep in obtained.keep:
            print(f"note: {keep.path} is not written with --print: the adapter seeds it")
    else:
        assert creds is not None
        _store(args.account, creds, placement.values, obtained)
    stored = () if args.print else placement.values
    shadowed = sorted(name for name in stored if name in os.environ)
    notes = [
        *obtained.notes,
        *placement.notes,
        *(f"${name} is set in the environment, which wins over the file" for name in shadowed),
    ]
    for note in notes:
        print(f"note: {note}")
    code = _scopes(obtained)
    # The check reads the new values from where they were put (or, printed, from memory).
    overlay = SecretSource({**os.environ, **placement.values}, creds)
    try:
        config = load_config(args.config, secrets=SecretPolicy.WARN, source=overlay)
    except InvalidFileError as err:
        mine = [d for d in err.diagnostics if d.field.startswith(f"accounts.{account.name}.")]
        why = "; ".join(d.message for d in mine or err.diagnostics)
        print(f"not checked: {args.config} is not valid yet ({why})")
        return EXIT_USER
    from publisher.adapters.base import CheckStatus

    only = replace(config, accounts={account.name: config.accounts[account.name]})
    result = (await checked(only, [account.name]))[account.name]
    mark = "ok" if result.status is CheckStatus.OK else "ATTENTION"
    expiry = f" (expires {result.expires_at.isoformat()})" if result.expires_at else ""
    detail = f"  {REDACTOR.scrub(result.detail)}" if result.detail else ""
    print(f"accounts check: {mark} {result.identity}{expiry}{detail}")
    return code if result.status is CheckStatus.OK else EXIT_USER
