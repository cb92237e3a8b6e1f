"""``publisher feed import``: RSS 2.0 and Atom from a local HTTP server, imported twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from publisher.cli import main
from publisher.feeds import FeedError, append_posts, check_template, parse_feed
from publisher.testing.servers import LocalServer

FEEDS = Path(__file__).parent / "fixtures" / "feeds"

QUEUE = """\
# The team's plan.
defaults:
  accounts: [a]

posts:
  - id: existing
    at: 2027-01-04 09:00
    text: |
      Written by hand.
      Kept as written.
"""


def write(tmp_path: Path) -> Path:
    cfg = tmp_path / "publisher.toml"
    cfg.write_text(
        f'database = "sqlite:///{tmp_path / "queue.db"}"\n'
        'timezone = "Europe/Paris"\n'
        '[accounts.a]\nnetwork = "log"\nslots = ["mon 10:00"]\n'
        '[accounts.b]\nnetwork = "log"\nslots = ["tue 10:00"]\n',
        encoding="utf-8",
    )
    (tmp_path / "queue.yaml").write_text(QUEUE, encoding="utf-8")
    return cfg


class Feeds:
    """A site whose documents a test replaces between imports."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}
        self.app = web.Application()
        self.app.router.add_get("/{name}", self._get)

    async def _get(self, request: web.Request) -> web.Response:
        body = self.docs.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="application/xml")


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def queue_ids(path: Path) -> list[str]:
    import yaml

    return [p["id"] for p in yaml.safe_load(path.read_text(encoding="utf-8"))["posts"]]


async def test_rss_imported_twice_imports_each_item_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path)
    queue = tmp_path / "queue.yaml"
    site = Feeds()
    site.docs["blog.rss"] = (FEEDS / "blog.rss").read_bytes()
    async with LocalServer(site.app) as server:
        url = f"{server.url}/blog.rss"
        assert await cli("feed", "import", url, "--config", str(cfg), "--account", "a",
                         "--account", "b", "--text", "{title} {link}") == 0
        assert "2 new item(s)" in capsys.readouterr().out
        text = queue.read_text(encoding="utf-8")
        assert text.startswith(QUEUE)  # what was there is kept byte for byte
        ids = queue_ids(queue)
        assert ids[0] == "existing" and len(ids) == 3
        assert f"# from {url}" in text
        assert "text: Mending & darning, a primer https://example.com/blog/mending" in text
        assert text.index("Mending") < text.index("Winter opening")  # oldest first
        assert await cli("validate", "--config", str(cfg)) == 0

        # The second run: one new item in the feed, the two others already imported.
        site.docs["blog.rss"] = (FEEDS / "blog-later.rss").read_bytes()
        assert await cli("feed", "import", url, "--config", str(cfg), "--account", "a") == 0
        out = capsys.readouterr().out
        assert "1 new item(s)" in out and "2 already imported" in out
        assert len(queue_ids(queue)) == 4
        assert "Gift cards are back" in queue.read_text(encoding="utf-8")

        # An editor deletes an imported post: it does not come back.
        lines = queue.read_text(encoding="utf-8")
        start = lines.index(f"# from {url}")
        queue.write_text(lines[:start], encoding="utf-8")
        assert await cli("feed", "import", url, "--config", str(cfg), "--account", "a") == 0
        assert "0 new item(s)" in capsys.readouterr().out
        assert queue_ids(queue) == ["existing"]
        memory = json.loads((tmp_path / "queue.yaml.feeds.json").read_text(encoding="utf-8"))
        assert memory["feeds"][url]["guids"] == ["blog-1", "blog-2", "blog-3"]


async def test_atom_into_a_separate_file_for_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path)
    review = tmp_path / "from-feeds.yaml"
    site = Feeds()
    site.docs["news.atom"] = (FEEDS / "news.atom").read_bytes()
    async with LocalServer(site.app) as server:
        url = f"{server.url}/news.atom"
        argv = ("feed", "import", url, "--config", str(cfg), "--into", str(review),
                "--account", "b", "--text", "{feed}: {title}\n{summary}\n{link} ({author})")
        assert await cli(*argv) == 0
        assert await cli(*argv) == 0  # twice: nothing more
    import yaml

    doc = yaml.safe_load(review.read_text(encoding="utf-8"))
    (post,) = doc["posts"]
    assert post["accounts"] == ["b"] and "at" not in post  # b's slots decide
    assert post["text"] == (
        "Atelier news: Workshop on Saturday\n"
        "Learn to mend your favourite sweaters with us.\n"
        "https://example.com/news/workshop (Camille)"
    )
    assert (tmp_path / "queue.yaml").read_text(encoding="utf-8") == QUEUE


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("broken.rss", 200, "not a well-formed RSS or Atom feed"),
        ("missing.rss", 404, "HTTP 404"),
    ],
)
async def test_a_bad_feed_is_a_clear_error_and_changes_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, status: int, message: str
) -> None:
    cfg = write(tmp_path)
    site = Feeds()
    site.docs["broken.rss"] = (FEEDS / "broken.rss").read_bytes()
    async with LocalServer(site.app) as server:
        url = f"{server.url}/{name}"
        assert await cli("feed", "import", url, "--config", str(cfg), "--account", "a") == 1
    err = capsys.readouterr().err
    assert message in err, err
    assert (tmp_path / "queue.yaml").read_text(encoding="utf-8") == QUEUE
    assert not (tmp_path / "queue.yaml.feeds.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["publisher.toml", "queue.yaml"]


def test_broken_feed_names_its_line() -> None:
    with pytest.raises(FeedError, match=r"^feed.rss:\d+: not a well-formed"):
        parse_feed((FEEDS / "broken.rss").read_bytes(), "feed.rss")
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>hello</body></html>", "page.html")


async def test_posts_that_would_break_the_file_are_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path)
    # An account the config has not: refused before anything is fetched.
    assert await cli("feed", "import", str(FEEDS / "blog.rss"), "--config", str(cfg),
                     "--account", "nobody") == 1
    # A fixed time the queue parser refuses: the parser's file:line:col, nothing written.
    assert await cli("feed", "import", str(FEEDS / "blog.rss"), "--config", str(cfg),
                     "--account", "a", "--at", "someday") == 1
    err = capsys.readouterr().err
    assert "queue.yaml:" in err and "nothing was written" in err
    assert (tmp_path / "queue.yaml").read_text(encoding="utf-8") == QUEUE
    assert not (tmp_path / "queue.yaml.feeds.json").exists()


