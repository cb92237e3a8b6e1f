"""queue.yaml: a realistic file, overrides, content identity, all errors at once, the schema,
and files cut short."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.adapters.base import LinkCard, MediaItem, PostContent, ThreadMode
from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError, Severity
from publisher.media import MediaRef, sniff_media_type
from publisher.queuefile import (
    SCHEMA_PATH,
    MediaSpec,
    PostSpec,
    QueueFile,
    _Loader,
    json_schema,
    load_queue,
    parse_queue,
    schema_text,
)
from publisher.secrets import SecretSource
from tests.broken_cases import BASE_CONFIG, FIXTURES, MEDIA, dedent


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


# The broken cases' accounts and a Mastodon one: the network whose per-post options
# (visibility, spoiler_text, sensitive) the files below write. Nothing is ever sent to it.
CONFIG = (
    BASE_CONFIG
    + """
[accounts.brand-m]
network = "mastodon"
instance = "https://mastodon.example"
token = "not-a-real-token"
slots = ["daily 10:00"]
"""
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "publisher.toml").write_text(CONFIG)
    for rel, data in MEDIA.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def config_in(root: Path) -> Config:
    return load_config(
        root / "publisher.toml", secrets=SecretPolicy.REQUIRE, source=SecretSource({}, None)
    )


@pytest.fixture
def config(project: Path) -> Config:
    return config_in(project)


def parse(project: Path, config: Config, text: str) -> QueueFile:
    return parse_queue(dedent(text), project / "queue.yaml", config)


REALISTIC = dedent("""
    # yaml-language-server: $schema=../publisher/schema/queue.schema.json
    defaults:
      accounts: [brand-a, brand-b]
      language: fr
      options:
        visibility: public
        sensitive: false

    posts:
      - id: winter-sale-launch           # stable identity chosen by the editor
        at: 2026-12-01 09:00             # local time in the configured zone
        accounts: [brand-a, brand-b, brand-c, brand-m]
        text: |
          Les soldes d'hiver commencent ! ❄️ #soldes
          https://example.com/soldes
        media:
          - file: media/pic.jpg
            alt: Vitrine du magasin en hiver
        overrides:
          log:
            text: Soldes d'hiver ❄️ https://example.com/soldes #soldes
          mastodon:
            options: {visibility: unlisted, sensitive: null}
          brand-b:
            media:
              - {file: media/pic.png, alt: Affiche}
            thread: numbered
        thread: auto
        not_after: 2026-12-01 12:00

      - id: tip-of-the-week              # no `at`: each account's next free slot
        accounts: brand-a
        text: Notre conseil de la semaine…
        parts:
          - Deuxième partie du fil.
          - Et la troisième.
        link:
          url: https://example.com/conseils
          title: Conseils
          description: Tous nos conseils
          thumb: media/pic.png
        language: no

      - id: 2026
        at: 2026-12-02T18:30:00Z
        text: "12:30"
        thread: "off"
