"""Item 2 of issue 19: a long post renders off the event loop.

Splitting a text of ``MAX_TEXT_CHARS`` into a thread takes a while even in linear time; run on
the loop it stopped everything else (``/healthz``, other posts, the watchdog) for as long.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from publisher.adapters.base import PostContent
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.limits import MAX_TEXT_CHARS
from publisher.store import Store
from tests.conftest import T0, Project, eventually, recording_adapters

# Emoji: every code point is a grapheme to segment, the log network's count; 65,536 of them
# make a thread of a few hundred parts.
LONG_TEXT = "\U0001f600" * MAX_TEXT_CHARS


async def test_item2_the_loop_keeps_ticking_while_a_long_post_renders(
    project: Project, clock: FakeClock
) -> None:
    project.write_queue(
        f"""\
        posts:
          - id: long
            at: 2026-12-01 09:00
            accounts: [alpha]
            text: "{LONG_TEXT}"
        """
    )
    config = project.config()
    adapters = recording_adapters(config, clock)
    alpha = adapters["alpha"]
    # What one render of this post costs here, on this machine, right now (warm: the first
    # render in a process also loads the text layer's tables).
    render_time = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        alpha.render(PostContent("long", "alpha", "log", LONG_TEXT))
        render_time = min(render_time, time.perf_counter() - started)

    store = await Store.open(project.database)
    engine = Engine(config, store, clock, adapters, LIVE, EngineOptions(rand=lambda: 0.5))
    task = asyncio.create_task(engine.run())
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.005)

    ticker: asyncio.Task[None] | None = None
    try:
        await eventually(lambda: engine.last_pass is not None)  # synced, waiting for 09:00
        ticker = asyncio.create_task(tick())
        await eventually(lambda: len(ticks) >= 3)  # ticking before the post is due
        await clock.set(T0)
        await eventually(lambda: alpha.calls, timeout=max(60.0, 10 * render_time))
        seen = len(ticks)  # and the ticks that follow, which end any stop the render caused
        await eventually(lambda: len(ticks) > seen + 1)
    finally:
        if ticker is not None:
            ticker.cancel()
        engine.stop()
        await asyncio.wait_for(task, 30)
        await store.close()
    [call] = alpha.calls
    assert len(call.texts) > 100  # it was split: the render did run, meanwhile
    longest_stop = max(b - a for a, b in itertools.pairwise(ticks))
    # On the loop, the render would stop the ticks for all of render_time; off it, the loop
    # only waits its turn for the interpreter lock (a switch interval, or one scan of a few
    # milliseconds): ~10-20 ms here against ~300 ms.
    assert longest_stop < render_time / 2, (longest_stop, render_time)
