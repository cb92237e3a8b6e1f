"""Link tracking: UTM parameters on each network, counted, idempotent, and links left alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.utm import check_values, parameters, tag_text, tag_url

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
P = (("utm_source", "x"), ("utm_medium", "social"))


@pytest.mark.parametrize(
    ("url", "tagged"),
    [
        ("https://example.com/a", "https://example.com/a?utm_source=x&utm_medium=social"),
        ("https://example.com/a?b=1", "https://example.com/a?b=1&utm_source=x&utm_medium=social"),
        ("https://example.com/a#top", "https://example.com/a?utm_source=x&utm_medium=social#top"),
        ("http://example.com", "http://example.com?utm_source=x&utm_medium=social"),
        # The editor's own tracking wins: nothing added, nothing doubled.
        ("https://example.com/a?utm_campaign=mine", "https://example.com/a?utm_campaign=mine"),
        ("https://example.com/a?UTM_Source=mine", "https://example.com/a?UTM_Source=mine"),
        ("ftp://example.com/file", "ftp://example.com/file"),
    ],
)
def test_tag_url(url: str, tagged: str) -> None:
    assert tag_url(url, P) == tagged
    assert tag_url(tagged, P) == tagged  # idempotent


def test_tag_text_tags_links_with_a_protocol_and_leaves_the_rest() -> None:
    text = ("Sale! https://shop.example.com/sale, and (https://blog.example.com/post). "
            "See example.org too. https://keep.example.com/x stays.")
    out = tag_text(text, P, keep=("https://keep.example.com/",))
    assert out == (
        "Sale! https://shop.example.com/sale?utm_source=x&utm_medium=social, and "
        "(https://blog.example.com/post?utm_source=x&utm_medium=social). "
        "See example.org too. https://keep.example.com/x stays."
    )
    assert tag_text(out, P, keep=("https://keep.example.com/",)) == out
    assert tag_text(text, ()) == text


def test_parameters_fill_placeholders_and_prefix_bare_names() -> None:
    params = {"source": "{network}", "utm_medium": "social", "campaign": "{post_id}-{account}",
              "content": ""}
    assert parameters(params, post_id="p1", account="brand-x", network="x") == (
        ("utm_source", "x"), ("utm_medium", "social"), ("utm_campaign", "p1-brand-x"))


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"source": "{nope}"}, "names {nope}, which is none of"),
        ({"source": "{post_id"}, "is not a template"),
        ({"bad name": "x"}, "is not a parameter name"),
    ],
)
def test_bad_parameters(params: dict[str, str], problem: str) -> None:
    found = check_values(params)
    assert found is not None and problem in found


QUEUE = """\
posts:
  - id: sale
    at: 2027-01-04 09:00
    accounts: [brand-x, brand-fb, brand-masto, brand-bsky, team-log]
    text: |-
      Winter sale https://example.com/sale and our blog https://blog.example.com/p?id=3
      Press kit: https://press.example.com/kit
    keep_links: [https://press.example.com/]
    link:
      url: https://example.com/sale
      title: Winter sale
"""


def project(tmp_path: Path, utm: str) -> Path:
    shutil.copytree(EXAMPLES / "media", tmp_path / "media")
    cfg = tmp_path / "publisher.toml"
    text = (EXAMPLES / "publisher.toml").read_text(encoding="utf-8")
    cfg.write_text(text.replace("queue.yaml", "queue.yaml") + "\n" + utm, encoding="utf-8")
    (tmp_path / "queue.yaml").write_text(QUEUE, encoding="utf-8")
    return cfg


UTM = """
[utm.x]
source = "x"
medium = "social"
campaign = "{post_id}"
[utm.mastodon]
source = "mastodon"
campaign = "{post_id}"
[utm.bluesky]
source = "bluesky"
[utm.facebook]
source = "facebook"
[utm.log]
source = "log"
[accounts.brand-masto.utm]
source = "masto-{account}"
medium = "social"
"""


def dry_run(cfg: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    assert main(["dry-run", "--config", str(cfg), "--json", "--from", "2027-01-01"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {d["account"]: d for d in doc["deliveries"]}


def test_every_network_gets_its_parameters_counted_by_its_own_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_account = dry_run(project(tmp_path, UTM), capsys)
    expected = {
        "brand-x": "utm_source=x&utm_medium=social&utm_campaign=sale",
        "brand-masto": "utm_source=masto-brand-masto&utm_campaign=sale&utm_medium=social",
        "brand-bsky": "utm_source=bluesky",
        "brand-fb": "utm_source=facebook",
        "team-log": "utm_source=log",
    }
    from tests.text.rules import DECLARED, mastodon

    rules = {"brand-x": DECLARED["x"].count, "brand-bsky": DECLARED["bluesky"].count,
             "brand-fb": DECLARED["facebook"].count, "brand-masto": mastodon(500).count,
             "team-log": DECLARED["log"].count}
    for account, query in expected.items():
        d = by_account[account]
        parts = d["parts"]
        assert isinstance(parts, list)
        text = parts[0]["text"]
        assert f"https://example.com/sale?{query}" in text, (account, text)
        assert f"https://blog.example.com/p?id=3&{query}" in text, (account, text)
        assert "https://press.example.com/kit\n" in text + "\n", (account, text)  # kept
        assert text.count("utm_source") == 2
        # The length shown is the network's own count of the tagged text.
        assert parts[0]["length"] == rules[account](text), account
    # X counts every URL as 23, whatever its parameters; Bluesky counts every character.
    plain = dry_run(project(tmp_path / "plain", ""), capsys)
    assert by_account["brand-x"]["parts"][0]["length"] == plain["brand-x"]["parts"][0]["length"]
    assert by_account["brand-bsky"]["parts"][0]["length"] > plain["brand-bsky"]["parts"][0][
        "length"]
    # The link card's address is tracked too (Facebook shows it).
    assert "utm_source=facebook" in json.dumps(by_account["brand-fb"]["parts"][0]["payload"])


def test_a_link_made_too_long_by_its_parameters_is_an_error_validate_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_campaign = "[utm.bluesky]\ncampaign = \"" + "c" * 290 + "\"\n"
    cfg = project(tmp_path, long_campaign)
    (tmp_path / "queue.yaml").write_text(
        "posts:\n  - id: p\n    at: 2027-01-04 09:00\n    accounts: [brand-bsky]\n"
        "    thread: off\n    text: Read https://example.com/a\n",
        encoding="utf-8",
    )
    assert main(["validate", "--config", str(cfg)]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "queue.yaml:6:" in out and "brand-bsky" in out and "300" in out, out


def test_bad_utm_config_is_reported_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project(tmp_path, "[accounts.brand-x.utm]\nsource = \"{postid}\"\n")
    assert main(["validate", "--config", str(cfg)]) == 1
    captured = capsys.readouterr()
    assert "publisher.toml:" in captured.out + captured.err
    assert "{postid}, which is none of" in captured.out + captured.err