""")


def test_realistic_file(project: Path, config: Config) -> None:
    q = parse(project, config, REALISTIC)
    # The example's own trap: ` #soldes` after a plain scalar is a YAML comment.
    assert [(d.line, d.column, d.field, d.severity) for d in q.warnings] == [
        (21, 60, "posts[0].overrides.log.text", Severity.WARNING)
    ]  # columns count characters
    assert "'#soldes' is a YAML comment" in q.warnings[0].message
    assert q.path == project / "queue.yaml"
    launch, tip, numeric = q.posts

    assert (launch.id, launch.line, launch.column) == ("winter-sale-launch", 10, 5)
    assert launch.at == utc(2026, 12, 1, 8, 0)
    assert launch.not_after == utc(2026, 12, 1, 11, 0)
    assert launch.accounts == ("brand-a", "brand-b", "brand-c", "brand-m")
    # The final newline `|` adds is not part of the post.
    assert launch.text == "Les soldes d'hiver commencent ! ❄️ #soldes\nhttps://example.com/soldes"
    assert launch.media == (
        MediaSpec(
            MediaRef(project, "media/pic.jpg", "media/pic.jpg"),
            "Vitrine du magasin en hiver",
            "image/jpeg",
            len(MEDIA["media/pic.jpg"]),
        ),
    )
    assert launch.media[0].file.path == project / "media/pic.jpg"
    assert launch.thread is ThreadMode.AUTO
    assert launch.language == "fr"  # from defaults
    assert launch.options == {"visibility": "public", "sensitive": False}
    assert set(launch.overrides) == {"log", "mastodon", "brand-b"}

    assert tip.at is None and tip.not_after is None
    assert tip.accounts == ("brand-a",)
    assert tip.extra_parts == ("Deuxième partie du fil.", "Et la troisième.")
    pic = MediaRef(project, "media/pic.png", "media/pic.png")
    assert tip.link == LinkCard(
        "https://example.com/conseils",
        "Conseils",
        "Tous nos conseils",
        MediaItem(pic, "", "image/png", len(MEDIA["media/pic.png"])),
    )
    assert tip.language == "no"  # Norwegian, not false: YAML 1.2 scalars

    assert numeric.id == "2026"
    assert numeric.accounts == ("brand-a", "brand-b")  # from defaults
    assert numeric.at == utc(2026, 12, 2, 18, 30)
    assert numeric.text == "12:30"  # not 750 (YAML 1.1 sexagesimal)
    assert numeric.thread is ThreadMode.OFF
    assert numeric.options == {"visibility": "public", "sensitive": False}  # from defaults


def test_overrides_precedence(project: Path, config: Config) -> None:
    """account override > network override > base; options merge key by key."""
    q = parse(project, config, REALISTIC)
    launch = q.posts[0]
    a, b, c = (config.accounts[n] for n in ("brand-a", "brand-b", "brand-c"))

    content_a = launch.content_for(a)
    assert content_a == PostContent(
        post_id="winter-sale-launch",
        account="brand-a",
        network="log",
        text="Soldes d'hiver ❄️ https://example.com/soldes",  # network override, sans comment
        media=(
            MediaItem(
                MediaRef(project, "media/pic.jpg", "media/pic.jpg"),
                "Vitrine du magasin en hiver",
                "image/jpeg",
                len(MEDIA["media/pic.jpg"]),
            ),
        ),
        thread=ThreadMode.AUTO,
        extra_parts=(),
        link=None,
        language="fr",
        options={"visibility": "public", "sensitive": False},  # the defaults
    )
    content_b = launch.content_for(b)
    assert content_b.text == content_a.text  # b is on the log network too
    assert content_b.thread is ThreadMode.NUMBERED  # the account's own override
    assert [m.filename for m in content_b.media] == ["pic.png"]
    assert content_b.media[0].alt == "Affiche"
    assert content_b.options == content_a.options
    assert launch.content_for(c) == PostContent(**{**content_a.__dict__, "account": "brand-c"})
    content_m = launch.content_for(config.accounts["brand-m"])
    assert content_m.text == launch.text  # no override for it: the base text
    assert content_m.options == {"visibility": "unlisted"}  # `sensitive: null` removed it


def test_account_override_beats_network_override(project: Path, config: Config) -> None:
    q = parse(
        project,
        config,
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, brand-b, brand-m]
            text: base
            language: fr
            options: {visibility: public, spoiler_text: base}
            overrides:
              brand-b: {text: account}
              log: {text: network, language: en}
              brand-m: {text: account, options: {spoiler_text: account}}
              mastodon: {text: network, options: {visibility: unlisted, spoiler_text: network}}
    """,
    )
    post = q.posts[0]
    a = post.content_for(config.accounts["brand-a"])
    b = post.content_for(config.accounts["brand-b"])
    m = post.content_for(config.accounts["brand-m"])
    base = {"visibility": "public", "spoiler_text": "base"}
    assert (a.text, a.language, dict(a.options)) == ("network", "en", base)
    assert (b.text, b.language, dict(b.options)) == ("account", "en", base)
    assert (m.text, m.language, dict(m.options)) == (
        "account",
        "fr",
        {"visibility": "unlisted", "spoiler_text": "account"},
    )
    assert post.text == "base"  # the base is left alone


def test_yaml_timestamps_and_text_times_mean_the_same(project: Path, config: Config) -> None:
    q = parse(
        project,
        config,
        """
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [brand-a], text: t}
          - {id: b, at: 2026-12-01 09:00:00, accounts: [brand-a], text: t}
          - {id: c, at: 2026-12-01T09:00, accounts: [brand-a], text: t}
          - {id: d, at: "2026-12-01T08:00:00Z", accounts: [brand-a], text: t}
          - {id: e, at: 2026-12-01T09:00:00+01:00, accounts: [brand-a], text: t}
    """,
    )
    assert {p.at for p in q.posts} == {utc(2026, 12, 1, 8, 0)}


