"""``publisher accounts check``: verify each account's credentials against its network."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from publisher.commands.common import EXIT_OK, EXIT_USER, check_accounts, load

if TYPE_CHECKING:
    from publisher.adapters.base import AccountCheck


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("accounts", help="account tools: `accounts check` verifies credentials")
    inner = p.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    check = inner.add_parser("check", help="verify each account's credentials against its network")
    common(check)
    check.add_argument("--account", action="append", help="only this account (repeatable)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=main)


async def main(args: argparse.Namespace) -> int:
    # Loaded here, not at the top: ``--help`` imports this module.
    from publisher.adapters.base import AccountCheck, AdapterError, CheckStatus
    from publisher.clock import SystemClock
    from publisher.commands.run import adapter_context, http_session
    from publisher.config import SecretPolicy
    from publisher.engine.runtime import LIVE, build_adapters
    from publisher.mediahost.build import open_host
    from publisher.secrets import REDACTOR

    config = load(args.config, SecretPolicy.REQUIRE)
    names = args.account or sorted(config.accounts)
    check_accounts(names, config.accounts)
    clock = SystemClock()
    results: dict[str, AccountCheck] = {}
    media: AccountCheck | None = None
    async with http_session(config, LIVE) as session, open_host(config, session) as host:
        adapters = build_adapters(config, adapter_context(session, clock, host), LIVE)
        for name in names:
            try:
                results[name] = await adapters[name].check()
            except AdapterError as err:
                results[name] = AccountCheck(
                    CheckStatus.ATTENTION, detail=REDACTOR.scrub(err.reason)
                )
        if host is not None and not args.account:
            media = await host.check()  # write-free: the directory's access, a HEAD bucket
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
    ]
    host_row = None
    if media is not None:
        host_row = {
            "status": media.status.value,
            "identity": media.identity,
            "detail": REDACTOR.scrub(media.detail),
        }
    if args.json:
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
            print(f"{mark:<9} {'[media]':<20} {'host':<9} {host_row['identity']}{detail}")
    checks = [*results.values(), *([media] if media is not None else [])]
    return EXIT_OK if all(r.status is CheckStatus.OK for r in checks) else EXIT_USER
