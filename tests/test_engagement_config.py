"""``engagement`` per account in publisher.toml: ages, true/false, the network's default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from publisher.config import SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError

HEADER = 'database = "sqlite:///q.db"\n\n'
MASTODON = (
    '[accounts.masto]\nnetwork = "mastodon"\ninstance = "https://m.example"\ntoken = "${T}"\n'
)


def load(tmp_path: Path, text: str) -> dict[str, list[str]]:
    path = tmp_path / "publisher.toml"
    path.write_text(HEADER + text, encoding="utf-8")
    config = load_config(path, secrets=SecretPolicy.WARN)
    return {n: [a.label for a in acc.engagement] for n, acc in config.accounts.items()}


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InvalidFileError) as info:
        load(tmp_path, text)
    return [str(d) for d in info.value.errors]


def test_on_by_default_where_the_network_reads(tmp_path: Path) -> None:
    text = MASTODON + '\n[accounts.demo]\nnetwork = "log"\n'
    assert load(tmp_path, text) == {"masto": ["1h", "24h", "7d", "30d"], "demo": []}


def test_true_false_and_ages_sorted(tmp_path: Path) -> None:
    assert load(tmp_path, MASTODON + "engagement = true\n") == {"masto": ["1h", "24h", "7d", "30d"]}
    assert load(tmp_path, MASTODON + "engagement = false\n") == {"masto": []}
    text = MASTODON + 'engagement = ["7d", "90m", "2 h"]\n'
    path = tmp_path / "publisher.toml"
    assert load(tmp_path, text) == {"masto": ["90m", "2h", "7d"]}
    ages = load_config(path, secrets=SecretPolicy.WARN).accounts["masto"].engagement
    assert [a.age for a in ages] == [timedelta(minutes=90), timedelta(hours=2), timedelta(days=7)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["1h", "60m"]', "'60m' is the same age as '1h'"),
        ('["1h", "soon"]', "'soon' is not a duration (examples: 90s, 30m, 2h, 1h30m, 7d)"),
        ('["30s"]', "'30s' is too soon: ages start at 1m"),
        ("[]", "no ages: write engagement = false to collect nothing"),
    ],
)
def test_bad_ages_say_where_and_why(tmp_path: Path, value: str, message: str) -> None:
    [error] = errors(tmp_path, MASTODON + f"engagement = {value}\n")
    assert error.endswith(f"publisher.toml:7:1: accounts.masto.engagement: {message}")


def test_a_network_that_cannot_read_refuses_ages(tmp_path: Path) -> None:
    [error] = errors(tmp_path, '[accounts.demo]\nnetwork = "log"\nengagement = ["1h"]\n')
    assert error.endswith(
        "publisher.toml:5:1: accounts.demo.engagement: log cannot read engagement"
    )
    # false is fine: nothing to read.
    assert load(tmp_path, '[accounts.demo]\nnetwork = "log"\nengagement = false\n') == {"demo": []}


def test_not_a_list_or_a_boolean(tmp_path: Path) -> None:
    found = errors(tmp_path, MASTODON + 'engagement = "yes"\n')
    assert found and all(":7:1: accounts.masto.engagement" in e for e in found)
