"""Regenerate docs/web-calendar.png and docs/web-preview.png: ``python docs/make_web_example.py``.

It copies the example (``examples/publisher.toml``, ``queue.yaml`` and its media) into a
scratch directory, serves its web view on 127.0.0.1 with the clock set to the Monday of the
example's week, and photographs two pages with the distribution's chromium (``apt-get install
chromium``), driven by Playwright, as the browser tests do.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from playwright.async_api import async_playwright

from publisher.clock import FakeClock
from publisher.config import SecretPolicy, load_config
from publisher.web.app import View, add_routes

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))
SHOTS = {
    "web-calendar.png": "/calendar?view=week&at=2026-12-01",
    "web-preview.png": "/preview?post=workshop-announcement",
}


async def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium: apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        shutil.copytree(ROOT / "examples" / "media", tmp / "media")
        for name in ("publisher.toml", "queue.yaml"):
            shutil.copy(ROOT / "examples" / name, tmp / name)
        config = load_config(tmp / "publisher.toml", secrets=SecretPolicy.WARN)
        app = web.Application()
        add_routes(app, View(config, FakeClock(NOW), None))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                for name, path in SHOTS.items():
                    await page.goto(f"http://127.0.0.1:{port}{path}")
                    if name == "web-preview.png":  # one payload shown, as a reader opens it
                        await page.locator("summary").first.click()
                    await page.screenshot(path=str(ROOT / "docs" / name), full_page=True)
                    print(f"docs/{name}")
                await browser.close()
        finally:
            await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
