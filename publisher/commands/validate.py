"""``publisher validate``: the whole gate before a merge. Checks the config and the queue,
then renders every delivery still to publish as its network will receive it (no network, no
writes, no credentials) and reports each problem at the ``file:line:col`` of the field that
causes it. Exit 1 on any error; warnings do not fail.

Output: text (problems on stderr, the summary on stdout), ``--format json`` (one document,
docs/json.md) or ``--format github`` (GitHub Actions annotations).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.clock import SystemClock
from publisher.commands.checks import (
    Answers,
    Finding,
    Placer,
    inbox_answers,
    render_adapters,
    render_deliveries,
)
from publisher.commands.common import EXIT_OK, EXIT_USER, fmt_local
from publisher.commands.plan import PlanView, current_plan
from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import Diagnostic, InvalidFileError, Severity
from publisher.queuefile import PostSpec
from publisher.queueset import file_name, is_glob, split_glob
from publisher.rules import rule_of
from publisher.schedule import PlannedDelivery, policy_violations

SCHEMA_VERSION = 1
FORMATS = ("text", "json", "github")
NEXT = 10  # deliveries in the JSON document's `next`


@dataclass
class Outcome:
    """What one run of ``validate`` found, whatever the format it is shown in."""

    config_path: Path
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: Config | None = None
    view: PlanView | None = None
    checked: int = 0  # deliveries rendered
    failing: int = 0  # of which cannot be published as written

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors


async def main(args: argparse.Namespace) -> int:
    outcome = await check(args.config)
    show = {"json": _json, "github": _github}.get(args.format, _text)
    show(outcome)
    return EXIT_USER if outcome.errors else EXIT_OK


async def check(config_path: Path) -> Outcome:
    """Everything ``validate`` reports, in file order."""
    outcome = Outcome(config_path)
    try:
        config = load_config(config_path, secrets=SecretPolicy.WARN)
    except InvalidFileError as err:
        outcome.findings = [Finding(d) for d in err.diagnostics]
        return outcome
    outcome.config = config
    found = [Finding(w) for w in config.warnings if w.severity is Severity.WARNING]
    now = SystemClock().now()
    try:
        # A team's file with errors: said, and the other files checked all the same.
        view = await current_plan(config, now, partial=True)
    except InvalidFileError as err:
        outcome.findings = found + [Finding(d) for d in err.diagnostics]
        return outcome
    outcome.view = view
    found += [Finding(d) for d in view.kept_problems]
    found += [Finding(w) for w in view.queue.warnings]
    found += [Finding(v) for v in policy_violations(view.planned, config, view.queue)]
    outcome.notes = list(view.report.notices)
    answers = await inbox_answers(config, view.queue.posts)
    checked = render_deliveries(
        view.pending(), view.queue.posts, config, render_adapters(config), answers
    )
    placer = _placer(view)
    found += _unchecked_answers(answers, view.queue.posts, placer)
    said: set[tuple[object, ...]] = set()
    for c in checked:
        for f in placer(c.planned.post_id).findings(c):
            # A repeat's occurrences render alike: one problem is said once, for the first.
            key = (f.diagnostic, f.account, f.network)
            if key not in said:
                said.add(key)
                found.append(f)
    outcome.checked = len(checked)
    outcome.failing = sum(1 for c in checked if c.rendered.errors)
    config_file = str(config.path)
    outcome.findings = sorted(
        found, key=lambda f: (f.diagnostic.file != config_file, f.diagnostic, f.account or "")
    )
    return outcome


def _placer(view: PlanView) -> Callable[[str], Placer]:
    """Where a post's render problems are placed: its own file's (a queue pattern's file)."""
    whole = Placer(str(view.queue.path), view.text, view.queue.posts)
    if not view.texts:
        return lambda _post_id: whole
    by_file: dict[str, list[PostSpec]] = {}
    for post in view.queue.posts:
        by_file.setdefault(file_name(post.id) or "", []).append(post)
    placers: dict[str, Placer] = {}

    def placer(post_id: str) -> Placer:
        name = file_name(post_id) or ""
        if name not in placers:
            path, text = view.texts.get(name, (view.queue.path, None))
            placers[name] = Placer(str(path), text, by_file.get(name, []))
        return placers[name]

    return placer


def _unchecked_answers(
    answers: Answers, posts: Sequence[PostSpec], placer: Callable[[str], Placer]
) -> list[Finding]:
    """Without the inbox here, a ``reply_to:`` cannot be checked: said, not failed."""
    if answers.checked:
        return []
    out = []
    for p in posts:
        if not p.reply_to:
            continue
        message = (
            f"reply_to {p.reply_to}: not checked, no database here (the inbox is on the "
            "server: validate there, or after `publisher run` has listened)"
        )
        where = placer(p.id)  # the post's own file
        line, column, field = where.locate(p, "reply_to")
        out.append(
            Finding(
                Diagnostic(where.filename, line, column, field, message, Severity.WARNING),
                post=p.id,
            )
        )
    return out


# ---------------------------------------------------------------------------- text


def _text(o: Outcome) -> None:
    for f in o.findings:
        print(str(f), file=sys.stderr)
    for n in o.notes:
        print(f"note: {n}", file=sys.stderr)
    if o.config is None:
        print(f"publisher: {o.config_path}: configuration not valid", file=sys.stderr)
        return
    if o.view is None:
        print(
            f"{o.errors} error(s): the queue is not valid; nothing would be applied",
            file=sys.stderr,
        )
        return
    if o.errors:
        said = []
        if o.view.kept:
            names = ", ".join(sorted(o.view.kept))
            said.append(
                f"{names} would not be applied (a file with errors keeps its last good plan); "
                "the other files would"
            )
        if o.failing or not said:
            said.append(f"{o.failing} of {o.checked} deliveries cannot be published as written")
        print(f"{o.errors} error(s): {'; '.join(said)}", file=sys.stderr)
        return
    config, view = o.config, o.view
    per_account = Counter(p.account for p in view.planned)
    pending = view.pending()
    files = f" ({len(view.texts)} files)" if view.texts else ""
    print(
        f"{_queue_name(config)}{files}: valid — {view.written} posts, "
        f"{len(view.planned)} deliveries, {len(pending)} still to publish"
        + (f", {o.warnings} warning(s)" if o.warnings else "")
    )
    for account in sorted(per_account):
        net = config.accounts[account].network
        print(f"  {account:<24} {net:<10} {per_account[account]:>5} deliveries")
    upcoming = _upcoming(view)[:5]
    if upcoming:
        print("next:")
        for p in upcoming:
            rule = rule_of(p.post_id)
            slot = f" ({rule})" if rule else " (slot)" if p.from_slot else ""
            print(f"  {fmt_local(p.due_at, config.timezone)}  {p.post_id} → {p.account}{slot}")
    for c in view.report.choices:
        print(f"  {c}")


def _queue_name(config: Config) -> str:
    """The queue file's name; a pattern's from its base directory's (``queue.d/*.yaml``)."""
    if not is_glob(config.queue_path):
        return config.queue_path.name
    base, rest = split_glob(config.queue_path)
    return f"{base.name}/{rest}"


def _upcoming(view: PlanView) -> list[PlannedDelivery]:
    """What goes out next: repeats' occurrences and evergreen choices among the others."""
    return [p for p in view.pending() if p.due_at >= view.now]


# ---------------------------------------------------------------------------- json


def finding_json(f: Finding) -> dict[str, Any]:
    d = f.diagnostic
    return {
        "file": d.file,
        "line": d.line,
        "column": d.column,
        "severity": d.severity.value,
        "field": d.field,
        "message": d.message,
        "post": f.post,
        "account": f.account,
        "network": f.network,
    }


def _json(o: Outcome) -> None:
    view = o.view
    doc = {
        "schema": SCHEMA_VERSION,
        "valid": o.errors == 0,
        "config": str(o.config_path),
        "queue": str(o.config.queue_path) if o.config is not None else None,
        "counts": {
            "errors": o.errors,
            "warnings": o.warnings,
            "posts": view.written if view is not None else None,
            "deliveries": len(view.planned) if view is not None else None,
            "pending": o.checked if view is not None else None,
            "failing": o.failing if view is not None else None,
        },
        "diagnostics": [finding_json(f) for f in o.findings],
        "notes": o.notes,
        "next": [
            {
                "at": p.due_at.astimezone(o.config.timezone).isoformat(),
                "post": p.post_id,
                "account": p.account,
                "from_slot": p.from_slot,
                "rule": rule_of(p.post_id),
            }
            for p in _upcoming(view)[:NEXT]
        ]
        if view is not None and o.config is not None
        else [],
        "evergreen": list(view.report.choices) if view is not None else [],
    }
    print(json.dumps(doc, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------------------- github


def _escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped, as the runner decodes them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _relative(file: str) -> str:
    """The path from the working directory (the repository's root in a workflow), which is
    what GitHub places annotations by; an absolute path outside it as it is."""
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return file
    return file if rel.startswith("..") else rel


def github_line(f: Finding) -> str:
    d = f.diagnostic
    level = "error" if f.is_error else "warning"
    message = f"{d.field}: {d.message}" if d.field else d.message
    if f.account:
        message += f" ({f.account}, {f.network})"
    props = (
        f"file={_escape_property(_relative(d.file))},line={d.line},col={d.column},"
        f"title={_escape_property('publisher validate')}"
    )
    return f"::{level} {props}::{_escape_data(message)}"


def _github(o: Outcome) -> None:
    for f in o.findings:
        print(github_line(f))
    for n in o.notes:
        print(f"::notice title=publisher validate::{_escape_data(n)}")
    if o.errors:
        print(f"publisher validate: {o.errors} error(s), {o.warnings} warning(s)")
    else:
        print(f"publisher validate: valid, {o.warnings} warning(s)")