def test_loader_uses_yaml_12_scalars() -> None:
    data = yaml.load(
        "a: no\nb: on\nc: 12:30\nd: true\ne: 010\nf: 0x1F\ng: 1.5\nh: ~\ni: 2026-12-01\nj: =\n",
        Loader=_Loader,
    )
    assert data == {
        "a": "no",
        "b": "on",
        "c": "12:30",
        "d": True,
        "e": "010",
        "f": 31,
        "g": 1.5,
        "h": None,
        "i": "2026-12-01",
        "j": "=",
    }


def test_warnings_do_not_block(project: Path, config: Config) -> None:
    q = parse(
        project,
        config,
        """
        posts:
          - id: a
            at: 2026-10-25 02:30
            accounts: [brand-a, brand-a]
            text: hi
            overrides:
              brand-c: {text: unused}
    """,
    )
    assert [(d.line, d.column, d.field) for d in q.warnings] == [
        (3, 9, "posts[0].at"),
        (4, 25, "posts[0].accounts[1]"),
        (7, 7, "posts[0].overrides.brand-c"),
    ]
    assert all(d.severity is Severity.WARNING for d in q.warnings)
    assert q.posts[0].accounts == ("brand-a",)


# --- content identity


def hashes(project: Path, config: Config, text: str) -> dict[str, str]:
    post = parse(project, config, text).posts[0]
    return {n: post.content_hash(config.accounts[n]) for n in post.accounts}


BASE_POST = """
    posts:
      - id: a
        at: 2026-12-01 09:00
        accounts: [brand-a, brand-b, brand-m]
        text: Bonjour
        media:
          - {file: media/pic.jpg, alt: Vitrine}
        options: {visibility: public}
"""


def test_content_hash_is_stable(project: Path, config: Config) -> None:
    first = hashes(project, config, BASE_POST)
    assert first == hashes(project, config, BASE_POST)
    assert first["brand-a"] != first["brand-b"]  # per account
    assert all(len(h) == 64 for h in first.values())
    # Not content: the time, the position in the file, comments, key order, flow vs block.
    moved = """
        # a comment
        posts:
          - {id: other, at: 2026-12-05 10:00, accounts: [brand-c], text: x}
          - text: Bonjour
            id: a
            options:
              visibility: public
            media:
              - alt: Vitrine
                file: ./media/../media/pic.jpg
            accounts: [brand-a, brand-b, brand-m]
            at: 2026-12-24 18:00
    """
    post = parse(project, config, moved).posts[1]
    assert {n: post.content_hash(config.accounts[n]) for n in post.accounts} == first


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("text: Bonjour", "text: Bonjour !"),
        ("{file: media/pic.jpg, alt: Vitrine}", "{file: media/pic.jpg, alt: Vitrine en hiver}"),
        ("{file: media/pic.jpg, alt: Vitrine}", "{file: media/pic.png, alt: Vitrine}"),
        ("options: {visibility: public}", "options: {visibility: unlisted}"),
        ("options: {visibility: public}", "options: {visibility: public}\n        thread: 'off'"),
        ("options: {visibility: public}", "options: {visibility: public}\n        parts: [suite]"),
        ("options: {visibility: public}", "options: {visibility: public}\n        language: fr"),
        (
            "options: {visibility: public}",
            "options: {visibility: public}\n        link: {url: 'https://example.com'}",
        ),
        (
            "options: {visibility: public}",
            "options: {visibility: public}\n        overrides: {log: {text: Salut}}",
        ),
    ],
)
def test_content_hash_changes_with_content(
    project: Path, config: Config, old: str, new: str
) -> None:
    before = hashes(project, config, BASE_POST)
    assert old in BASE_POST
    after = hashes(project, config, BASE_POST.replace(old, new))
    assert after["brand-a"] != before["brand-a"]


