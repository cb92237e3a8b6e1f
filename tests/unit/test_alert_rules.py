"""The alert rules of ``[alerts]`` (publisher/alerts.py), as tables: which text holds a term
(whole words and phrases, any case, any Unicode form), and which hour is a spike (more than
``per_hour``; or ``factor`` times the usual rate with at least ``min_items``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from publisher.alerts import Spike, matching_term, spikes, window_of


def slug(case: str) -> str:
    """A test id any runner can name on a command line (mutmut does)."""
    return re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")


# ------------------------------------------------------------------------------ the terms

TERMS: list[tuple[str, str, Sequence[str], str | None]] = [
    # (case, text, terms, the term found)
    ("exact word", "le site est en panne", ["panne"], "panne"),
    ("any case", "Le site est en PANNE", ["Panne"], "Panne"),
    ("the term as written is returned", "acme", ["ACME"], "ACME"),
    ("start and end of the text", "panne", ["panne"], "panne"),
    ("beside punctuation", "Encore une panne!", ["panne"], "panne"),
    ("beside an apostrophe", "l'acme d'aujourd'hui", ["acme"], "acme"),
    ("a possessive", "Acme's new shop", ["acme"], "acme"),
    ("beside a hyphen", "acme-like", ["acme"], "acme"),
    ("beside emoji", "🔥acme🔥", ["acme"], "acme"),
    ("in a mention", "merci @acme", ["acme"], "acme"),
    ("a hashtag holds the word", "j'adore #acme", ["acme"], "acme"),
    ("a hashtag term", "j'adore #acme", ["#acme"], "#acme"),
    ("a hashtag term needs its #", "j'adore acme", ["#acme"], None),
    ("a longer hashtag is another word", "#acmesale", ["acme"], None),
    ("no partial word: prefix", "acmeology", ["acme"], None),
    ("no partial word: suffix", "preacme", ["acme"], None),
    ("no partial word: digits", "acme2 est sorti", ["acme"], None),
    ("no partial word: underscore", "ACME_corp", ["acme"], None),
    ("no partial word: an accented letter", "épanne", ["panne"], None),
    ("a phrase", "the service is down again", ["is down"], "is down"),
    ("a phrase in other case", "The Service Is Down", ["service is down"], "service is down"),
    ("a phrase is whole words too", "it is downloaded", ["is down"], None),
    ("a phrase needs its words in order", "down is it", ["is down"], None),
    ("the first term in the list's order", "acme en panne", ["panne", "acme"], "panne"),
    ("blank terms are skipped", "acme", ["  ", "", "acme"], "acme"),
    ("a term's spaces around are dropped", "acme", [" acme "], " acme "),
    ("regex characters are literal", "I love c++ a lot", ["c++"], "c++"),
    ("a dot is not any character", "acmeXcom", ["acme.com"], None),
    ("no term", "anything", [], None),
    # Unicode forms: compatibility (NFKC) and case folding on both sides.
    ("full-width letters", "ｐａｎｎｅ générale", ["panne"], "panne"),
    ("a decomposed accent in the text", "un cafe\u0301 froid", ["café"], "café"),
    ("a decomposed accent in the term", "un café froid", ["cafe\u0301"], "cafe\u0301"),
    ("an accent is part of the word", "panne\u0301", ["panne"], None),
    ("case folding, not lowering", "STRASSE gesperrt", ["Straße"], "Straße"),
    ("a ligature", "ﬁnance", ["finance"], "finance"),
    ("Greek final sigma", "ΟΔΟΣ κλειστή", ["οδος"], "οδος"),
    ("non-Latin words", "Привет, Акме!", ["акме"], "акме"),
]


@pytest.mark.parametrize(("text", "terms", "found"), [c[1:] for c in TERMS],
                         ids=[slug(c[0]) for c in TERMS])
def test_matching_term(text: str, terms: Sequence[str], found: str | None) -> None:
    assert matching_term(text, terms) == found


# ----------------------------------------------------------------------------- the spikes

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
BASELINE = 2 * H


def times(n: int, first: datetime, step: timedelta = M) -> list[datetime]:
    return [first + i * step for i in range(n)]


def one(
    received: list[datetime],
    *,
    per_hour: int | None = None,
    factor: float | None = None,
    min_items: int = 3,
    baseline: timedelta = BASELINE,
) -> Spike | None:
    found = spikes({"a": received}, NOW, per_hour=per_hour, factor=factor,
                   baseline=baseline, min_items=min_items)
    assert len(found) <= 1
    return found[0] if found else None


RECENT = NOW - 30 * M  # inside the last hour


SPIKES: list[tuple[str, list[datetime], dict[str, object], tuple[str, int, float] | None]] = [
    # (case, received, rules, (rule, count, usual) or no spike)
    ("per_hour: exactly the limit is no spike", times(3, RECENT), {"per_hour": 3}, None),
    ("per_hour: one more is", times(4, RECENT), {"per_hour": 3}, ("per_hour", 4, 0.0)),
    ("the hour is (now - 1h, now]: its start is out",
     [NOW - H, *times(3, RECENT)], {"per_hour": 3}, None),
    ("the hour is (now - 1h, now]: now is in",
     [NOW, *times(3, RECENT)], {"per_hour": 3}, ("per_hour", 4, 0.0)),
    ("later than now is not counted", [NOW + M, *times(3, RECENT)], {"per_hour": 3}, None),
    ("factor: above factor × usual", [*times(2, NOW - 2 * H), *times(3, RECENT)],
     {"factor": 2.0}, ("factor", 3, 1.0)),
    ("factor: equal to factor × usual is no spike", [*times(4, NOW - 2 * H), *times(4, RECENT)],
     {"factor": 2.0}, None),
    ("factor: one more is", [*times(4, NOW - 2 * H), *times(5, RECENT)],
     {"factor": 2.0}, ("factor", 5, 2.0)),
    ("factor: below min_items is no spike, however quiet before", times(2, RECENT),
     {"factor": 2.0}, None),
    ("factor: min_items reached after silence", times(3, RECENT),
     {"factor": 2.0}, ("factor", 3, 0.0)),
    ("factor: min_items is a floor, not a ceiling", times(3, RECENT),
     {"factor": 2.0, "min_items": 4}, None),
    # The baseline is (now - 1h - baseline, now - 1h]: the hour itself is not in its own usual.
    ("the current hour does not raise its usual", times(9, RECENT),
     {"factor": 2.0}, ("factor", 9, 0.0)),
    ("an item at the hour's start is baseline", [NOW - H, *times(3, RECENT)],
     {"factor": 2.0}, ("factor", 3, 0.5)),
    ("the baseline's start is out", [NOW - H - BASELINE, *times(3, RECENT)],
     {"factor": 2.0}, ("factor", 3, 0.0)),
    ("older than the baseline counts nowhere", [*times(10, NOW - 5 * H), *times(3, RECENT)],
     {"factor": 2.0}, ("factor", 3, 0.0)),
    ("a baseline shorter than an hour: its rate per hour", [NOW - H - 10 * M, *times(4, RECENT)],
     {"factor": 2.0, "baseline": 30 * M}, None),
    ("a baseline shorter than an hour: above it", [NOW - H - 10 * M, *times(5, RECENT)],
     {"factor": 2.0, "baseline": 30 * M}, ("factor", 5, 2.0)),
    ("per_hour first when both hold", times(6, RECENT),
     {"per_hour": 5, "factor": 2.0}, ("per_hour", 6, 0.0)),
    ("factor when per_hour does not hold", times(4, RECENT),
     {"per_hour": 5, "factor": 2.0}, ("factor", 4, 0.0)),
    ("no rule, no spike", times(50, RECENT), {}, None),
    ("nothing received", [], {"per_hour": 1, "factor": 2.0}, None),
]


@pytest.mark.parametrize(("received", "rules", "expected"), [c[1:] for c in SPIKES],
                         ids=[slug(c[0]) for c in SPIKES])
def test_spike_rules(
    received: list[datetime], rules: dict[str, object], expected: tuple[str, int, float] | None
) -> None:
    found = one(received, **rules)  # type: ignore[arg-type]
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert (found.rule, found.count, found.usual) == expected
    assert found.account == "a" and found.window == datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_several_accounts_each_against_its_own_usual() -> None:
    received = {
        "quiet": times(3, RECENT),  # 3 after silence: a factor spike
        # 6 in the 2 hours before the last: usual 3/h, so 4 is not a spike (not > 2 × 3).
        "busy": [*times(6, NOW - 3 * H + 10 * M, 20 * M), *times(4, RECENT)],
        "loud": times(7, RECENT),  # over per_hour
        "none": [],
    }
    found = spikes(received, NOW, per_hour=6, factor=2.0, baseline=BASELINE, min_items=3)
    assert [(s.account, s.rule, s.count, s.usual) for s in found] == [
        ("loud", "per_hour", 7, 0.0),
        ("quiet", "factor", 3, 0.0),
    ]


def test_a_zero_baseline_has_no_usual() -> None:
    found = spikes({"a": times(3, RECENT)}, NOW, per_hour=None, factor=2.0,
                   baseline=timedelta(0), min_items=3)
    assert [(s.rule, s.usual) for s in found] == [("factor", 0.0)]


@pytest.mark.parametrize(("at", "hour"), [
    (datetime(2026, 12, 1, 8, 0, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC)),
    (datetime(2026, 12, 1, 8, 59, 59, 999999, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC)),
    (datetime(2026, 12, 1, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)),
])
def test_the_window_is_the_clock_hour(at: datetime, hour: datetime) -> None:
    assert window_of(at) == hour
