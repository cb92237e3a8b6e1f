"""Issue 19, the queue file's side: whatever an editor writes costs bounded time and memory,
times stay in a range the program can compute with, every option key is used or reported,
and every problem is at its real line and column.

Most broken files are rows of ``tests/broken_cases.py`` (named ``item3-…``, ``item4-…``,
``item6-…``, ``item10-…``, ``limits-…``), which ``test_broken_files.py`` loads, validates and
syncs. Here: what a table row cannot say (what is accepted, the values kept, the command's
own output, the file size).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError
from publisher.limits import MAX_QUEUE_FILE_BYTES, MAX_TEXT_CHARS, MAX_YEAR, MIN_YEAR
from publisher.queuefile import ParseCache, QueueFile, parse_queue
from publisher.schedule import plan_deliveries
from publisher.secrets import SecretSource
from publisher.store import Store
from publisher.sync import sync_queue
from publisher.times import TimeFormatError, parse_time
from tests.broken_cases import MASTODON_CONFIG, MEDIA, alias_bomb, dedent
from tests.paths import ROOT

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "publisher.toml").write_text(MASTODON_CONFIG, encoding="utf-8")
    for rel, data in MEDIA.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return load_config(
        tmp_path / "publisher.toml", secrets=SecretPolicy.REQUIRE, source=SecretSource({}, None)
    )


def parse(config: Config, text: str, **kw: object) -> QueueFile:
    return parse_queue(text, config.path.parent / "queue.yaml", config, **kw)  # type: ignore[arg-type]


def validate(config_path: Path) -> subprocess.CompletedProcess[str]:
    """``publisher validate`` in its own process, its memory capped: an unbounded input
    must show as an error here, not take the test machine down."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", "validate", "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=300,  # a guard against a hang, far above the second it takes
        preexec_fn=cap,
        cwd=ROOT,
        check=False,
    )


# --- item 3: aliases


def test_item3_small_anchors_aliases_and_merge_keys_still_work(config: Config) -> None:
    q = parse(
        config,
        dedent("""
            defaults:
              accounts: [brand-m]
            posts:
              - &base
                id: a
                at: 2026-12-01 09:00
                text: &words Les soldes commencent
                options: &quiet {visibility: unlisted, sensitive: true}
              - <<: *base
                id: b
                at: 2026-12-02 09:00
                parts: [*words]
                options:
                  <<: *quiet
                  spoiler_text: Soldes
        """),
    )
    a, b = q.posts
    assert a.text == b.text == b.extra_parts[0] == "Les soldes commencent"
    assert dict(a.options) == {"visibility": "unlisted", "sensitive": True}
    assert dict(b.options) == {
        "visibility": "unlisted",
        "sensitive": True,
        "spoiler_text": "Soldes",
    }
    assert (b.line, b.column) == (9, 5)


def test_item3_alias_bomb_validate_exits_1_with_the_alias_located(tmp_path: Path) -> None:
    (tmp_path / "publisher.toml").write_text(MASTODON_CONFIG, encoding="utf-8")
    (tmp_path / "queue.yaml").write_text(alias_bomb(), encoding="utf-8")
    r = validate(tmp_path / "publisher.toml")
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr
    assert r.stderr.splitlines()[0].startswith(
        f"{tmp_path / 'queue.yaml'}:14:14: too much repeated through aliases"
    )


def test_item3_an_alias_bomb_under_the_limit_is_a_post_and_nothing_more(config: Config) -> None:
    """Aliases that repeat a little are fine, and the post's content hash costs what they
    repeat, not what the text is."""
    text = alias_bomb().replace("accounts: [brand-a]", "accounts: [brand-m]")
    # Four levels instead of nine: 9^4 strings, far under the limit; refused as options (the
    # values are lists), quickly, at their keys.
    short = "\n".join(line for line in text.splitlines() if line[6:7] not in tuple("efghi"))
    with pytest.raises(InvalidFileError) as err:
        parse(config, short + "\n")
    assert [(d.line, d.column) for d in err.value.errors] == [(7, 7), (8, 7), (9, 7), (10, 7)]
    assert all("unknown option" in d.message for d in err.value.errors)


# --- item 4: times in range


@pytest.mark.parametrize(
    "text",
    [
        f"{MAX_YEAR}-12-31T23:59-12:00",  # the latest instant one can write
        f"{MIN_YEAR}-01-01T00:00+14:00",  # the earliest
        f"{MAX_YEAR}-12-31 23:59",
        f"{MIN_YEAR}-01-01 00:00",
    ],
)
def test_item4_the_ends_of_the_range_are_accepted(text: str) -> None:
    at = parse_time(text, PARIS).at
    assert at.tzinfo is UTC
    assert MIN_YEAR - 1 <= at.year <= MAX_YEAR + 1


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59-05:00",
        "0001-01-01T00:00+05:00",
        "9999-12-31 23:59",
        "0001-01-01 00:00",
        f"{MAX_YEAR + 1}-01-01 00:00",
        f"{MIN_YEAR - 1}-12-31T23:59Z",
        datetime(9999, 12, 31, 23, 59),  # a YAML timestamp is naive
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_item4_times_outside_the_range_are_refused_with_a_message(value: object) -> None:
    with pytest.raises(TimeFormatError, match=f"between {MIN_YEAR} and {MAX_YEAR}"):
        parse_time(value, ZoneInfo("America/New_York"))