def test_content_hash_sees_a_replaced_media_file(project: Path, config: Config) -> None:
    before = hashes(project, config, BASE_POST)
    pic = project / "media/pic.jpg"
    pic.write_bytes(pic.read_bytes() + b"\x00")  # another size
    grown = hashes(project, config, BASE_POST)
    assert grown != before
    st = pic.stat()
    os.utime(pic, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same size, newer
    assert hashes(project, config, BASE_POST) != grown


# --- errors


def test_every_error_is_reported(project: Path, config: Config) -> None:
    text = """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a, ghost]
            text: hi
          - id: b
            at: 2026-12-01 25:00
            accounts: [brand-a]
            text: hi
          - id: c
            accounts: [brand-b]
            text: hi
          - id: d
            at: 2026-12-01 09:00
            accounts: [brand-a]
            media: [{file: media/none.png}]
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            text: hi
            colour: blue
    """
    with pytest.raises(InvalidFileError) as info:
        parse(project, config, text)
    got = [(d.line, d.column, d.field) for d in info.value.errors]
    assert got == [
        (4, 25, "posts[0].accounts[1]"),
        (7, 9, "posts[1].at"),
        (11, 16, "posts[2].accounts[0]"),
        (16, 20, "posts[3].media[0].file"),
        (17, 9, "posts[4].id"),
        (21, 5, "posts[4].colour"),
    ]


def test_load_queue_reads_bytes_and_refuses_bad_ones(project: Path, config: Config) -> None:
    path = project / "queue.yaml"
    path.write_text(REALISTIC, encoding="utf-8")
    assert load_queue(path, config) == parse(project, config, REALISTIC)
    # The exact bytes a caller hashed can be parsed instead of re-reading the file.
    other = b"posts:\n  - {id: z, at: 2026-12-01 09:00, accounts: [brand-a], text: z}\n"
    assert [p.id for p in load_queue(path, config, data=other).posts] == ["z"]
    with pytest.raises(InvalidFileError, match=r"queue.yaml:1:1: cannot read"):
        load_queue(project / "missing" / "queue.yaml", config)
    with pytest.raises(InvalidFileError, match=r":2:9: not UTF-8"):
        load_queue(path, config, data=b"posts:\n  - id: \xff\n")


def test_bom_and_crlf(project: Path, config: Config) -> None:
    text = (
        "\ufeffposts:\r\n  - id: a\r\n    at: 2026-12-01 09:00\r\n    accounts: [brand-a]\r\n"
        "    text: hi\r\n"
    )
    q = parse_queue(text, project / "queue.yaml", config)
    assert q.posts[0].text == "hi" and q.posts[0].line == 2
    with pytest.raises(InvalidFileError) as info:
        parse_queue(text.replace("accounts", "acounts"), project / "queue.yaml", config)
    assert [(d.line, d.column) for d in info.value.errors] == [(4, 5)]


def test_relative_queue_path(
    project: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    q = parse_queue(
        "posts:\n  - {id: a, at: 2026-12-01 09:00, accounts: [brand-a], media: [{file: "
        "media/pic.jpg}]}\n",
        Path("queue.yaml"),
        config,
    )
    assert q.posts[0].media[0].file == MediaRef(project, "media/pic.jpg", "media/pic.jpg")


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("pixel.jpg", "image/jpeg"),
        ("pixel.png", "image/png"),
        ("pixel.gif", "image/gif"),
        ("pixel.webp", "image/webp"),
        ("clip.mp4", "video/mp4"),
        ("clip.mov", "video/quicktime"),
        ("notes.txt", None),
    ],
)
def test_sniff_media_type(name: str, mime: str | None) -> None:
    assert sniff_media_type((FIXTURES / name).read_bytes()[:16]) == mime


def test_every_media_kind_is_accepted(project: Path, config: Config) -> None:
    for name in ("pixel.gif", "pixel.webp", "clip.mov"):
        shutil.copy(FIXTURES / name, project / "media" / name)
    q = parse(
        project,
        config,
        """
        posts:
          - id: a
            at: 2026-12-01 09:00
            accounts: [brand-a]
            media:
              - file: media/pixel.gif
              - file: media/pixel.webp
              - file: media/clip.mov
              - file: media/clip.mp4
    """,
    )
    assert [m.mime_type for m in q.posts[0].media] == [
        "image/gif",
        "image/webp",
        "video/quicktime",
        "video/mp4",
    ]
    assert [m.item().kind for m in q.posts[0].media] == ["gif", "image", "video", "video"]


def test_an_empty_plan_must_be_explicit(project: Path, config: Config) -> None:
    assert parse(project, config, "posts: []\n").posts == ()
    for text in ("", "\n", "# nothing\n", "posts:\n", "defaults: {accounts: [brand-a]}\n"):
        with pytest.raises(InvalidFileError):
            parse_queue(text, project / "queue.yaml", config)