def test_templates_name_known_fields_only() -> None:
    check_template("{title} {link}")
    with pytest.raises(FeedError, match=r"\{titel\}, which is none of"):
        check_template("{titel}")
    with pytest.raises(FeedError, match="is not a template"):
        check_template("{title")


@pytest.mark.parametrize(
    ("document", "expected_start"),
    [
        ("", "posts:\n  # from u\n  - id: p\n"),
        ("posts: []\n", "posts:\n  # from u\n  - id: p\n"),
        ("defaults:\n  accounts: [a]\nposts:\n- id: q\n  text: x\n",
         "defaults:\n  accounts: [a]\nposts:\n- id: q\n  text: x\n# from u\n- id: p\n"),
        ("posts:\n    - id: q\n      text: x", "posts:\n    - id: q\n      text: x\n    # from u\n"
         "    - id: p\n"),
    ],
)
def test_append_keeps_the_files_indentation(document: str, expected_start: str) -> None:
    out = append_posts(document, [{"id": "p", "text": "two\nlines"}], "u")
    assert out.startswith(expected_start), out
    import yaml

    assert yaml.safe_load(out)["posts"][-1] == {"id": "p", "text": "two\nlines"}


def test_a_flow_list_with_posts_is_refused() -> None:
    with pytest.raises(FeedError, match="not a block list"):
        append_posts("posts: [{id: q, text: x}]\n", [{"id": "p", "text": "t"}], "u")


def _feeds_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    cfg = write(tmp_path)
    with cfg.open("a", encoding="utf-8") as fh:
        fh.write(
            '[feeds]\ninto = "review.yaml"\nevery = "1s"\n'
            f'[[feeds.source]]\nurl = "{url}"\naccounts = ["a", "b"]\n'
            'text = "{title} {link}"\n' + extra
        )
    return cfg


async def test_the_daemon_imports_configured_feeds_into_the_review_file(
    tmp_path: Path,
) -> None:
    from tests.processes import start_daemon

    site = Feeds()
    site.docs["blog.rss"] = (FEEDS / "blog.rss").read_bytes()
    async with LocalServer(site.app) as server:
        url = f"{server.url}/blog.rss"
        cfg = _feeds_config(tmp_path, url)
        review = tmp_path / "review.yaml"
        daemon = start_daemon(cfg, log=tmp_path / "daemon.log")
        try:
            for _ in range(300):
                if review.exists() and "Winter opening" in review.read_text(encoding="utf-8"):
                    break
                await asyncio.sleep(0.1)
            site.docs["blog.rss"] = (FEEDS / "blog-later.rss").read_bytes()
            for _ in range(300):
                if "Gift cards" in review.read_text(encoding="utf-8"):
                    break
                await asyncio.sleep(0.1)
        finally:
            code = await asyncio.to_thread(daemon.terminate)
        assert code == 0, daemon.output()
    import yaml

    posts = yaml.safe_load(review.read_text(encoding="utf-8"))["posts"]
    assert [p["text"].split(" https")[0] for p in posts] == [
        "Mending & darning, a primer", "Winter opening hours", "Gift cards are back"]
    assert all(p["accounts"] == ["a", "b"] for p in posts)
    assert (tmp_path / "queue.yaml").read_text(encoding="utf-8") == QUEUE  # never the queue
    assert "3 new item(s)" not in daemon.output()  # two rounds: 2, then 1
    assert "1 new item(s)" in daemon.output()


@pytest.mark.parametrize(
    ("extra_top", "message"),
    [
        ('into = "queue.yaml"', "must not be the queue file"),
        ('into = "r.yaml"\n[[feeds.source]]\nurl = "u"\naccounts = ["zed"]',
         "unknown account 'zed'"),
        ('into = "r.yaml"\n[[feeds.source]]\nurl = "u"\naccounts = ["a"]\ntext = "{nope}"',
         "{nope}, which is none of"),
        ('[[feeds.source]]\nurl = "u"\naccounts = ["a"]', "needs [feeds] into"),
    ],
)
def test_feeds_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra_top: str, message: str
) -> None:
    cfg = write(tmp_path)
    with cfg.open("a", encoding="utf-8") as fh:
        fh.write("[feeds]\n" + extra_top + "\n")
    assert main(["validate", "--config", str(cfg)]) == 1
    err = capsys.readouterr()
    assert "publisher.toml:" in err.out + err.err and message in err.out + err.err, err