async def test_item4_the_ends_of_the_range_sync_and_plan(config: Config, tmp_path: Path) -> None:
    """The extreme instants one may write go through sync and planning without overflow."""
    (tmp_path / "queue.yaml").write_text(
        dedent(f"""
            posts:
              - id: first
                at: {MIN_YEAR}-01-01T00:00+14:00
                not_after: {MIN_YEAR}-01-01 00:00
                accounts: [brand-a, brand-m]
                text: hi
              - id: last
                at: {MAX_YEAR}-12-31T23:59-12:00
                not_after: {MAX_YEAR}-12-31T23:59-12:00
                accounts: [brand-a]
                text: hi
              - id: slotted
                accounts: [brand-c]
                text: hi
        """),
        encoding="utf-8",
    )
    store = await Store.open(f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        report = await sync_queue(config, store, now)
        assert report.applied and not report.errors and report.added == 4
        stored = {d.post_id: d for d in await store.all_deliveries()}
        assert stored["first"].due_at.year == MIN_YEAR - 1  # 1970-01-01 at +14:00 is 1969 UTC
        assert stored["last"].due_at.year == MAX_YEAR + 1
    finally:
        await store.close()


# --- item 6: Mastodon's visibility, and every option key used or reported


def test_item6_example_mastodon_community_goes_out_unlisted() -> None:
    from tests.test_example_snapshots import rendered_example

    [community] = [r for r in rendered_example() if r["post"] == "mastodon-community"]
    assert [p["payload"]["visibility"] for p in community["parts"]] == ["unlisted"]
    others = [r for r in rendered_example() if r["network"] == "mastodon"]
    assert {p["payload"]["visibility"] for r in others for p in r["parts"]} == {
        "public",
        "unlisted",
    }


def test_item6_options_some_networks_take_are_for_them(config: Config) -> None:
    """A post to log and Mastodon: Mastodon's options are fine (log ignores them); null
    removes an inherited value."""
    q = parse(
        config,
        dedent("""
            defaults:
              options: {visibility: private, sensitive: true}
            posts:
              - id: a
                at: 2026-12-01 09:00
                accounts: [brand-a, brand-m]
                text: hi
                options: {spoiler_text: Soldes, sensitive: null}
        """),
    )
    post = q.posts[0]
    content = post.content_for(config.accounts["brand-m"])
    assert dict(content.options) == {"visibility": "private", "spoiler_text": "Soldes"}


# --- item 10: exact places


def test_item10_yaml11_line_breaks_are_ordinary_characters(config: Config) -> None:
    """U+2028, U+2029 and U+0085 are kept as written, in every scalar style, and count as no
    line: the next post is at its line, on both parses."""
    text = (
        "defaults:\n  accounts: [brand-a]\n"
        "posts:\n"
        "  - id: a\n"
        "    at: 2026-12-01 09:00\n"
        '    text: "one\u2028two\u2029three\x85four"\n'
        "    parts:\n"
        "      - plain\u2028part\n"
        "      - |\n"
        "        block\u2029part\n"
        "        second\x85line\n"
        "  - id: b\n"
        "    at: 2026-12-02 09:00\n"
        "    text: Soldes ! #soldes\n"
    )
    for chunked in (True, False):
        q = parse(config, text, chunked=chunked)
        a, b = q.posts
        assert a.text == "one\u2028two\u2029three\x85four"
        assert a.extra_parts == ("plain\u2028part", "block\u2029part\nsecond\x85line")
        assert (b.line, b.column) == (12, 5)
        assert [(w.line, w.column) for w in q.warnings] == [(14, 20)]  # the `#soldes` comment


def test_item10_yaml11_line_breaks_keep_the_post_by_post_parse(config: Config) -> None:
    text = (
        "defaults:\n  accounts: [brand-a]\nposts:\n"
        "  - id: a\n    at: 2026-12-01 09:00\n    text: un\u2028deux\n"
        "  - id: b\n    at: 2026-12-02 09:00\n    text: trois\n"
    )
    cache = ParseCache()
    first = parse(config, text, cache=cache)
    assert cache.mode == "chunked"
    edited = parse(config, text.replace("trois", "quatre"), cache=cache)
    assert (cache.reused, cache.parsed) == (1, 1)
    assert edited.posts[0] == first.posts[0]


# --- size limits


def test_size_limits_text_at_the_limit_is_accepted(config: Config) -> None:
    words = ("soldes " * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS]
    q = parse(
        config,
        dedent(f"""
            posts:
              - id: a
                at: 2026-12-01 09:00
                accounts: [brand-m]
                text: "{words}"
                options: {{spoiler_text: "{words}"}}
        """),
    )
    assert len(q.posts[0].text) == MAX_TEXT_CHARS


def test_size_limits_file_over_the_limit_is_one_line_and_not_applied(tmp_path: Path) -> None:
    (tmp_path / "publisher.toml").write_text(MASTODON_CONFIG, encoding="utf-8")
    queue = tmp_path / "queue.yaml"
    with queue.open("wb") as f:
        f.write(b"posts: []\n")
        f.write(b"#" * (MAX_QUEUE_FILE_BYTES - 10) + b"\n")
    r = validate(tmp_path / "publisher.toml")
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith(str(queue))]
    assert errors == [
        f"{queue}:1:1: the file is larger than the limit of {MAX_QUEUE_FILE_BYTES:,} bytes "
        f"({MAX_QUEUE_FILE_BYTES // 2**20} MiB); split it or remove old posts"
    ]


