"""Editors' times: offsets, Z, local wall-clock times, and the two DST traps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.config import SecretPolicy, load_config
from publisher.diagnostics import Severity
from publisher.queuefile import parse_queue
from publisher.secrets import SecretSource
from publisher.times import TimeFormatError, localize, parse_time
from tests.broken_cases import BASE_CONFIG, dedent

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T09:00:00+01:00", utc(2026, 12, 1, 8, 0)),
        ("2026-12-01T09:00+01:00", utc(2026, 12, 1, 8, 0)),
        ("2026-12-01 09:00 +01:00", utc(2026, 12, 1, 8, 0)),
        ("2026-12-01T09:00:00+0530", utc(2026, 12, 1, 3, 30)),
        ("2026-12-01T09:00:00+05", utc(2026, 12, 1, 4, 0)),
        ("2026-12-01T09:00:00-05:00", utc(2026, 12, 1, 14, 0)),
        ("2026-12-01T09:00:00Z", utc(2026, 12, 1, 9, 0)),
        ("2026-12-01T09:00Z", utc(2026, 12, 1, 9, 0)),
        ("2026-12-01t09:00z", utc(2026, 12, 1, 9, 0)),
        ("2026-12-01T09:00:00.250Z", utc(2026, 12, 1, 9, 0, 0, 250_000)),
        # An explicit offset is taken as written, even inside a DST gap: no guessing.
        ("2026-03-29T02:30:00+01:00", utc(2026, 3, 29, 1, 30)),
    ],
)
def test_offsets_and_z(text: str, expected: datetime) -> None:
    for zone in (PARIS, NEW_YORK):
        resolved = parse_time(text, zone)
        assert resolved.at == expected
        assert resolved.at.tzinfo is UTC
        assert resolved.warning is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01 09:00",
        "2026-12-01T09:00",
        "2026-12-01 09:00:00",
        "2026-12-01T09:00:00",
        " 2026-12-01 09:00 ",
        "2026-12-01 9:00",
    ],
)
def test_local_forms_are_the_same_instant(text: str) -> None:
    assert parse_time(text, PARIS).at == utc(2026, 12, 1, 8, 0)  # CET, +01:00
    assert parse_time(text, NEW_YORK).at == utc(2026, 12, 1, 14, 0)  # EST, -05:00


def test_summer_local_time() -> None:
    assert parse_time("2026-07-14 10:00", PARIS).at == utc(2026, 7, 14, 8, 0)  # CEST
    assert parse_time("2026-07-04 10:00", NEW_YORK).at == utc(2026, 7, 4, 14, 0)  # EDT


def test_datetime_values_mean_the_same_as_text() -> None:
    """A loader that resolves YAML timestamps must not change what a time means."""
    naive = datetime(2026, 12, 1, 9, 0)
    assert parse_time(naive, PARIS).at == parse_time("2026-12-01 09:00", PARIS).at
    aware = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert parse_time(aware, PARIS).at == utc(2026, 12, 1, 9, 0)
    with pytest.raises(TimeFormatError, match="has no time of day"):
        parse_time(date(2026, 12, 1), PARIS)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-12-01", "has no time of day"),
        ("2026-02-30 09:00", "day is out of range"),
        ("2026-12-01 24:00", "hour must be in 0..23"),
        ("2026-12-01 09:60", "minute must be in 0..59"),
        ("9am", "is not a date and time"),
        ("01/12/2026 09:00", "is not a date and time"),
        ("2026-12-01 09:00 CET", "is not a date and time"),
        ("2026-12-01T09:00+25:00", "is not a UTC offset"),
        ("", "is not a date and time"),
        (1_700_000_000, "expected a date and time as text"),
    ],
)
def test_malformed_times(text: object, fragment: str) -> None:
    with pytest.raises(TimeFormatError, match=fragment):
        parse_time(text, PARIS)


# --- DST: the spring gap moves forward, the autumn overlap takes the first occurrence.


@pytest.mark.parametrize(
    ("zone", "text", "instant", "local"),
    [
        (PARIS, "2026-03-29 02:30", utc(2026, 3, 29, 1, 30), "03:30 (+02:00)"),
        (PARIS, "2026-03-29 02:00", utc(2026, 3, 29, 1, 0), "03:00 (+02:00)"),
        (PARIS, "2026-03-29 02:59", utc(2026, 3, 29, 1, 59), "03:59 (+02:00)"),
        (NEW_YORK, "2026-03-08 02:30", utc(2026, 3, 8, 7, 30), "03:30 (-04:00)"),
    ],
)
def test_gap_moves_forward_with_a_warning(
    zone: ZoneInfo, text: str, instant: datetime, local: str
) -> None:
    resolved = parse_time(text, zone)
    assert resolved.at == instant
    assert resolved.warning is not None
    assert "does not exist" in resolved.warning and local in resolved.warning
    assert resolved.at.astimezone(zone).strftime("%H:%M") == local[:5]


@pytest.mark.parametrize(
    ("zone", "text", "instant", "offset"),
    [
        (PARIS, "2026-10-25 02:30", utc(2026, 10, 25, 0, 30), "+02:00"),
        (PARIS, "2026-10-25 02:00", utc(2026, 10, 25, 0, 0), "+02:00"),
        (NEW_YORK, "2026-11-01 01:30", utc(2026, 11, 1, 5, 30), "-04:00"),
    ],
)
def test_ambiguous_takes_the_first_occurrence(
    zone: ZoneInfo, text: str, instant: datetime, offset: str
) -> None:
    resolved = parse_time(text, zone)
    assert resolved.at == instant
    assert resolved.warning is not None
    assert "happens twice" in resolved.warning and offset in resolved.warning
    # The second occurrence is one hour later: we took the earlier one.
    second = datetime.fromisoformat(text).replace(tzinfo=zone, fold=1).astimezone(UTC)
    assert second - resolved.at == timedelta(hours=1)


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        (PARIS, "2026-03-29 03:00"),
        (PARIS, "2026-03-29 01:59"),
        (PARIS, "2026-10-25 03:00"),
        (PARIS, "2026-10-25 01:59"),
        (NEW_YORK, "2026-03-08 03:00"),
        (NEW_YORK, "2026-11-01 02:00"),
        (NEW_YORK, "2026-11-01 00:59"),
    ],
)
def test_times_next_to_a_transition_need_no_warning(zone: ZoneInfo, text: str) -> None:
    resolved = parse_time(text, zone)
    assert resolved.warning is None
    assert resolved.at.astimezone(zone).strftime("%Y-%m-%d %H:%M") == text


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    st.sampled_from([PARIS, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe")]),
)
def test_localize_property(naive: datetime, zone: ZoneInfo) -> None:
    """Aware UTC out; the wall time survives unless a warning says why it moved."""
    resolved = localize(naive, zone)
    assert resolved.at.tzinfo is UTC
    wall = resolved.at.astimezone(zone).replace(tzinfo=None)
    if resolved.warning is None:
        assert wall == naive
    elif "does not exist" in resolved.warning:
        assert wall > naive  # forward, by the size of the gap
        before = naive.replace(tzinfo=zone, fold=0).utcoffset()
        after = naive.replace(tzinfo=zone, fold=1).utcoffset()
        assert before is not None and after is not None
        assert wall - naive == abs(after - before)
    else:
        assert wall == naive
        other = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        assert resolved.at < other  # the first occurrence


# --- In a file: warnings with their positions, the file still accepted.


def test_warnings_in_a_queue_file_point_at_the_value(tmp_path: Path) -> None:
    (tmp_path / "publisher.toml").write_text(BASE_CONFIG)
    config = load_config(
        tmp_path / "publisher.toml", secrets=SecretPolicy.REQUIRE, source=SecretSource({}, None)
    )
    text = dedent("""
        posts:
          - id: spring
            at: 2026-03-29 02:30
            accounts: [brand-a]
            text: hi
          - id: autumn
            at: 2026-10-25 01:00
            not_after: 2026-10-25 02:30
            accounts: [brand-a]
            text: hi
    """)
    queue = parse_queue(text, tmp_path / "queue.yaml", config)
    assert [(d.line, d.column, d.field, d.severity) for d in queue.warnings] == [
        (3, 9, "posts[0].at", Severity.WARNING),
        (8, 16, "posts[1].not_after", Severity.WARNING),
    ]
    assert "does not exist in Europe/Paris" in queue.warnings[0].message
    assert "happens twice in Europe/Paris" in queue.warnings[1].message
    assert str(queue.warnings[0]).startswith(f"{tmp_path / 'queue.yaml'}:3:9: warning: ")
    spring, autumn = queue.posts
    assert spring.at == utc(2026, 3, 29, 1, 30)
    assert autumn.not_after == utc(2026, 10, 25, 0, 30)
    for post in queue.posts:
        for t in (post.at, post.not_after):
            assert t is None or t.tzinfo is UTC