# --- JSON Schema


def test_committed_schema_is_current() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    assert committed == schema_text(), (
        f"{SCHEMA_PATH} is out of date with the models in publisher/queuefile.py; "
        "regenerate it with: python -m publisher.queuefile"
    )
    assert json.loads(committed) == json_schema()


def test_schema_accepts_valid_files_and_rejects_misspellings(project: Path) -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.load(REALISTIC, Loader=_Loader))) == []
    broken = yaml.load(REALISTIC.replace("accounts: brand-a", "acounts: brand-a"), Loader=_Loader)
    assert any("acounts" in e.message for e in validator.iter_errors(broken))
    bad_thread = yaml.load(REALISTIC.replace("thread: auto", "thread: always"), Loader=_Loader)
    assert list(validator.iter_errors(bad_thread))
    props = schema["$defs"]["PostModel"]["properties"]
    assert all(props[k].get("description") for k in ("id", "at", "accounts", "text", "media"))


# --- speed: a valid file costs about one libyaml load




# --- files cut short: what "a truncated file never applies a partial plan" means here
#
# Refused, always: a cut that is not at the end of a line (no final newline), a cut before
# `posts:` has a list (no `posts:`, or an empty one), and any cut that breaks the YAML or the
# schema. Accepted only at line ends, and then the plan can only LOSE, never change: its
# posts are the full file's first n posts, in order, the first n-1 exactly equal (all
# fields, positions and content hashes), and the n-th has the same id and position and, field
# by field, either the full value, the value of an absent key (default), or a prefix of the
# full value (text, thread parts, media, accounts lists). No invented post, id, account, time
# or text. What no parser can know is whether trailing lines of the last post or later posts
# were meant to be there: that is the engine's debounce's job.


@dataclass(frozen=True)
class Defaults:
    accounts: tuple[str, ...]
    thread: ThreadMode
    language: str | None
    options: dict[str, Any]


def is_prefix(short: tuple[Any, ...], full: tuple[Any, ...]) -> bool:
    return full[: len(short)] == short


def text_prefix(short: str, full: str) -> bool:
    return full.startswith(short.rstrip())


def media_prefix(short: tuple[MediaSpec, ...], full: tuple[MediaSpec, ...]) -> bool:
    """All but the last item equal; the last is the same file, its alt cut or absent."""
    if not short:
        return True
    if len(short) > len(full) or short[:-1] != full[: len(short) - 1]:
        return False
    last, ref = short[-1], full[len(short) - 1]
    return last.file == ref.file and text_prefix(last.alt, ref.alt)


def assert_cut_is_consistent(cut: PostSpec, full: PostSpec, d: Defaults) -> None:
    assert (cut.id, cut.line, cut.column) == (full.id, full.line, full.column)
    assert cut.at in (full.at, None)
    assert cut.not_after in (full.not_after, None)
    assert (
        cut.accounts == full.accounts
        or is_prefix(cut.accounts, full.accounts)
        or cut.accounts == d.accounts
    )
    assert text_prefix(cut.text, full.text)
    assert media_prefix(cut.media, full.media)
    assert len(cut.extra_parts) <= len(full.extra_parts)
    if cut.extra_parts:
        assert cut.extra_parts[:-1] == full.extra_parts[: len(cut.extra_parts) - 1]
        assert text_prefix(cut.extra_parts[-1], full.extra_parts[len(cut.extra_parts) - 1])
    assert cut.thread in (full.thread, d.thread)
    assert cut.language in (full.language, d.language)
    for k, v in cut.options.items():
        assert full.options.get(k) == v or d.options.get(k) == v
    if cut.link is not None:
        assert full.link is not None and cut.link.url == full.link.url
        for name in ("title", "description", "thumb"):
            assert getattr(cut.link, name) in (getattr(full.link, name), "", None)
    assert set(cut.overrides) <= set(full.overrides)
    for name, o in cut.overrides.items():
        f = full.overrides[name]
        assert o.text is None or (f.text is not None and text_prefix(o.text, f.text))
        assert o.media is None or (f.media is not None and media_prefix(o.media, f.media))
        assert o.thread in (f.thread, None) and o.language in (f.language, None)
        assert all(f.options.get(k) == v for k, v in o.options.items())