async def test_size_limits_sync_refuses_an_oversized_file(config: Config, tmp_path: Path) -> None:
    (tmp_path / "queue.yaml").write_bytes(b"posts: []\n" + b"#" * MAX_QUEUE_FILE_BYTES + b"\n")
    store = await Store.open(f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        report = await sync_queue(config, store, datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
        assert not report.applied
        assert [(d.line, d.column) for d in report.errors] == [(1, 1)]
        assert "larger than the limit" in report.errors[0].message
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
async def test_a_queue_that_is_not_a_regular_file_is_refused_without_blocking(
    config: Config, tmp_path: Path, kind: str
) -> None:
    """A FIFO in place of queue.yaml would block a plain open() (and with it the daemon's
    whole event loop) until a writer came; it is refused at once, like a directory."""
    queue = tmp_path / "queue.yaml"
    if kind == "fifo":
        os.mkfifo(queue)
    else:
        queue.mkdir()
    store = await Store.open(f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        report = await asyncio.wait_for(
            sync_queue(config, store, datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
            timeout=60,  # a guard against the hang this test is about, not a speed limit
        )
        assert not report.applied
        assert [(d.line, d.column) for d in report.errors] == [(1, 1)]
        assert "cannot read the queue file" in report.errors[0].message
    finally:
        await store.close()
    r = validate(tmp_path / "publisher.toml")
    assert r.returncode == 1
    assert f"{queue}:1:1: cannot read the queue file" in r.stderr


def test_size_limits_a_long_link_is_checked_in_linear_time(config: Config) -> None:
    url = "https://" + "a" * (MAX_TEXT_CHARS - 20) + " x"
    started = time.monotonic()
    with pytest.raises(InvalidFileError) as err:
        parse(
            config,
            dedent(f"""
                posts:
                  - id: a
                    at: 2026-12-01 09:00
                    accounts: [brand-a]
                    text: hi
                    link: {{url: "{url}"}}
            """),
        )
    # A guard against the quadratic pattern (about 40 s on 64 KB), far above the
    # milliseconds the check takes.
    assert time.monotonic() - started < 10
    [problem] = err.value.errors
    assert (problem.line, problem.column, problem.field) == (6, 17, "posts[0].link.url")
    assert "is not an http(s) link" in problem.message and len(problem.message) < 200


def test_size_limits_planning_a_file_of_maximal_texts_is_bounded(config: Config) -> None:
    """Texts at the limit through the content hash, for every account of the post."""
    words = ("laine " * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS]
    q = parse(
        config,
        dedent(f"""
            posts:
              - id: a
                at: 2026-12-01 09:00
                accounts: [brand-a, brand-b, brand-m]
                text: "{words}"
                parts: ["{words}", "{words}"]
        """),
    )
    planned = plan_deliveries(q, config, datetime(2026, 11, 30, tzinfo=UTC), {})
    assert len({p.content_hash for p in planned}) == 3


def test_size_limits_messages_quote_long_values_briefly(config: Config) -> None:
    """A long id, account, key or override name is quoted cut short: one readable line per
    problem, at its place. (YAML itself ends a key at 1,024 characters.)"""
    long, key = "x" * 4000, "k" * 1000
    with pytest.raises(InvalidFileError) as err:
        parse(
            config,
            dedent(f"""
                posts:
                  - id: {long}
                    at: 2026-12-01 09:00
                    accounts: [brand-a, {long}]
                    text: hi
                    {key}: 1
                    overrides:
                      {key}: {{text: hi}}
            """),
        )
    assert [(d.line, d.column) for d in err.value.errors] == [(2, 9), (4, 25), (6, 5), (8, 7)]
    assert all(len(str(d)) < 600 and ",000 characters)" in str(d) for d in err.value.errors)
