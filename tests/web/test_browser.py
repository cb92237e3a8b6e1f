"""The web view in a real headless browser: Debian's chromium, driven by Playwright.

One browser for the module. Without chromium the tests skip, saying so, except where
``PUBLISHER_REQUIRE_BROWSER=1`` (CI: ``scripts/test`` installs it, and a skip would hide a
broken view), where they fail.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.commands.calendar import events, states_of, texts_for
from publisher.commands.checks import render_adapters, render_deliveries
from publisher.commands.dryrun import delivery_json, payload_text
from publisher.commands.plan import PlanView, current_plan
from publisher.config import Config
from tests.web.site import FAILED_ERROR, NOW, PARIS, config_of, example, in_thread, seed, served

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "axe" / "axe.min.js"
PAGES = [
    "/",
    "/calendar?view=week&at=2026-12-01",
    "/calendar?view=month&at=2026-12-01",
    "/preview?post=behind-the-scenes-thread",
    "/preview?post=winter-sale-launch",
    "/preview?post=too-long-for-x",
    "/status",
    "/audit",
]


def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        reason = "Debian's chromium is not installed (apt-get install chromium; scripts/test does)"
        if os.environ.get("PUBLISHER_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + ": PUBLISHER_REQUIRE_BROWSER=1 (CI) must run the browser tests")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Config]]:
    config = config_of(example(tmp_path_factory.mktemp("site")))
    seed(config)
    with served(config) as url:
        yield url, config


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # bypass_csp: the pages allow only their own scripts; the test injects axe-core.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def plan(config: Config) -> PlanView:
    return in_thread(current_plan(config, NOW.astimezone(PARIS)))


def test_the_calendar_shows_every_post_at_its_local_time(
    page: Any, site: tuple[str, Config]
) -> None:
    url, config = site
    view = plan(config)
    found = events(
        view.planned, texts_for(config, view.queue.posts, view.planned), states_of(view.index)
    )
    start = NOW.replace(hour=0)
    week = [e for e in found if start <= e.at < start + timedelta(days=7)]
    assert {e.post_id for e in week} >= {
        "winter-sale-launch",
        "behind-the-scenes-thread",
        "last-chance",
        "too-long-for-x",
    }
    for span in ("week", "month"):
        page.goto(f"{url}/calendar?view={span}&at=2026-12-01")
        assert "Europe/Paris" in page.inner_text(".zone")
        for e in week:
            local = e.at.astimezone(PARIS)
            times = page.locator(
                f'td[data-date="{local.date().isoformat()}"] li.entry[data-post="{e.post_id}"] '
                "> time"
            ).all_inner_texts()
            assert local.strftime("%H:%M") in times, (span, e.post_id, local, times)
    page.goto(f"{url}/calendar?view=week&at=2026-12-01")
    launch = page.locator('td[data-date="2026-12-01"] li.entry[data-post="winter-sale-launch"]')
    assert launch.locator("> time").inner_text() == "09:00"
    accounts = launch.locator(".accounts").inner_text()
    assert "brand-x: failed" in accounts and "brand-masto: sent" in accounts
    assert "brand-fb: scheduled" in accounts
    thread = page.locator(
        'td[data-date="2026-12-02"] li.entry[data-post="behind-the-scenes-thread"]'
    )
    assert thread.locator("> time").inner_text() == "18:00"
    # The calendar's own links, by keyboard: "n" goes to the next week.
    page.keyboard.press("n")
    page.wait_for_url("**at=2026-12-07")


def _dry_run(config: Config, post: str, account: str) -> dict[str, Any]:
    """What ``publisher dry-run --json`` says of the post's delivery to the account."""
    view = plan(config)
    chosen = [p for p in view.planned if p.post_id == post and p.account == account][:1]
    (checked,) = render_deliveries(chosen, view.queue.posts, config, render_adapters(config))
    return delivery_json(checked.planned, checked.rendered, config)