def check_every_cut(data: bytes, path: Path, config: Config, d: Defaults) -> tuple[int, int]:
    full = load_queue(path, config, data=data)
    accepted = refused = 0
    for k in range(len(data)):
        cut = data[:k]
        try:
            q = load_queue(path, config, data=cut)
        except InvalidFileError as err:
            assert err.errors, "refused without an error"
            refused += 1
            continue
        accepted += 1
        assert cut.endswith(b"\n"), f"accepted a cut in the middle of a line: {cut[-40:]!r}"
        n = len(q.posts)
        assert n >= 1, "an accepted cut must keep `posts:` with at least one item"
        assert [p.id for p in q.posts] == [p.id for p in full.posts[:n]]
        assert q.posts[:-1] == full.posts[: n - 1]
        for a, b in zip(q.posts[:-1], full.posts, strict=False):
            for name in a.accounts:
                acc = config.accounts[name]
                assert a.content_hash(acc) == b.content_hash(acc)
        assert_cut_is_consistent(q.posts[-1], full.posts[n - 1], d)
    return accepted, refused


def test_every_cut_of_the_realistic_file(project: Path, config: Config) -> None:
    data = REALISTIC.encode()
    d = Defaults(
        ("brand-a", "brand-b"), ThreadMode.AUTO, "fr", {"visibility": "public", "sensitive": False}
    )
    accepted, refused = check_every_cut(data, project / "queue.yaml", config, d)
    # Only some line ends pass; everything else, including mid-character cuts, is refused.
    assert 0 < accepted < data.count(b"\n")
    assert refused > 10 * accepted


# A generator of valid queue files with varied key order and scalar styles.

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéàç", min_size=1, max_size=8).filter(
    lambda w: w not in ("true", "false", "null")  # YAML would not read those as text
)
SENTENCE = st.lists(WORDS, min_size=1, max_size=4).map(" ".join)


@st.composite
def text_field(draw: st.DrawFn, key: str, indent: str) -> list[str]:
    style = draw(st.sampled_from(["plain", "double", "literal", "folded", "strip"]))
    if style == "plain":
        return [f"{indent}{key}: {draw(SENTENCE)}"]
    if style == "double":
        return [f"{indent}{key}: {json.dumps(draw(SENTENCE), ensure_ascii=False)}"]
    head = {"literal": "|", "folded": ">", "strip": "|-"}[style]
    lines = draw(st.lists(SENTENCE, min_size=1, max_size=3))
    return [f"{indent}{key}: {head}", *(f"{indent}  {x}" for x in lines)]


@st.composite
def post_lines(draw: st.DrawFn, i: int) -> list[str]:
    ind = "    "
    timed = draw(st.booleans())
    fields: list[list[str]] = []
    if timed:
        fields.append([f"{ind}at: 2026-12-{1 + i:02d} {draw(st.integers(8, 11)):02d}:00"])
        if draw(st.booleans()):
            fields.append([f"{ind}not_after: 2026-12-{1 + i:02d} 20:00"])
    names = draw(
        st.sampled_from([None, ["brand-a"], ["brand-c"], ["brand-a", "brand-c"], ["brand-m"]])
    )
    if names is not None:
        if draw(st.booleans()):
            fields.append([f"{ind}accounts: [{', '.join(names)}]"])
        else:
            fields.append([f"{ind}accounts:", *(f"{ind}  - {n}" for n in names)])
    fields.append(draw(text_field("text", ind)))
    if draw(st.booleans()):
        files = draw(
            st.lists(st.sampled_from(["media/pic.jpg", "media/pic.png"]), min_size=1, max_size=3)
        )
        block = [f"{ind}media:"]
        for f in files:
            if draw(st.booleans()):
                block.append(f"{ind}  - {{file: {f}, alt: {draw(SENTENCE)}}}")
            else:
                block += [f"{ind}  - file: {f}", f"{ind}    alt: {draw(SENTENCE)}"]
        fields.append(block)
    if draw(st.booleans()):
        parts = draw(st.lists(SENTENCE, min_size=1, max_size=3))
        fields.append([f"{ind}parts:", *(f"{ind}  - {p}" for p in parts)])
    if draw(st.booleans()):
        mode = draw(st.sampled_from(["auto", "numbered", '"off"']))
        fields.append([f"{ind}thread: {mode}"])
    if draw(st.booleans()):
        fields.append([f"{ind}language: {draw(st.sampled_from(['en', 'de', 'pt-BR']))}"])
    if names == ["brand-m"] and draw(st.booleans()):  # options Mastodon takes
        fields.append(
            [
                f"{ind}options:",
                f"{ind}  visibility: unlisted",
                f"{ind}  spoiler_text: {draw(SENTENCE)}",
            ]
        )
    if draw(st.booleans()):
        fields.append(
            [
                f"{ind}link:",
                f"{ind}  url: https://example.com/{i}",
                f"{ind}  title: {draw(SENTENCE)}",
                f"{ind}  thumb: media/pic.png",
            ]
        )
    if draw(st.booleans()):
        target = draw(st.sampled_from(["log", "brand-a", "brand-c", "mastodon", "brand-m"]))
        options = ["log", "brand-a", "brand-c"].count(target) == 0
        fields.append(
            [
                f"{ind}overrides:",
                f"{ind}  {target}:",
                *draw(text_field("text", ind + "    ")),
                *([f"{ind}    options: {{visibility: direct}}"] if options else []),
            ]
        )
    order = draw(st.permutations(range(len(fields) + 1)))
    fields.insert(order[0], [f"{ind}id: post-{i}"])
    lines = [line for block in fields for line in block]
    return ["  - " + lines[0][4:], *lines[1:]]


