"""The post-by-post parse and its cache give exactly what the whole-file parse gives.

``parse_queue`` parses a file item by item when it can (see ``_parse_chunked``) and falls
back to the whole-file parse, the reference, for anything else and for every error. These
tests hold the two paths to the same posts (lines and columns included) and the same
warnings, on the bundled example, on the benchmark's generated queue, on files chosen to
trip the splitting, on generated files and on random mutations; and they check that the
cache of a re-parse reuses what it may and nothing it may not.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.run import realistic_queue
from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError
from publisher.queuefile import ParseCache, QueueFile, _Fallback, parse_queue
from publisher.secrets import SecretSource
from tests.broken_cases import MEDIA, QUEUE_CASES, dedent, materialize
from tests.paths import ROOT
from tests.test_queuefile import CONFIG, REALISTIC, YAML_BITS, config_in, queue_files

Outcome = QueueFile | list[str]  # the parsed file, or the diagnostics it was refused with


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config]:
    root = tmp_path_factory.mktemp("chunked")
    (root / "publisher.toml").write_text(CONFIG)
    for rel, data in MEDIA.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, config_in(root)


def outcome(text: str, path: Path, config: Config, **kw: object) -> Outcome:
    try:
        return parse_queue(text, path, config, **kw)  # type: ignore[arg-type]
    except InvalidFileError as err:
        return [f"{d.severity}: {d}" for d in err.diagnostics]


def whole(text: str, path: Path, config: Config) -> Outcome:
    return outcome(text, path, config, chunked=False)


def assert_same(a: Outcome, b: Outcome) -> None:
    """Equal posts (PostSpec equality covers line and column) and equal warnings."""
    if isinstance(a, QueueFile) and isinstance(b, QueueFile):
        assert a.posts == b.posts
        assert [(p.line, p.column) for p in a.posts] == [(p.line, p.column) for p in b.posts]
        assert [str(w) for w in a.warnings] == [str(w) for w in b.warnings]
        assert a == b
    else:
        assert a == b


def chunked_equals_whole(text: str, path: Path, config: Config) -> QueueFile:
    """The file takes the post-by-post path, and it gives what the whole-file parse gives."""
    reference = whole(text, path, config)
    assert isinstance(reference, QueueFile), reference
    got = parse_queue(text, path, config, chunked=True)
    assert_same(got, reference)
    assert_same(outcome(text, path, config), reference)  # the default path too
    return got


def falls_back(text: str, path: Path, config: Config) -> Outcome:
    """The post-by-post parse refuses the file; the default path is the whole-file parse."""
    with pytest.raises(_Fallback):
        parse_queue(text, path, config, chunked=True)
    reference = whole(text, path, config)
    cache = ParseCache()
    assert_same(outcome(text, path, config, cache=cache), reference)
    return reference


# --- real files


def test_the_bundled_example(tmp_path: Path) -> None:
    config = load_config(ROOT / "examples" / "publisher.toml", secrets=SecretPolicy.WARN)
    text = config.queue_path.read_text(encoding="utf-8")
    q = chunked_equals_whole(text, config.queue_path, config)
    assert len(q.posts) >= 10


def bench_project(root: Path, n: int) -> tuple[str, Config]:
    """The benchmark's generated queue and its config, media included."""
    (root / "media").mkdir(parents=True, exist_ok=True)
    for name in ("pixel.png", "pixel.jpg", "pixel.webp"):
        shutil.copy(ROOT / "tests" / "fixtures" / name, root / "media" / name)
    accounts = {
        "brand-fr": ["mon-fri 09:00", "mon-fri 17:30"],
        "brand-en": ["mon-fri 10:00"],
        "brand-de": [],
        "shop-news": [],
        "jobs": [],
        "team-log": ["daily 08:30"],
    }
    lines = ['queue = "queue.yaml"', 'timezone = "Europe/Paris"', ""]
    for name, slots in accounts.items():
        lines += [f"[accounts.{name}]", 'network = "log"']
        if slots:
            lines.append("slots = [" + ", ".join(f'"{s}"' for s in slots) + "]")
    (root / "publisher.toml").write_text("\n".join(lines) + "\n")
    text = realistic_queue(
        n,
        list(accounts),
        datetime(2026, 12, 3, 6, tzinfo=UTC),
        Random(2),
        media=[f"media/{m}" for m in ("pixel.png", "pixel.jpg", "pixel.webp")],
        slot_accounts=["brand-fr", "brand-en", "team-log"],
    )
    return text, config_in(root)


