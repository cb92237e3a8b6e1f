"""``publisher accounts check``: verify each account's credentials against its network;
``publisher accounts connect``: obtain them (``publisher.commands.connect``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from publisher.commands import connect
from publisher.commands.common import EXIT_OK, EXIT_USER, check_accounts, load

if TYPE_CHECKING:
    from publisher.adapters.base import AccountCheck
    from publisher.config import Config


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "accounts",
        help="account tools: `accounts check` verifies credentials, `accounts connect` gets them",
    )
    inner = p.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    check = inner.add_parser("check", help="verify each account's credentials against its network")
    common(check)
    check.add_argument("--account", action="append", help="only this account (repeatable)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=main)
    connect.register(inner, common, checked)


async def checked(
    config: Config, names: Sequence[str], *, host_too: bool = False
) -> dict[str, AccountCheck]:
    """Each named account's check, through its network's adapter (any installed one); with
    ``host_too``, the ``[media]`` host's too, under the key ``MEDIA_HOST``."""
    # Loaded here, not at the top: ``--help`` imports this module.
    from publisher.adapters.base import AccountCheck, AdapterError, CheckStatus
    from publisher.clock import SystemClock
    from publisher.commands.run import adapter_context, http_session
    from publisher.engine.runtime import LIVE, build_adapters
    from publisher.mediahost.build import open_host
    from publisher.secrets import REDACTOR

    clock = SystemClock()
    results: dict[str, AccountCheck] = {}
    async with http_session(config, LIVE) as session, open_host(config, session) as host:
        adapters = build_adapters(config, adapter_context(session, clock, host), LIVE)
        for name in names:
            try:
                results[name] = await adapters[name].check()
            except AdapterError as err:
                results[name] = AccountCheck(
                    CheckStatus.ATTENTION, detail=REDACTOR.scrub(err.reason)
                )
        if host is not None and host_too:
            results[MEDIA_HOST] = await host.check()  # write-free: access, a HEAD bucket
    return results


MEDIA_HOST = "[media]"  # the key of the media host's check: no account has this name


def report(config: Config, results: dict[str, AccountCheck], as_json: bool) -> int:
    from publisher.adapters.base import CheckStatus
    from publisher.secrets import REDACTOR

    media = results.get(MEDIA_HOST)
    host_row = None
    if media is not None:
        host_row = {
            "status": media.status.value,
            "identity": media.identity,
            "detail": REDACTOR.scrub(media.detail),
        }
    rows = [
        {
            "account": name,
            "network": config.accounts[name].network,
            "status": r.status.value,
            "identity": r.identity,
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "detail": REDACTOR.scrub(r.detail),
        }
        for name, r in results.items()
        if name != MEDIA_HOST
    ]
    if as_json:
        out: dict[str, Any] = {"schema": 1, "accounts": rows}
        if host_row is not None:
            out["media_host"] = host_row
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            mark = "ok " if row["status"] == "ok" else "ATTENTION"
            expiry = f" (expires {row['expires_at']})" if row["expires_at"] else ""
            print(
                f"{mark:<9} {row['account']:<20} {row['network']:<9} {row['identity']}{expiry}"
                f"{'  ' + row['detail'] if row['detail'] else ''}"
            )
        if host_row is not None:
            mark = "ok " if host_row["status"] == "ok" else "ATTENTION"
            detail = f"  {host_row['detail']}" if host_row["detail"] else ""
            print(f"{mark:<9} {MEDIA_HOST:<20} {'host':<9} {host_row['identity']}{detail}")
    return EXIT_OK if all(r.status is CheckStatus.OK for r in results.values()) else EXIT_USER


async def main(args: argparse.Namespace) -> int:
    from publisher.config import SecretPolicy

    config = load(args.config, SecretPolicy.REQUIRE)
    names = args.account or sorted(config.accounts)
    check_accounts(names, config.accounts)
    return report(config, await checked(config, names, host_too=not args.account), args.json)
