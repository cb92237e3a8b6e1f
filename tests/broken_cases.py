"""Broken files and exactly where their problems must be reported. Data, importable anywhere.

Each case is a directory's worth of files (a ``publisher.toml``, maybe a ``queue.yaml``,
media, credentials) and every ERROR diagnostic it must produce: the exact line and column
and a fragment of the message. ``materialize`` writes a case into a directory; ``run_case``
loads it the way the daemon does and returns the InvalidFileError (or None if it loaded).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Literal

from publisher.config import SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError, Severity
from publisher.limits import MAX_TEXT_CHARS
from publisher.queuefile import load_queue
from publisher.secrets import SecretSource

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


BASE_CONFIG = dedent("""
    timezone = "Europe/Paris"
    queue = "queue.yaml"

    [accounts.brand-a]
    network = "log"
    slots = ["mon-fri 09:00", "mon-fri 17:30"]

    [accounts.brand-b]
    network = "log"
    max_length = 280
    label = "B"

    [accounts.brand-c]
    network = "log"
    slots = ["daily 12:00"]
""")

# BASE_CONFIG and a Mastodon account, for the per-post options Mastodon takes. Nothing is sent.
MASTODON_CONFIG = (
    BASE_CONFIG
    + """
[accounts.brand-m]
network = "mastodon"
instance = "https://mastodon.example"
token = "not-a-real-token"
"""
)

MEDIA: Mapping[str, bytes] = {
    "media/pic.jpg": _fixture("pixel.jpg"),
    "media/pic.png": _fixture("pixel.png"),
    "media/clip.mp4": _fixture("clip.mp4"),
    "media/notes.txt": _fixture("notes.txt"),
    "media/empty.jpg": b"",
}


@dataclass(frozen=True)
class Expected:
    line: int
    column: int
    fragment: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class BrokenCase:
    name: str
    kind: Literal["queue", "config"]
    text: str | bytes  # queue.yaml for "queue" cases, publisher.toml for "config" ones
    expected: tuple[Expected, ...]  # every error it produces (and any warning worth pinning)
    config: str = BASE_CONFIG  # publisher.toml for "queue" cases
    files: Mapping[str, bytes] = field(default_factory=lambda: MEDIA)
    environ: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # name: (text, mode)
    modes: Mapping[str, int] = field(default_factory=dict)  # chmod after writing files
    needs_non_root: bool = False  # permissions mean nothing to root

    @property
    def main_file(self) -> str:
        return "queue.yaml" if self.kind == "queue" else "publisher.toml"


@dataclass(frozen=True)
class CasePaths:
    root: Path
    config: Path
    queue: Path
    credentials: Path | None


def materialize(case: BrokenCase, root: Path) -> CasePaths:
    """Write the case's files under ``root`` and return where they are."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "publisher.toml"
    queue_path = root / "queue.yaml"
    for rel, data in case.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if case.kind == "queue":
        config_path.write_text(case.config, encoding="utf-8")
        main = queue_path
    else:
        main = config_path
    main.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode())
    creds = None
    if case.credentials:
        creds = root / "credentials"
        creds.mkdir(mode=0o700, exist_ok=True)
        for name, (value, mode) in case.credentials.items():
            (creds / name).write_text(value, encoding="utf-8")
            os.chmod(creds / name, mode)
    for rel, mode in case.modes.items():
        os.chmod(root / rel, mode)
    return CasePaths(root, config_path, queue_path, creds)


def run_case(case: BrokenCase, root: Path) -> InvalidFileError | None:
    """Load the case like ``publisher run`` does; the error it raises, or None."""
    paths = materialize(case, root)
    source = SecretSource(dict(case.environ), paths.credentials)
    try:
        config = load_config(paths.config, secrets=SecretPolicy.REQUIRE, source=source)
        if case.kind == "queue":
            load_queue(paths.queue, config)
    except InvalidFileError as err:
        return err
    return None


def E(line: int, column: int, fragment: str) -> Expected:
    return Expected(line, column, fragment)


def W(line: int, column: int, fragment: str) -> Expected:
    return Expected(line, column, fragment, Severity.WARNING)


def Q(name: str, text: str | bytes, *expected: Expected, **kw: object) -> BrokenCase:
    body = dedent(text) if isinstance(text, str) else text
    return BrokenCase(name, "queue", body, expected, **kw)  # type: ignore[arg-type]