def test_the_benchmark_queue(tmp_path: Path) -> None:
    text, config = bench_project(tmp_path, 600)
    q = chunked_equals_whole(text, tmp_path / "queue.yaml", config)
    assert len(q.posts) == 600
    assert q.warnings  # hashtags in plain text: the warnings are compared, not just absent


def test_the_realistic_test_file(shared: tuple[Path, Config]) -> None:
    root, config = shared
    chunked_equals_whole(REALISTIC, root / "queue.yaml", config)


# --- files chosen to trip the splitting

TIMED = "at: 2026-12-01 09:00"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                text: Un
            # a comment at column 0 between items
              # and one indented less than the keys

                # one more, deeper
              - id: b
                {TIMED}
                text: Deux
            # trailing comment
            """,
            id="comments-between-items",
        ),
        pytest.param(
            f"""
            posts:
            - id: a
              {TIMED}
              text: Un
            - id: b
              {TIMED}
              text: Deux
            """,
            id="items-at-indent-0",
        ),
        pytest.param(
            f"""
            posts:
                -   id: a
                    {TIMED}
                    text: Un
                -
                    id: b
                    {TIMED}
                    text: Deux
            """,
            id="items-at-indent-4-and-an-item-on-its-own-line",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                text: |
                  Un
                    - id: b
                  - not an item: more indented than the items
                  posts:

                  fin
              - id: c
                {TIMED}
                text: |+
                  keep the blank lines


              - id: d
                {TIMED}
                text: >-
                  folded
                  text
            """,
            id="block-scalars-with-item-like-lines",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                text: "a quoted text
                  on two lines, # not a comment
                  and three"
              - id: b
                {TIMED}
                text: 'single
                  quoted'
                accounts: [brand-a,
                  brand-b]
            """,
            id="multi-line-quoted-and-flow",
        ),
        pytest.param(
            f"""
            defaults:
              accounts: [brand-a]
            posts:
              - id: a
                {TIMED}
                text: &words Des mots
                overrides:
                  log: &same
                    text: *words
              - id: b
                {TIMED}
                text: &other Autre chose
                parts: [*other]
            """,
            id="anchors-and-aliases-inside-one-post",
        ),
        pytest.param(
            f"""
            # yaml-language-server: $schema=../publisher/schema/queue.schema.json
            ---
            defaults:   # a comment
              accounts: brand-a
              options: {{visibility: public}}

            posts:   # the posts

              # the first one
              - id: a
                {TIMED}
                text: Un
            """,
            id="posts-with-a-comment-and-a-document-start",
        ),
        pytest.param(
            """
            defaults:
              accounts: [brand-a, brand-b, brand-a]   # listed twice: a warning
              language: fr
            posts:
              - id: dst-gap
                at: 2026-03-29 02:30
                text: Soldes ! #soldes
              - id: dst-overlap
                at: 2026-10-25 02:30
                accounts: [brand-b, brand-b]
                text: Rien
                media:
                  - file: media/pic.jpg
                    alt: Vitrine #hiver
                overrides:
                  mastodon:
                    text: not for this post
                  brand-c:
                    text: neither
              - id: slotted
                accounts: [brand-a, brand-c]
                text: "Soldes ! #soldes"
                link:
                  url: https://example.com
                  title: Titre #tag
                  thumb: media/pic.png
            """,
            id="warnings-of-every-kind",
        ),
    ],
)
def test_tricky_files_take_the_fast_path_and_agree(text: str, shared: tuple[Path, Config]) -> None:
    root, config = shared
    text = dedent(text)
    if "defaults:" not in text:
        text = "defaults:\n  accounts: [brand-a]\n" + text
    chunked_equals_whole(text, root / "queue.yaml", config)


def test_crlf_line_endings(shared: tuple[Path, Config]) -> None:
    root, config = shared
    text = REALISTIC.replace("\n", "\r\n")
    q = chunked_equals_whole(text, root / "queue.yaml", config)
    assert len(q.posts) == 3


def test_byte_order_mark(shared: tuple[Path, Config]) -> None:
    root, config = shared
    chunked_equals_whole("\ufeff" + REALISTIC, root / "queue.yaml", config)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            f"""
            defaults:
              options: &opts {{visibility: unlisted}}
            posts:
              - id: a
                {TIMED}
                accounts: brand-m
                text: Un
                options: *opts
            """,
            id="alias-to-a-header-anchor",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                accounts: brand-a
                text: &t Un
              - id: b
                {TIMED}
                accounts: brand-a
                text: *t
            """,
            id="alias-to-another-post",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                accounts: brand-a
                text: &t Un
              - id: b
                {TIMED}
                accounts: brand-a
                text: &t Deux
            """,
            id="one-anchor-name-in-two-posts",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                accounts: brand-a
                text: Un
            ...
            """,
            id="document-end-after-the-posts",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                accounts: brand-a
                text: Un
            defaults:
              language: fr
            """,
            id="a-trailer-key",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                accounts: brand-a
                text: Un
              - id: a
                {TIMED}
                accounts: brand-a
                text: Deux
            """,
            id="duplicate-ids",
        ),
        pytest.param(
            """
            posts: [{id: a, at: 2026-12-01 09:00, accounts: brand-a, text: Un}]
            """,
            id="flow-style-posts",
        ),
        pytest.param(
            f"""
            posts: !!seq
              - id: a
                {TIMED}
                accounts: brand-a
                text: Un
            """,
            id="a-tag-on-posts",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                accounts: brand-a
                text: "quoted across
              - id: b"
            """,
            id="an-item-line-inside-a-quoted-scalar",
        ),
        pytest.param(
            f"""
            posts:
              - id: a
                {TIMED}
                acounts: brand-a
                text: Un
            """,
            id="an-error",
        ),
        pytest.param("posts:\n  - id: a\n    at: 2026-12-01 09:00\n    text: Un", id="no-newline"),
        pytest.param("posts:\r  - id: a\r    at: 2026-12-01 09:00\r    text: Un\r", id="cr-only"),
    ],
)
def test_files_the_fast_path_leaves_to_the_whole_file_parse(
    text: str, shared: tuple[Path, Config]
) -> None:
    root, config = shared
    falls_back(dedent(text), root / "queue.yaml", config)


def test_every_broken_case_reports_exactly_as_before(tmp_path: Path) -> None:
    """The broken-file table, through the default path: same diagnostics as whole-file."""
    assert len(QUEUE_CASES) > 20
    for case in QUEUE_CASES:
        paths = materialize(case, tmp_path / case.name)
        source = SecretSource(dict(case.environ), paths.credentials)
        config = load_config(paths.config, secrets=SecretPolicy.REQUIRE, source=source)
        data = paths.queue.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        got = outcome(text, paths.queue, config, cache=ParseCache())
        assert got == whole(text, paths.queue, config), case.name


# --- generated files and mutations


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=queue_files(), crlf=st.booleans(), indent=st.sampled_from([0, 2, 4]))
def test_generated_files_agree(
    text: str, crlf: bool, indent: int, shared: tuple[Path, Config]
) -> None:
    root, config = shared
    head, body = text.split("posts:\n", 1)
    # The generator writes items at indent 2: move them (everything after `posts:`).
    body = "\n".join(" " * indent + line[2:] if line else line for line in body.split("\n"))
    text = head + "posts:\n" + body
    if crlf:
        text = text.replace("\n", "\r\n")
    reference = whole(text, root / "queue.yaml", config)
    assert isinstance(reference, QueueFile)
    assert_same(parse_queue(text, root / "queue.yaml", config, chunked=True), reference)


@settings(max_examples=400, deadline=None)
@given(
    start=st.integers(0, len(REALISTIC)),
    length=st.integers(0, 40),
    insert=st.lists(YAML_BITS | st.text(max_size=3), max_size=5).map("".join),
)
def test_mutations_agree(start: int, length: int, insert: str, shared: tuple[Path, Config]) -> None:
    """Whatever the text, valid or not: the default path gives what the whole-file gives."""
    root, config = shared
    text = REALISTIC[:start] + insert + REALISTIC[start + length :]
    path = root / "queue.yaml"
    assert_same(outcome(text, path, config), whole(text, path, config))


# --- the cache


def edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_a_re_parse_reuses_the_unchanged_posts(tmp_path: Path) -> None:
    text, config = bench_project(tmp_path, 300)
    path = tmp_path / "queue.yaml"
    cache = ParseCache()
    first = parse_queue(text, path, config, cache=cache)
    assert (cache.mode, cache.reused, cache.parsed) == ("chunked", 0, 300)
    assert_same(first, whole(text, path, config))

    # One post's text: one post parsed again.
    at = text.index("  - id: post-00150\n")
    quote = text.index('    text: "', at) + len('    text: "')
    edited = text[:quote] + "Édité : " + text[quote:]
    again = parse_queue(edited, path, config, cache=cache)
    assert (cache.reused, cache.parsed) == (299, 1)
    assert_same(again, whole(edited, path, config))
    assert again.posts[151] is first.posts[151]  # the same spec: its content hashes memoized

    # A post inserted at the top: every other line moves, nothing else is parsed again.
    top = edit(
        edited, "posts:\n", "posts:\n  - id: new\n    at: 2027-01-01 10:00\n    text: Neuf\n\n"
    )
    moved = parse_queue(top, path, config, cache=cache)
    assert (cache.reused, cache.parsed) == (300, 1)
    assert_same(moved, whole(top, path, config))
    assert [p.line for p in moved.posts[1:]] == [p.line + 4 for p in again.posts]
    assert moved.warnings != again.warnings  # the warnings moved with their posts

    # A removed post, and back to the first text.
    assert_same(parse_queue(text, path, config, cache=cache), first)
    assert cache.parsed == 1  # post-00150 as it was


def test_the_header_and_the_config_invalidate_everything(tmp_path: Path) -> None:
    text, config = bench_project(tmp_path, 50)
    path = tmp_path / "queue.yaml"
    cache = ParseCache()
    parse_queue(text, path, config, cache=cache)
    # The defaults apply to every post: a header edit re-parses them all.
    other = edit(text, "  language: fr\n", "  language: en\n")
    assert_same(parse_queue(other, path, config, cache=cache), whole(other, path, config))
    assert cache.parsed == 50
    parse_queue(other, path, config, cache=cache)
    assert cache.parsed == 0
    # Another Config object (a reload): everything again.
    fresh = config_in(tmp_path)
    assert_same(parse_queue(other, path, fresh, cache=cache), whole(other, path, fresh))
    assert cache.parsed == 50


def test_a_changed_or_missing_media_file_is_checked_again(tmp_path: Path) -> None:
    text, config = bench_project(tmp_path, 60)
    path = tmp_path / "queue.yaml"
    cache = ParseCache()
    first = parse_queue(text, path, config, cache=cache)
    with_media = [p for p in first.posts if p.media]
    assert with_media
    # A file rewritten: its size and mtime are part of the content hash.
    ref = with_media[0].media[0].file
    target = ref.path
    target.write_bytes(target.read_bytes() + b"\x00" * 10)
    os.utime(target, ns=(1, 1))
    second = parse_queue(text, path, config, cache=cache)
    assert cache.parsed == sum(1 for p in first.posts if ref in [m.file for m in p.media])
    assert_same(second, whole(text, path, config))
    account = config.accounts[with_media[0].accounts[0]]
    assert second.posts[first.posts.index(with_media[0])].content_hash(account) != with_media[
        0
    ].content_hash(account)
    # A file gone: the same error as a first parse gives, nothing reused silently.
    target.unlink()
    assert outcome(text, path, config, cache=cache) == whole(text, path, config)
    assert isinstance(whole(text, path, config), list)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_edit_sequences_through_one_cache(data: st.DataObject, shared: tuple[Path, Config]) -> None:
    """A cache carried through edits, broken files included, never drifts from a fresh parse."""
    root, config = shared
    path = root / "queue.yaml"
    cache = ParseCache()
    text = data.draw(queue_files())
    for _ in range(data.draw(st.integers(1, 6))):
        assert_same(outcome(text, path, config, cache=cache), whole(text, path, config))
        lines = text.split("\n")
        action = data.draw(st.sampled_from(["swap", "drop", "dup", "mutate", "new"]))
        if action == "new":
            text = data.draw(queue_files())
            continue
        i = data.draw(st.integers(6, max(6, len(lines) - 2)))
        if action == "swap" and i + 1 < len(lines) - 1:
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = lines[i] + data.draw(YAML_BITS)
        text = "\n".join(lines)
