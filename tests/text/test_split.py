"""Thread splitting: properties over random posts, and the preferences on examples."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.text import LengthRule, find_entities, split_thread
from publisher.text.graphemes import grapheme_boundaries
from tests.text.rules import EVERY_WAY, chars, graphemes, mastodon, x_weighted

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
EMOJI = [
    "\U0001f600",
    "\U0001f44d\U0001f3fd",
    FAMILY,
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f1eb\U0001f1f7",
    "1\ufe0f\u20e3",
    "\u2764\ufe0f",
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
]
SUFFIX_RE = re.compile(r" \((\d+)/(\d+)\)$")

letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", min_size=1, max_size=10)
words = st.one_of(
    letters,
    letters.map(lambda w: w + "."),
    letters.map(lambda w: w + ","),
    letters.map(lambda w: w + "!"),
    st.sampled_from(["café", "naïve", "e\u0301te\u0301", "Zoë", "Ελλάδα", "Москва", "한국어"]),
)
long_words = st.text(alphabet="xyz", min_size=40, max_size=150)  # no break inside
cjk = st.text(alphabet="日本語中文字漢テストかなひらがな。、", min_size=1, max_size=12)
urls = st.builds(
    lambda scheme, name, tld, path: f"{scheme}{name}.{tld}{path}",
    st.sampled_from(["https://", "http://", ""]),
    st.text(alphabet="abcdefghij", min_size=1, max_size=8),
    st.sampled_from(["com", "org", "social", "co.uk", "jp", "io"]),
    st.sampled_from(["", "/", "/a/b", "/path?q=1&r=2", "/x-y_z/"]),
)
hashtags = letters.map(lambda w: "#" + w)
mentions = st.one_of(
    letters.map(lambda w: "@" + w),
    letters.map(lambda w: f"@{w}@mastodon.social"),
    letters.map(lambda w: f"@{w}.bsky.social"),
)
emoji = st.sampled_from(EMOJI)
tokens = st.one_of(
    words, words, words, words, long_words, cjk, urls, hashtags, mentions, emoji, emoji
)
separators = st.sampled_from([" ", " ", " ", " ", "  ", "\n", "\n\n", " \n\n "])


@st.composite
def posts(draw: st.DrawFn) -> str:
    toks = draw(st.lists(tokens, min_size=20, max_size=150))
    out = [toks[0]]
    for tok in toks[1:]:
        out.append(draw(separators))
        out.append(tok)
    return "".join(out)


limits = st.integers(min_value=50, max_value=240)
rules = st.one_of(
    *(st.builds(way, limits) for way in (x_weighted, graphemes, chars)),
    st.builds(mastodon, limits, st.sampled_from([23, 30])),
)


def _bodies(parts: list[str], numbered: bool) -> list[str]:
    """The parts without their " (i/n)" suffixes, checking the numbering on the way."""
    if not numbered or len(parts) == 1:
        return parts
    bodies = []
    for i, part in enumerate(parts, 1):
        m = SUFFIX_RE.search(part)
        assert m is not None, part
        assert (int(m.group(1)), int(m.group(2))) == (i, len(parts))
        bodies.append(part[: m.start()])
    return bodies


def _spans(text: str, bodies: list[str]) -> list[tuple[int, int]]:
    """Where each body sits in the text (each is a slice, in order, whitespace between)."""
    spans = []
    pos = 0
    for body in bodies:
        start = text.find(body, pos)
        assert start >= 0, body
        assert text[pos:start].strip() == ""
        spans.append((start, start + len(body)))
        pos = start + len(body)
    assert text[pos:].strip() == ""
    return spans


@settings(max_examples=200, deadline=None)
@given(text=posts(), rule=rules, numbered=st.booleans())
def test_split_properties(text: str, rule: LengthRule, numbered: bool) -> None:
    parts = split_thread(text, rule, numbered=numbered)

    # Deterministic.
    assert split_thread(text, rule, numbered=numbered) == parts

    if rule.count(text) <= rule.limit:
        assert parts == [text]
        return

    # Every part within the limit, suffix included; none empty, none padded.
    assert len(parts) >= 2
    for part in parts:
        assert rule.count(part) <= rule.limit, (part, rule)
    bodies = _bodies(parts, numbered)
    for body in bodies:
        assert body and body == body.strip()

    # Nothing lost, nothing reordered, nothing added.
    assert "".join("".join(b.split()) for b in bodies) == "".join(text.split())

    # Cuts fall between grapheme clusters; every entity sits whole in exactly one part.
    spans = _spans(text, bodies)
    bounds = set(grapheme_boundaries(text))
    for start, end in spans:
        assert start in bounds and end in bounds
    reserve = " (99/99)" if numbered else ""
    for entity in find_entities(text):
        if rule.count(entity.text + reserve) > rule.limit:
            continue  # an entity alone over the limit must be cut; none is generated
        holders = [s for s in spans if s[0] <= entity.start and entity.end <= s[1]]
        assert len(holders) == 1, (entity, parts)


@settings(max_examples=200, deadline=None)
@given(text=posts(), limit=st.integers(min_value=30, max_value=120))
def test_every_rule_fits_its_own_count(text: str, limit: int) -> None:
    """The same text split for each network: each split satisfies its own counter."""
    for way in EVERY_WAY:
        rule = way(limit)
        for part in split_thread(text, rule, numbered=True):
            assert rule.count(part) <= limit


# --- examples ------------------------------------------------------------------------------

def test_text_within_limit_is_returned_unchanged() -> None:
    text = "  short post, with edges  \n"
    assert split_thread(text, chars(100), numbered=True) == [text]
    assert split_thread(text, x_weighted(280), numbered=False) == [text]


def test_prefers_sentence_ends_over_words() -> None:
    text = (
        "The first sentence is here and it is fairly long. "
        "The second sentence follows it closely. "
        "A third one ends the post."
    )
    parts = split_thread(text, chars(100), numbered=False)
    assert parts == [
        "The first sentence is here and it is fairly long. The second sentence follows it closely.",
        "A third one ends the post.",
    ]


def test_prefers_paragraphs_over_sentences() -> None:
    text = (
        "Paragraph one has a sentence. And another one here.\n\n"
        "Paragraph two. It goes on for a while with more words."
    )
    parts = split_thread(text, chars(80), numbered=False)
    assert parts == [
        "Paragraph one has a sentence. And another one here.",
        "Paragraph two. It goes on for a while with more words.",
    ]


def test_a_paragraph_break_too_early_does_not_waste_the_part() -> None:
    text = "Hi.\n\n" + "word " * 30
    parts = split_thread(text, chars(60), numbered=False)
    assert len(parts[0]) > 30  # not just "Hi."


def test_prefers_word_boundaries_over_cutting_words() -> None:
    text = " ".join(["alpha", "beta", "gamma", "delta", "epsilon"] * 12)
    parts = split_thread(text, chars(50), numbered=False)
    vocabulary = {"alpha", "beta", "gamma", "delta", "epsilon"}
    for part in parts:
        assert set(part.split()) <= vocabulary


def test_numbering_format() -> None:
    text = "One sentence here. " * 12
    parts = split_thread(text, chars(100), numbered=True)
    assert len(parts) == 3
    assert [p[p.rindex(" (") :] for p in parts] == [" (1/3)", " (2/3)", " (3/3)"]
    assert all(len(p) <= 100 for p in parts)


def test_numbering_reserves_room_for_two_digit_totals() -> None:
    text = " ".join(f"w{i:02d}" for i in range(100))  # 399 characters
    parts = split_thread(text, chars(30), numbered=True)
    assert len(parts) >= 10
    assert parts[-1].endswith(f" ({len(parts)}/{len(parts)})")
    assert all(len(p) <= 30 for p in parts)
    assert "".join(SUFFIX_RE.sub("", p).replace(" ", "") for p in parts) == text.replace(" ", "")


def test_urls_are_never_cut_and_count_23_on_x() -> None:
    url = "https://example.com/" + "a" * 300
    text = ("Look at this " + url + " ") * 3
    rule = x_weighted(60)
    parts = split_thread(text, rule, numbered=False)
    assert all(url in p for p in parts)
    assert all(rule.count(p) <= 60 for p in parts)


def test_a_url_alone_over_the_limit_is_cut_as_a_last_resort() -> None:
    url = "https://example.com/" + "a" * 300
    rule = graphemes(100)
    parts = split_thread(f"see {url} ok", rule, numbered=False)
    assert all(rule.count(p) <= 100 for p in parts)
    assert "".join(parts).replace(" ", "") == f"see{url}ok"


def test_a_giant_word_is_hard_split_at_grapheme_boundaries() -> None:
    word = "e\u0301" * 250  # 500 code points, 250 clusters
    rule = graphemes(100)
    parts = split_thread(word, rule, numbered=False)
    assert parts == ["e\u0301" * 100, "e\u0301" * 100, "e\u0301" * 50]
    by_code_points = split_thread(word, chars(99), numbered=False)
    assert all(not p.startswith("\u0301") and len(p) <= 99 for p in by_code_points)


def test_zwj_emoji_are_never_split() -> None:
    text = FAMILY * 200
    for way in EVERY_WAY:
        rule = way(50)
        parts = split_thread(text, rule, numbered=True)
        for part in parts:
            body = SUFFIX_RE.sub("", part)
            assert body == FAMILY * (len(body) // len(FAMILY))
            assert rule.count(part) <= 50


def test_cjk_text_without_spaces_splits_at_punctuation() -> None:
    text = "今日は良い天気です。明日も晴れるでしょう。" * 10
    parts = split_thread(text, x_weighted(100), numbered=False)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


def test_mentions_and_hashtags_stay_whole() -> None:
    text = " ".join(["@alice@mastodon.social", "#SomeLongHashtag", "@bob.bsky.social"] * 10)
    rule = mastodon(60)
    parts = split_thread(text, rule, numbered=True)
    for part in parts:
        for token in SUFFIX_RE.sub("", part).split():
            assert token in {"@alice@mastodon.social", "#SomeLongHashtag", "@bob.bsky.social"}


def test_whitespace_only_text_over_the_limit_gives_no_parts() -> None:
    assert split_thread(" " * 400, chars(100), numbered=False) == []


def test_a_limit_too_small_for_the_numbering_is_an_error() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_thread("word " * 20, chars(6), numbered=True)


def test_no_break_spaces_are_not_cut_points() -> None:
    text = "aaaa bbbb cccc 10\u00a0km dddd"
    parts = split_thread(text, chars(18), numbered=False)
    assert parts == ["aaaa bbbb cccc", "10\u00a0km dddd"]