def C(name: str, text: str, *expected: Expected, **kw: object) -> BrokenCase:
    return BrokenCase(name, "config", dedent(text), expected, **kw)  # type: ignore[arg-type]


def alias_bomb() -> str:
    """The classic "billion laughs" in a post's options: nine levels of nine aliases, ~1 KB
    of text that stands for 9^9 strings once anything walks it."""
    lines = [
        "posts:",
        "  - id: bomb",
        "    at: 2026-12-01 09:00",
        "    accounts: [brand-a]",
        "    text: hi",
        "    options:",
        "      a: &a [" + ", ".join(['"lol"'] * 9) + "]",
    ]
    for before, name in pairwise("abcdefghi"):
        lines.append(f"      {name}: &{name} [" + ", ".join([f"*{before}"] * 9) + "]")
    return "\n".join(lines) + "\n"


LONG = "x" * (MAX_TEXT_CHARS + 1)  # one character over the limit of every text field


QUEUE_CASES: list[BrokenCase] = [
    # --- YAML itself
    Q(
        "yaml-unclosed-flow-list",
        """
        posts:
          - id: a
            accounts: [brand-a, brand-b
            text: hi
        """,
        E(
            4,
            9,
            "YAML syntax: did not find expected ',' or ']' (while parsing a flow sequence at "
            "line 3, column 15)",
        ),
    ),
    Q(
        "yaml-tab-indentation",
        "posts:\n  - id: a\n\ttext: hi\n",
        E(3, 1, "YAML syntax: a tab; YAML is indented with spaces"),
    ),
    Q(
        "yaml-two-documents",
        """
        posts: []
        ---
        posts: []
        """,
        E(
            2,
            1,
            "YAML syntax: expected a single document in the stream (at line 1, column 1), "
            "but found another document",
        ),
    ),
    Q(
        "yaml-unclosed-quote-and-cut",
        'posts:\n  - id: a\n    text: "Bonjour\n    at: 2026-12-01 09:00',
        E(4, 25, "does not end with a newline"),
        E(4, 25, "YAML syntax"),
    ),
    Q("yaml-bad-utf8", b"posts:\n  - id: a\n    text: caf\xe9 au lait\n", E(3, 14, "not UTF-8")),
    Q(
        "yaml-duplicate-key",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: first
            text: second
        """,
        E(6, 5, "duplicate key 'text' (first at line 5)"),
    ),
    # --- a file cut short, or not a plan at all
    Q(
        "cut-mid-line",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: Hel""".rstrip("\n"),
        E(5, 14, "does not end with a newline"),
    ),
    Q(
        "cut-after-posts-key",
        "defaults:\n  accounts: [brand-a]\nposts:\n",
        E(3, 1, "is empty; write `posts: []`"),
    ),
    Q("empty-file", "", E(1, 1, "the file is empty")),
    Q("only-comments", "# nothing yet\n", E(1, 1, "the file is empty")),
    Q(
        "no-posts-key",
        """
        defaults:
          accounts: [brand-a]
        """,
        E(1, 1, "missing `posts:`"),
    ),
    Q(
        "top-level-list",
        """
        - id: a
          text: hi
        """,
        E(1, 1, "expected a mapping with `posts:`"),
    ),
    Q(
        "misspelt-top-level-key",
        """
        post:
          - id: a
        """,
        E(1, 1, "unknown key 'post'; did you mean 'posts'?"),
        E(1, 1, "missing `posts:`"),
    ),
    Q(
        "defaults-after-posts",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            text: hi
        defaults:
          accounts: [brand-a]
        """,
        E(5, 1, "must come before `posts:`"),
    ),
    # --- keys
    Q(
        "misspelt-accounts",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            acounts: [brand-a]
            text: hi
        """,
        E(4, 5, "unknown key 'acounts'; did you mean 'accounts'?"),
    ),
    Q(
        "misspelt-alt",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            media:
              - file: media/pic.jpg
                alt_text: A red square
        """,
        E(7, 9, "unknown key 'alt_text'; did you mean 'alt'?"),
    ),
    Q(
        "misspelt-override-key",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            overrides:
              brand-a:
                txt: hello
        """,
        E(8, 9, "unknown key 'txt'; did you mean 'text'?"),
    ),
    Q(
        "misspelt-defaults-key",
        """
        defaults:
          acount: [brand-a]
        posts: []
        """,
        E(2, 3, "unknown key 'acount'; did you mean 'accounts'?"),
    ),
    Q(
        "missing-id",
        """
        posts:
          - at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
        """,
        E(2, 5, "missing required key 'id'"),
    ),
    # --- types
    Q(
        "text-is-a-number",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: 2026
        """,
        E(5, 11, "expected text, got the number 2026 (put it in quotes)"),
    ),
    Q(
        "accounts-is-a-mapping",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: {brand-a: yes}
            text: hi
        """,
        E(4, 15, "expected a list, got a mapping"),
    ),
    Q(
        "media-is-text",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            media: media/pic.jpg
        """,
        E(6, 12, "expected a list, got text"),
    ),
    Q(
        "post-is-text",
        """
        posts:
          - just a sentence
        """,
        E(2, 5, "expected a mapping"),
    ),
    Q(
        "thread-unknown-mode",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            thread: sometimes
        """,
        E(6, 13, "'sometimes' is not one of: auto, numbered, off"),
    ),
    Q(
        "options-is-a-list",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            options: [unlisted]
        """,
        E(6, 14, "expected a mapping"),
    ),
    # --- ids and accounts
    Q(
        "duplicate-id",
        """
        posts:
          - id: same
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: one
          - id: same
            at: 2026-12-02 09:00
            accounts: [brand-a]
            text: two
        """,
        E(6, 9, "duplicate id 'same': posts[0] at line 2"),
    ),
    Q(
        "malformed-id",
        """
        posts:
          - id: soldes d'hiver
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
        """,
        E(2, 9, "is not a valid id"),
    ),
    Q(
        "unknown-account",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-x]
            text: hi
        """,
        E(4, 25, "unknown account 'brand-x' (accounts in"),
    ),
    Q(
        "unknown-account-only-no-echo",
        """
        posts:
          - id: a
            accounts: [ghost]
            text: ""
        """,
        E(3, 16, "unknown account 'ghost'"),
    ),
    Q(
        "unknown-account-lists-known",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts:
              - brand-a
              - marketing
            text: hi
        """,
        E(6, 9, "(accounts in publisher.toml: brand-a, brand-b, brand-c)"),
    ),
    Q(
        "unknown-account-in-defaults",
        """
        defaults:
          accounts: [brand-a, brnd-b]
        posts:
          - id: a
            at: 2026-12-01 09:00
            text: hi
        """,
        E(2, 23, "unknown account 'brnd-b'; did you mean 'brand-b'?"),
    ),
    Q(
        "empty-accounts",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: []
            text: hi
        """,
        E(4, 15, "the list of accounts is empty"),
    ),
    Q(
        "no-accounts-anywhere",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            text: hi
        """,
        E(2, 5, "no accounts"),
    ),
    Q(
        "account-without-slots",
        """
        posts:
          - id: a
            accounts: [brand-a, brand-b]
            text: hi
        """,
        E(3, 25, "account 'brand-b' has no slots"),
    ),
    Q(
        "account-without-slots-from-defaults",
        """
        defaults:
          accounts: [brand-b]
        posts:
          - id: a
            text: hi
        """,
        E(4, 5, "account 'brand-b' has no slots"),
    ),
    Q(
        "unknown-override-target",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            overrides:
              mastodn:
                text: salut
        """,
        E(7, 7, "'mastodn' is neither a network nor an account; did you mean 'mastodon'?"),
    ),
    # --- times
    Q(
        "time-month-13",
        """
        posts:
          - id: a
            at: 2026-13-01 09:00
            accounts: [brand-a]
            text: hi
        """,
        E(3, 9, "month must be in 1..12"),
    ),
    Q(
        "time-date-only",
        """
        posts:
          - id: a
            at: 2026-12-01
            accounts: [brand-a]
            text: hi
        """,
        E(3, 9, "has no time of day"),
    ),
    Q(
        "time-words",
        """
        posts:
          - id: a
            at: tomorrow at 9
            accounts: [brand-a]
            text: hi
        """,
        E(3, 9, "is not a date and time"),
    ),
    Q(
        "not-after-before-at",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            not_after: 2026-12-01T07:00:00Z
            accounts: [brand-a]
            text: hi
        """,
        E(4, 16, "not_after (2026-12-01 08:00 (+01:00)) is before at (2026-12-01 09:00 (+01:00))"),
    ),
    Q(
        "dst-gap-is-a-warning-not-enough-alone",
        """
        posts:
          - id: a
            at: 2026-03-29 02:30
            accounts: [brand-a]
            text: ""
        """,
        E(5, 11, "nothing to publish to brand-a"),
        W(3, 9, "does not exist in Europe/Paris"),
    ),
    # --- content
    Q(
        "empty-text-no-media",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
        """,
        E(2, 5, "nothing to publish to brand-a: no text and no media"),
    ),
    Q(
        "empty-after-override",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-b]
            text: Bonjour
            overrides:
              brand-b:
                text: "  "
        """,
        E(8, 15, "nothing to publish to brand-b"),
    ),
    Q(
        "empty-thread-part",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: one
            parts:
              - two
              - ""
        """,
        E(8, 9, "an empty thread part"),
    ),
    Q(
        "bad-language",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            language: français
        """,
        E(6, 15, "is not a language tag"),
    ),
    Q(
        "link-not-http",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            link:
              url: example.com/soldes
              title: Soldes
        """,
        E(7, 12, "is not an http(s) link"),
    ),
    Q(
        "link-thumb-is-video",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            link: {url: "https://example.com", thumb: media/clip.mp4}
        """,
        E(6, 47, "a thumb is an image"),
    ),
    # --- media files
    Q(
        "media-missing-file",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            media:
              - file: media/soldes.jpg
                alt: Vitrine
        """,
        E(6, 15, "no such file: media/soldes.jpg"),
    ),
    Q(
        "media-unknown-type",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            media:
              - {file: media/notes.txt, alt: Notes}
        """,
        E(7, 16, "cannot tell what media/notes.txt is"),
    ),
    Q(
        "media-empty-file",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            media:
              - file: media/empty.jpg
        """,
        E(7, 15, "media/empty.jpg is empty"),
    ),
    Q(
        "media-is-a-folder",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            media:
              - file: media
        """,
        E(7, 15, "media is not a file"),
    ),
    Q(
        "media-under-a-file",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            media:
              - file: media/pic.jpg/inner.jpg
        """,
        E(7, 15, "cannot read media/pic.jpg/inner.jpg: Not a directory"),
    ),
    Q(
        "media-unreadable",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            media:
              - file: media/pic.png
        """,
        E(7, 15, "cannot read media/pic.png: Permission denied"),
        modes={"media/pic.png": 0o000},
        needs_non_root=True,
    ),
    # --- many problems at once: all of them, not the first
    Q(
        "many-problems",
        """
        defaults:
          accounts: [brand-a]
        posts:
          - id: one
            at: 2026-12-01 25:00
            text: hi
          - id: two
            at: 2026-12-01 09:00
            accounts: [brand-a, nobody]
            text: hi
            media:
              - file: media/missing.png
          - id: one
            at: 2026-12-02 09:00
            txet: typo
          - id: three
            at: 2026-12-03 09:00
            text: ok
            thread: maybe
        """,
        E(5, 9, "is not a valid date and time"),
        E(9, 25, "unknown account 'nobody'"),
        E(12, 15, "no such file: media/missing.png"),
        E(13, 9, "duplicate id 'one': posts[0] at line 4"),
        E(15, 5, "unknown key 'txet'; did you mean 'text'?"),
        E(19, 13, "is not one of: auto, numbered, off"),
    ),
    # --- issue 19: bounded input, times in range, every option used or reported, exact places
    Q(
        "item3-alias-bomb-in-options",
        alias_bomb(),
        E(14, 14, "too much repeated through aliases"),
    ),
    Q(
        "item3-alias-inside-its-own-anchor",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            options: &loop {again: *loop}
        """,
        E(6, 28, "an alias inside its own anchor"),
    ),
    Q(
        "item4-at-year-9999-west-of-utc",
        """
        posts:
          - id: a
            at: 9999-12-31T23:59-05:00
            accounts: [brand-a]
            text: hi
        """,
        E(3, 9, "the year must be between 1970 and 9000"),
    ),
    Q(
        "item4-at-year-1-east-of-utc",
        """
        posts:
          - id: a
            at: 0001-01-01T00:00+05:00
            accounts: [brand-a]
            text: hi
        """,
        E(3, 9, "the year must be between 1970 and 9000"),
    ),
    Q(
        "item4-local-times-at-the-ends-of-the-calendar",
        """
        posts:
          - id: a
            at: 0001-01-01 00:00
            not_after: 9999-12-31 23:59
            accounts: [brand-a]
            text: hi
        """,
        E(3, 9, "the year must be between 1970 and 9000"),
        E(4, 16, "the year must be between 1970 and 9000"),
    ),
    Q(
        "item6-unknown-option-for-the-posts-network",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-m]
            text: hi
            options:
              visiblity: unlisted
        """,
        E(7, 7, "unknown option 'visiblity' for mastodon; did you mean 'visibility'?"),
        config=MASTODON_CONFIG,
    ),
    Q(
        "item6-option-no-network-of-the-post-takes",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-b]
            text: hi
            options: {visibility: unlisted}
        """,
        E(6, 15, "unknown option 'visibility': log takes no options"),
        config=MASTODON_CONFIG,
    ),
    Q(
        "item6-option-values-mastodon-refuses",
        """
        defaults:
          options: {visibility: friends}
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-m]
            text: hi
            options:
              sensitive: "yes"
              spoiler_text: [a, list]
        """,
        E(2, 25, "'friends' is not one of: public, unlisted, private, direct (mastodon visib"),
        E(9, 18, "expected true or false, got text (mastodon sensitive)"),
        E(10, 21, "expected text, got a list (mastodon spoiler_text)"),
        config=MASTODON_CONFIG,
    ),
    Q(
        "item6-options-in-overrides-are-for-that-network",
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-m]
            text: hi
            overrides:
              log:
                options: {visibility: unlisted}
              brand-m:
                options: {spoiler: Soldes}
        """,
        E(8, 19, "unknown option 'visibility': log takes no options"),
        E(10, 19, "unknown option 'spoiler' for mastodon; did you mean 'spoiler_text'?"),
        config=MASTODON_CONFIG,
    ),
    Q(
        "item6-unknown-option-in-defaults",
        """
        defaults:
          options:
            poll: {options: [yes, no]}
        posts: []
        """,
        E(3, 5, "unknown option 'poll' for log, mastodon (options: sensitive, spoiler_text"),
        config=MASTODON_CONFIG,
    ),
    Q(
        "item10-yaml11-line-breaks-in-texts-keep-later-lines",
        "posts:\n"
        "  - id: a\n"
        "    at: 2026-12-01 09:00\n"
        "    accounts: [brand-a]\n"
        '    text: "one\u2028two\u2029three\x85four"\n'
        "    parts:\n"
        "      - plain\u2028still the same line\n"
        "      - |\n"
        "        block\u2029same line\n"
        "  - id: b\n"
        "    at: 2026-12-01 10:00\n"
        "    accounts: [brand-a]\n"
        "    txet: hi\n",
        E(13, 5, "unknown key 'txet'; did you mean 'text'?"),
    ),
    Q(
        "item10-nul-byte-at-its-place",
        "posts:\n  - id: a\n    at: 2026-12-01 09:00\n    accounts: [brand-a]\n    text: hi\x00\n",
        E(5, 13, "a NUL character is not allowed in YAML"),
    ),
    Q(
        "item10-control-character-after-a-line-separator",
        "posts:\n  - id: a\n    at: 2026-12-01 09:00\n    accounts: [brand-a]\n"
        '    text: "\u2028"\n    language: fr\x07\n',
        E(6, 17, "the control character U+0007 is not allowed in YAML"),
    ),
    Q(
        "limits-id-of-4000-characters",
        "posts:\n  - id: " + "a" * 4000 + "\n    at: 2026-12-01 09:00\n    accounts: [brand-a]\n"
        "    text: hi\n",
        E(2, 9, "(4,000 characters) is too long for an id: at most 128 characters"),
    ),
    Q(
        "limits-id-of-4000-hex-digits",
        "posts:\n  - id: 0x" + "f" * 4000 + "\n    at: 2026-12-01 09:00\n    accounts: [brand-a]\n"
        "    text: hi\n",
        E(2, 9, "a number of 4,002 characters"),
    ),
    Q(
        "limits-id-of-5000-decimal-digits",
        "posts:\n  - id: " + "1" * 5000 + "\n    at: 2026-12-01 09:00\n    accounts: [brand-a]\n"
        "    text: hi\n",
        E(2, 9, "a number of 5,000 characters"),
    ),
    Q(
        "limits-every-text-field",
        f"""
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-m]
            text: {LONG}
            parts: [ok, {LONG}]
            media:
              - file: media/pic.jpg
                alt: {LONG}
            link:
              url: https://example.com
              title: {LONG}
              description: {LONG}
            options:
              spoiler_text: {LONG}
            overrides:
              log:
                text: {LONG}
        """,
        E(5, 11, "65,537 characters, more than the limit of 65,536"),
        E(6, 17, "65,537 characters, more than the limit of 65,536"),
        E(9, 14, "65,537 characters, more than the limit of 65,536"),
        E(12, 14, "65,537 characters, more than the limit of 65,536"),
        E(13, 20, "65,537 characters, more than the limit of 65,536"),
        E(15, 21, "65,537 characters, more than the limit of 65,536 (mastodon spoiler_text)"),
        E(18, 15, "65,537 characters, more than the limit of 65,536"),
        config=MASTODON_CONFIG,
    ),
    Q(
        "limits-a-time-of-a-thousand-spaces",
        "posts:\n  - id: a\n    at: '2026-12-01" + " " * 1000 + "x'\n"
        "    accounts: [brand-a]\n    text: hi\n",
        E(3, 9, "1,011 characters, more than the limit of 64"),
    ),
]

CONFIG_CASES: list[BrokenCase] = [
    C(
        "toml-syntax",
        """
        timezone = "Europe/Paris"
        [accounts.brand-a]
        network = "log
        """,
        E(3, 15, "TOML syntax"),
    ),
    C(
        "toml-unknown-key",
        """
        timezon = "Europe/Paris"
        [accounts.brand-a]
        network = "log"
        """,
        E(1, 1, "unknown key"),
    ),
    C(
        "toml-wrong-type",
        """
        [accounts.brand-a]
        network = "log"
        max_per_day = "ten"
        """,
        E(3, 1, "valid integer"),
    ),
    C(
        "toml-unknown-network",
        """
        [accounts.brand-a]
        network = "myspace"
        """,
        E(2, 1, "unknown network 'myspace'"),
    ),
    C(
        "toml-bad-duration",
        """
        [accounts.brand-a]
        network = "log"
        min_interval = "30 minutes"
        """,
        E(3, 1, "is not a duration"),
    ),
    C(
        "toml-bad-slot",
        """
        [accounts.brand-a]
        network = "log"
        slots = ["mon-fri 09:00", "mon-fri 25:00"]
        """,
        E(3, 1, "is not a time of day"),
    ),
    C(
        "toml-unknown-zone",
        """
        timezone = "Europe/Pariss"
        [accounts.brand-a]
        network = "log"
        """,
        E(1, 1, "unknown time zone 'Europe/Pariss'"),
    ),
    C(
        "toml-missing-secret",
        """
        [accounts.brand-a]
        network = "log"
        label = "${LOG_LABEL}"
        """,
        E(3, 1, "secret ${LOG_LABEL} is not set"),
    ),
    C(
        "toml-secret-file-readable-by-others",
        """
        [accounts.brand-a]
        network = "log"
        label = "${LOG_LABEL}"
        """,
        E(3, 1, "readable by group or others (mode 644)"),
        credentials={"LOG_LABEL": ("Brand A", 0o644)},
    ),
    C(
        "toml-unknown-adapter-setting",
        """
        [accounts.brand-a]
        network = "log"
        max_lenght = 100
        """,
        E(3, 1, "unknown key"),
    ),
    C(
        "toml-bad-account-name",
        """
        [accounts.Brand-A]
        network = "log"
        """,
        E(1, 1, "account names use lowercase letters"),
    ),
    C(
        "toml-no-accounts",
        """
        timezone = "Europe/Paris"
        """,
        E(1, 1, "no accounts"),
    ),
]

CASES: list[BrokenCase] = QUEUE_CASES + CONFIG_CASES
