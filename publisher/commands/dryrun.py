"""``publisher dry-run``: exactly what each network would receive. No network, no writes.

It renders through the same adapters the daemon uses (built without an HTTP session, so a
network call is impossible), so what it prints is what ``run`` sends. Nothing here comes from
outside, and what the editor wrote is printed as written, never scrubbed: a scrubbed guess
would confirm a secret (``publisher.redact``). Payloads carry no credentials (adapters send
those in headers only; ``tests/test_redact.py`` checks every network's payloads).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from publisher.clock import SystemClock
from publisher.commands.checks import inbox_answers, render_adapters, render_deliveries
from publisher.commands.common import (
    EXIT_OK,
    EXIT_USER,
    check_accounts,
    fmt_local,
    load,
    parse_when,
    print_diagnostics,
)
from publisher.commands.plan import current_plan
from publisher.config import Config, SecretPolicy
from publisher.content import Rendered
from publisher.diagnostics import InvalidFileError
from publisher.schedule import PlannedDelivery

SCHEMA_VERSION = 1


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload_text(payload: Any) -> str:
    """A part's payload as dry-run prints it; the web view shows the same bytes."""
    return json.dumps(payload, ensure_ascii=False, default=str)


def delivery_json(p: PlannedDelivery, r: Rendered, config: Config) -> dict[str, Any]:
    return {
        "post": p.post_id,
        "account": p.account,
        "network": r.network,
        "due_utc": _iso(p.due_at),
        "due_local": p.due_at.astimezone(config.timezone).isoformat(),
        "from_slot": p.from_slot,
        "limit": r.limit,
        "parts": [
            {
                "index": part.index,
                "role": part.role.value,
                "text": part.text,
                "length": part.length,
                "limit": part.limit or r.limit,
                "payload": part.payload,
                "media": [
                    {"file": m.name, "alt": m.alt, "mime_type": m.mime_type, "size": m.size}
                    for m in part.media
                ],
            }
            for part in r.parts
        ],
        "warnings": list(r.warnings),
        "errors": list(r.errors),
    }


async def main(args: argparse.Namespace) -> int:
    config = load(args.config, SecretPolicy.WARN)
    check_accounts(args.account or (), config.accounts)
    clock = SystemClock()
    now = clock.now()
    start = parse_when(args.start, config.timezone) if args.start else now
    until = parse_when(args.until, config.timezone) if args.until else None
    try:
        view = await current_plan(config, now)
    except InvalidFileError as err:
        print_diagnostics(err)
        return EXIT_USER
    selected = [
        p
        for p in view.pending()
        if p.due_at >= start
        and (until is None or p.due_at < until)
        and (not args.account or p.account in args.account)
    ]
    answers = await inbox_answers(config, view.queue.posts)
    checked = render_deliveries(
        selected, view.queue.posts, config, render_adapters(config), answers
    )
    out = [delivery_json(c.planned, c.rendered, config) for c in checked]
    if args.json:
        doc = {"schema": SCHEMA_VERSION, "generated_at": _iso(now), "deliveries": out}
        print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    else:
        print(_text(out, config))
    problems = sum(1 for d in out if d["errors"])
    if problems:
        print(
            f"{problems} deliveries cannot be published as written "
            "(`publisher validate` shows where)",
            file=sys.stderr,
        )
        return EXIT_USER
    return EXIT_OK


def _text(out: list[dict[str, Any]], config: Config) -> str:
    lines: list[str] = []
    if not out:
        return "nothing to publish in this window"
    for d in out:
        due = datetime.fromisoformat(d["due_utc"].replace("Z", "+00:00"))
        slot = ", slot" if d["from_slot"] else ""
        lines.append(
            f"{fmt_local(due, config.timezone)} ({due:%H:%M} UTC{slot})  "
            f"{d['post']} → {d['account']} [{d['network']}]"
        )
        n = sum(1 for part in d["parts"] if part["role"] == "post")
        for part in d["parts"]:
            label = f"part {part['index'] + 1}/{n}" if n > 1 else "post"
            if part["role"] == "comment":
                label = "first comment, once the post is out"
            lines.append(f"  {label}: {part['length']}/{part['limit']}")
            for text_line in part["text"].splitlines() or [""]:
                lines.append(f"    | {text_line}")
            for m in part["media"]:
                name = m["file"].rsplit("/", 1)[-1]
                lines.append(
                    f"    + {name} ({m['mime_type']}, {m['size']:,} bytes) alt: {m['alt']!r}"
                )
            lines.append("    payload: " + payload_text(part["payload"]))
        for w in d["warnings"]:
            lines.append(f"  warning: {w}")
        for e in d["errors"]:
            lines.append(f"  ERROR: {e}")
        lines.append("")
    return "\n".join(lines)