@st.composite
def queue_files(draw: st.DrawFn) -> str:
    head = [
        "# generated",
        "defaults:",
        "  accounts: [brand-a, brand-c]",
        "  language: fr",
        "  options: {visibility: public}",
        "posts:",
    ]
    n = draw(st.integers(1, 3))
    body = [line for i in range(n) for line in draw(post_lines(i))]
    return "\n".join(head + body) + "\n"


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Config]]:
    root = tmp_path_factory.mktemp("cuts")
    (root / "publisher.toml").write_text(CONFIG)
    for rel, data in MEDIA.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    yield root, config_in(root)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=queue_files())
def test_every_cut_of_generated_files(text: str, shared_project: tuple[Path, Config]) -> None:
    root, config = shared_project
    d = Defaults(("brand-a", "brand-c"), ThreadMode.AUTO, "fr", {"visibility": "public"})
    path = root / "queue.yaml"
    full = load_queue(path, config, data=text.encode())  # the generator makes valid files
    assert len(full.posts) >= 1
    accepted, refused = check_every_cut(text.encode(), path, config, d)
    if len(full.posts) >= 2:
        assert accepted >= 1  # the cut right after the first post is a valid, shorter file
    assert refused >= len(text.encode()) - text.count("\n")  # every mid-line cut at least


# --- anything at all: a QueueFile or an InvalidFileError, never a crash

YAML_BITS = st.sampled_from(
    [
        " ",
        "\n",
        "\t",
        ":",
        "- ",
        "[",
        "]",
        "{",
        "}",
        "#",
        "&a ",
        "*a",
        "!!str ",
        "!x ",
        "|",
        ">",
        "'",
        '"',
        ",",
        "? ",
        "<<: ",
        "---\n",
        "...\n",
        "%YAML 1.1\n",
        "\x00",
        "\ufeff",
        "é",
        "😀",
        "~",
        "null",
        "0x",
        "1e9",
        "id: ",
        "text: ",
        "posts:",
        "at: ",
        "accounts: ",
        "media: [{file: media/pic.jpg}]",
        "file: \x00",
        "overrides: {",
        "2026-12-01 09:00",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, len(REALISTIC)),
    length=st.integers(0, 40),
    insert=st.lists(YAML_BITS | st.text(max_size=3), max_size=5).map("".join),
)
def test_mutations_never_crash(
    start: int, length: int, insert: str, shared_project: tuple[Path, Config]
) -> None:
    root, config = shared_project
    text = REALISTIC[:start] + insert + REALISTIC[start + length :]
    try:
        q = parse_queue(text, root / "queue.yaml", config)
    except InvalidFileError as err:
        diagnostics = err.diagnostics
        assert err.errors
    else:
        diagnostics = list(q.warnings)
        assert all(p.at is None or p.at.tzinfo is UTC for p in q.posts)
    lines = text.count("\n") + 1
    for d in diagnostics:
        assert 1 <= d.line <= lines + 1 and d.column >= 1, str(d)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode()))
def test_any_bytes_never_crash(data: bytes, shared_project: tuple[Path, Config]) -> None:
    root, config = shared_project
    try:
        load_queue(root / "queue.yaml", config, data=data)
    except InvalidFileError as err:
        assert err.errors
