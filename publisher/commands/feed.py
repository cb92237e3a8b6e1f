"""``publisher feed import URL``: a feed's new items appended to a queue file, for review.

The resulting file is checked whole by the queue parser before it replaces the old one; a
feed that cannot be read, a template that does not fit, or a file that would not pass
``validate`` changes nothing. See ``publisher.feeds`` for what is remembered and why.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from publisher.commands.common import (
    EXIT_OK,
    EXIT_USER,
    UserError,
    check_accounts,
)


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    feed = sub.add_parser(
        "feed",
        help="import RSS/Atom items into a queue file, for review",
        description="Import a feed's new items as posts. See docs/editors.md.",
    )
    verbs = feed.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verbs.add_parser(
        "import",
        help="append the feed's new items to FILE (default: the queue file) as posts",
        description="Append a feed's new items as posts, each once (remembered by GUID in "
        "FILE.feeds.json). Nothing is published that a person did not let into the queue.",
    )
    common(p)
    p.add_argument("url", metavar="URL", help="the feed: http(s) URL or a local file")
    p.add_argument("--into", metavar="FILE", help="the file to append to (default: the queue)")
    p.add_argument(
        "--account",
        action="append",
        help="an account the posts go to (repeatable; default: those of the [[feeds.source]] "
        "with this URL)",
    )
    p.add_argument(
        "--text",
        metavar="TEMPLATE",
        help="the post's text, e.g. '{title} {link}' (fields: title, link, summary, author, "
        "published, feed; default '{title}\\n{link}')",
    )
    p.add_argument("--at", metavar="TIME", help="a fixed time for the posts (default: slots)")
    p.add_argument(
        "--max",
        type=int,
        metavar="N",
        help="import at most the N newest new items; older new ones are remembered, not "
        "imported (default 10)",
    )
    p.set_defaults(handler=main)


async def main(args: argparse.Namespace) -> int:
    from publisher.commands.common import load, print_diagnostics
    from publisher.config import SecretPolicy
    from publisher.diagnostics import InvalidFileError
    from publisher.engine.feeds import apply_import, fetch, plan_import
    from publisher.feeds import DEFAULT_TEMPLATE, FeedError, check_template

    config = load(args.config, SecretPolicy.WARN)
    known = next((s for s in config.feeds.source if s.url == args.url), None)
    accounts = args.account or (known.accounts if known else None)
    if not accounts:
        raise UserError("say which accounts the posts go to: --account A (repeatable)")
    check_accounts(accounts, config.accounts)
    template = args.text if args.text is not None else known.text if known else DEFAULT_TEMPLATE
    limit = args.max if args.max is not None else known.max if known else 10
    if limit < 0:
        raise UserError("--max must be 0 or more")
    if not args.into and glob.has_magic(str(config.queue_path)):
        raise UserError(
            f"the queue is a pattern of files ({config.queue_path}): say which file the posts "
            "go to with --into FILE (one of them, or a file the team reviews first)"
        )
    target = Path(args.into) if args.into else config.queue_path
    try:
        check_template(template)
        data = await fetch(args.url)
        result = plan_import(data, args.url, target, template, tuple(accounts), args.at, limit)
    except FeedError as err:
        raise UserError(str(err)) from None
    try:
        apply_import(config, target, result)
    except InvalidFileError as err:
        print_diagnostics(err)
        print(
            f"publisher: the feed's posts would make {target} invalid; nothing was written",
            file=sys.stderr,
        )
        return EXIT_USER
    except OSError as err:
        raise UserError(f"cannot write {target}: {err.strerror or err}") from None
    print(result.summary)
    return EXIT_OK
