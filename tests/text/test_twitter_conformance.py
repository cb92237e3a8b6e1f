"""X's own conformance suite (twitter-text's validate.yml, extract.yml, tlds.yml), every case.

The two counting sections of validate.yml that define today's rule (config v3) must pass whole:
X refuses a post its counter finds too long. URL extraction feeds that count, so extract.yml's
URL sections and tlds.yml run too; hashtags, cashtags and mentions feed the splitter and the
Bluesky facets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from publisher.text import find_entities, x_parse, x_weighted_length
from publisher.text.entities import extract_urls
from publisher.text.tlds import COUNTRY_TLDS, GENERIC_TLDS
from tests.paths import CONFORMANCE

SUITE = Path(os.environ.get("TWITTER_TEXT_CONFORMANCE", str(CONFORMANCE / "twitter-text")))


def _load(name: str) -> dict[str, list[dict[str, Any]]]:
    if not SUITE.is_dir():
        return {}  # test_suite_is_present fails loudly; nothing is skipped silently
    with (SUITE / name).open(encoding="utf-8") as fh:
        tests: dict[str, list[dict[str, Any]]] = yaml.safe_load(fh)["tests"]
    return tests


VALIDATE = _load("validate.yml")
EXTRACT = _load("extract.yml")
TLDS = _load("tlds.yml")


def _cases(suite: dict[str, list[dict[str, Any]]], *sections: str) -> list[Any]:
    return [
        pytest.param(section, case, id=f"{section}[{i}] {case['description'][:60]}")
        for section in sections
        for i, case in enumerate(suite.get(section, []))
    ]


# --- validate.yml: the weighted length ----------------------------------------------------

COUNTER_SECTIONS = (
    "WeightedTweetsWithDiscountedEmojiCounterTest",
    "UnicodeDirectionalMarkerCounterTest",
)
FIELDS = {
    "weightedLength": "weighted_length",
    "valid": "valid",
    "permillage": "permillage",
    "displayRangeStart": "display_range_start",
    "displayRangeEnd": "display_range_end",
    "validRangeStart": "valid_range_start",
    "validRangeEnd": "valid_range_end",
}


def test_suite_is_present() -> None:
    assert SUITE.is_dir(), f"twitter-text conformance suite not found at {SUITE}"
    for section in COUNTER_SECTIONS:
        assert len(VALIDATE[section]) > 0
    assert len(VALIDATE["WeightedTweetsWithDiscountedEmojiCounterTest"]) >= 22
    assert all(EXTRACT[s] for s in (*URL_SECTIONS, *URL_INDEX_SECTIONS))
    assert TLDS["country"] and TLDS["generic"]


@pytest.mark.parametrize(("section", "case"), _cases(VALIDATE, *COUNTER_SECTIONS))
def test_parse_tweet(section: str, case: dict[str, Any]) -> None:
    result = x_parse(case["text"])
    expected = case["expected"]
    got = {key: getattr(result, attr) for key, attr in FIELDS.items() if key in expected}
    assert got == expected
    assert x_weighted_length(case["text"]) == expected["weightedLength"]


# --- extract.yml and tlds.yml: which URLs X sees ------------------------------------------

URL_SECTIONS = ("urls", "tco_urls_with_params")
URL_INDEX_SECTIONS = ("urls_with_indices", "urls_with_directional_markers")


@pytest.mark.parametrize(("section", "case"), _cases(EXTRACT, *URL_SECTIONS))
def test_extract_urls(section: str, case: dict[str, Any]) -> None:
    assert [u.url for u in extract_urls(case["text"])] == (case["expected"] or [])


@pytest.mark.parametrize(("section", "case"), _cases(EXTRACT, *URL_INDEX_SECTIONS))
def test_extract_urls_with_indices(section: str, case: dict[str, Any]) -> None:
    got = [{"url": u.url, "indices": [u.start, u.end]} for u in extract_urls(case["text"])]
    assert got == case["expected"]


@pytest.mark.parametrize(("section", "case"), _cases(TLDS, "country", "generic"))
def test_tlds(section: str, case: dict[str, Any]) -> None:
    assert [u.url for u in extract_urls(case["text"])] == case["expected"]


def test_tld_table_matches_tlds_yml() -> None:
    """publisher/text/tlds.py was generated from tlds.yml; keep the two identical."""

    def tlds(section: str) -> set[str]:
        return {case["text"].split("twitter.", 1)[1] for case in TLDS[section]}

    assert tlds("country") == COUNTRY_TLDS
    assert tlds("generic") == GENERIC_TLDS


def test_urls_are_url_entities() -> None:
    text = "see https://example.com/a and foo.co.jp, not @alice.bsky.social nor #x.com"
    urls = [e.text for e in find_entities(text) if e.kind == "url"]
    assert urls == ["https://example.com/a", "foo.co.jp"]


# --- extract.yml: hashtags, cashtags, mentions --------------------------------------------

SIGILS = {"hashtag": "hashtag", "cashtag": "cashtag", "mention": "screen_name"}
# Where we deliberately differ from X: "@user@domain" is a fediverse mention, not an email.
MENTION_OVERRIDES = {"@username email me @test@example.com": ["username", "test@example.com"]}


def _entities_of(kind: str, text: str) -> list[tuple[int, int]]:
    return [(e.start, e.end) for e in find_entities(text) if e.kind == kind]


@pytest.mark.parametrize(
    ("section", "case"),
    _cases(EXTRACT, "hashtags", "hashtags_from_astral", "cashtags", "mentions"),
)
def test_extract_tags_and_mentions(section: str, case: dict[str, Any]) -> None:
    kind = section.split("_")[0].rstrip("s")
    text = case["text"]
    got = [text[s + 1 : e] for s, e in _entities_of(kind, text)]
    assert got == MENTION_OVERRIDES.get(text, case["expected"] or [])


@pytest.mark.parametrize(
    ("section", "case"),
    _cases(EXTRACT, "hashtags_with_indices", "cashtags_with_indices", "mentions_with_indices"),
)
def test_extract_tags_and_mentions_with_indices(section: str, case: dict[str, Any]) -> None:
    kind = section.split("_")[0].rstrip("s")
    text = case["text"]
    got = [{SIGILS[kind]: text[s + 1 : e], "indices": [s, e]} for s, e in _entities_of(kind, text)]
    assert got == (case["expected"] or [])


def test_mention_forms() -> None:
    """Bluesky handles and fediverse accounts are one mention each; an email is none."""
    text = "hi @alice.bsky.social, @bob@mastodon.social and @carol. Mail dave@example.com"
    mentions = [e.text for e in find_entities(text) if e.kind == "mention"]
    assert mentions == ["@alice.bsky.social", "@bob@mastodon.social", "@carol"]