def test_a_thread_preview_shows_its_parts_and_counts(page: Any, site: tuple[str, Config]) -> None:
    url, config = site
    expected = _dry_run(config, "behind-the-scenes-thread", "brand-x")
    parts = expected["parts"]
    assert len(parts) > 1
    page.goto(f"{url}/preview?post=behind-the-scenes-thread")
    card = page.locator("article.card", has=page.locator("h2", has_text="brand-x"))
    shown = card.locator("section.part")
    assert shown.count() == len(parts)
    for i, part in enumerate(parts):
        section = shown.nth(i)
        heading = section.locator("h4").inner_text()
        assert heading.startswith(f"part {i + 1} of {len(parts)}")
        assert f"{part['length']} / {part['limit']} characters" in heading
        assert section.locator("p.text").inner_text() == part["text"].strip()
        payload = section.locator("pre code")
        assert not payload.is_visible()  # behind its disclosure
        section.locator("summary").focus()
        page.keyboard.press("Enter")
        assert payload.is_visible()
        assert payload.text_content() == payload_text(part["payload"])  # byte for byte


def test_a_post_with_an_error_shows_it(page: Any, site: tuple[str, Config]) -> None:
    url, config = site
    expected = _dry_run(config, "too-long-for-x", "brand-x")
    assert expected["errors"]
    lines = config.queue_path.read_text(encoding="utf-8").splitlines()
    start = lines.index("  - id: too-long-for-x")
    text_line = (
        next(n for n in range(start, len(lines)) if lines[n].strip().startswith("text:")) + 1
    )
    page.goto(f"{url}/preview?post=too-long-for-x")
    errors = page.locator("section.errors")
    assert errors.is_visible()
    said = errors.inner_text()
    for message in expected["errors"]:
        assert message in said
    assert f"queue.yaml:{text_line}:" in said
    assert page.locator("section.part.over").count() == 1


def test_the_status_page_lists_a_failed_delivery(page: Any, site: tuple[str, Config]) -> None:
    url, _ = site
    page.goto(f"{url}/status")
    table = page.locator("table", has=page.locator("caption", has_text="Failed"))
    row = table.locator("tbody tr")
    assert row.count() == 1
    text = row.inner_text()
    assert "winter-sale-launch" in text and "brand-x" in text and FAILED_ERROR in text


def _not_blank(png: bytes) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    assert high - low > 100  # ink on paper, not one flat colour
    histogram = image.histogram()
    assert max(histogram) < 0.98 * sum(histogram)  # more than a stray mark


def test_every_page_draws_and_passes_the_accessibility_check(
    page: Any, site: tuple[str, Config]
) -> None:
    url, _ = site
    axe = AXE.read_text(encoding="utf-8")
    for path in PAGES:
        response = page.goto(url + path)
        assert response is not None and response.status == 200, path
        _not_blank(page.screenshot(full_page=True))
        page.add_script_tag(content=axe)
        result = page.evaluate("async () => await axe.run(document)")
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, (path, serious)
        images = page.locator("img")
        for i in range(images.count()):
            assert images.nth(i).get_attribute("alt"), path  # every image says what it shows
            assert images.nth(i).evaluate("img => img.naturalWidth") > 0, path  # and loads


def test_the_pages_work_from_the_keyboard(page: Any, site: tuple[str, Config]) -> None:
    url, _ = site
    page.goto(url + "/status")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the first link of the content
    assert page.evaluate("document.activeElement.tagName") == "A"


def test_the_pages_work_without_javascript(browser: Any, site: tuple[str, Config]) -> None:
    url, _ = site
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{url}/calendar?view=month&at=2026-12-01")
        assert page.locator('li.entry[data-post="last-chance"]').count() == 1
        page.click("text=Next month →")
        page.wait_for_url("**at=2027-01-01")
        page.goto(f"{url}/preview?post=behind-the-scenes-thread")
        summary = page.locator("summary").first
        summary.click()  # a disclosure is HTML's own
        assert page.locator("pre code").first.is_visible()
    finally:
        context.close()
