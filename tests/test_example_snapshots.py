"""Snapshots of the exact payloads each network would receive for the bundled example.

Regenerate after an intended change with ``UPDATE_SNAPSHOTS=1 scripts/test -k snapshot`` and
review the diff like any other change: it is what goes out to the networks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from publisher.adapters.base import AdapterContext
from publisher.clock import FakeClock
from publisher.config import SecretPolicy, load_config
from publisher.engine.runtime import LIVE, build_adapters
from publisher.queuefile import load_queue
from tests.conftest import T0
from tests.paths import ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "example_payloads.json"


def rendered_example() -> list[dict[str, Any]]:
    config = load_config(ROOT / "examples" / "publisher.toml", secrets=SecretPolicy.WARN)
    queue = load_queue(config.queue_path, config)
    adapters = build_adapters(config, AdapterContext(session=None, clock=FakeClock(T0)), LIVE)
    out = []
    for post in queue.posts:
        for account in post.accounts:
            r = adapters[account].render(post.content_for(config.accounts[account]))
            out.append(
                {
                    "post": post.id,
                    "account": account,
                    "network": r.network,
                    "limit": r.limit,
                    "parts": [{"length": p.length, "payload": p.payload} for p in r.parts],
                    "warnings": list(r.warnings),
                    "errors": list(r.errors),
                }
            )
    return out


def test_example_payloads_match_the_snapshot() -> None:
    current = json.loads(json.dumps(rendered_example(), ensure_ascii=False, default=str))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(
            json.dumps(current, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == expected


def test_example_renders_without_errors_and_threads_in_order() -> None:
    rendered = rendered_example()
    assert not [r for r in rendered if r["errors"]]
    thread = [
        r for r in rendered if r["post"] == "behind-the-scenes-thread" and r["network"] == "x"
    ]
    [x] = thread
    texts = [p["payload"]["text"] for p in x["parts"]]
    assert len(texts) >= 4
    assert [t.rsplit("(", 1)[1] for t in texts] == [
        f"{i}/{len(texts)})" for i in range(1, len(texts) + 1)
    ]
    assert all("reply" in p["payload"] for p in x["parts"][1:])
