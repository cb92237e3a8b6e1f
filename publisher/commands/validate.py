"""``publisher validate``: check config and queue; exit 1 with ``file:line:col`` lines."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from publisher.clock import SystemClock
from publisher.commands.common import EXIT_OK, EXIT_USER, fmt_local, load, print_diagnostics
from publisher.commands.plan import current_plan
from publisher.config import SecretPolicy
from publisher.diagnostics import InvalidFileError
from publisher.schedule import policy_violations


async def main(args: argparse.Namespace) -> int:
    config = load(args.config, SecretPolicy.WARN)
    now = SystemClock().now()
    try:
        view = await current_plan(config, now)
    except InvalidFileError as err:
        print_diagnostics(err)
        print(
            f"{len(err.errors)} error(s): the queue is not valid; nothing would be applied",
            file=sys.stderr,
        )
        return EXIT_USER
    for w in view.queue.warnings:
        print(str(w), file=sys.stderr)
    for v in policy_violations(view.planned, config, view.queue):
        print(str(v), file=sys.stderr)
    for n in view.report.notices:
        print(f"note: {n}", file=sys.stderr)
    per_account = Counter(p.account for p in view.planned)
    pending = view.pending()
    print(
        f"{config.queue_path.name}: valid — {len(view.queue.posts)} posts, "
        f"{len(view.planned)} deliveries, {len(pending)} still to publish"
    )
    for account in sorted(per_account):
        net = config.accounts[account].network
        print(f"  {account:<24} {net:<10} {per_account[account]:>5} deliveries")
    upcoming = [p for p in pending if p.due_at >= now][:5]
    if upcoming:
        print("next:")
        for p in upcoming:
            slot = " (slot)" if p.from_slot else ""
            print(f"  {fmt_local(p.due_at, config.timezone)}  {p.post_id} → {p.account}{slot}")
    return EXIT_OK
