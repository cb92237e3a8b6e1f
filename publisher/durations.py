"""Human durations ("30m", "2h", "1h30m", "90s", "7d") used by the config files."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# Far above any sensible setting, far below where adding it to a date could overflow
# (datetime stops at year 9999): a longer duration is a typo, refused where it is written.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """Parse "1h30m"-style text; raise ValueError with the accepted forms otherwise."""
    s = text.strip().lower().replace(" ", "")
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"{_shown(text)} is not a duration (examples: 90s, 30m, 2h, 1h30m, 7d)")
    if total > MAX_DURATION.total_seconds():  # also catches digits that overflow to inf
        raise ValueError(f"{_shown(text)} is too long (at most {format_duration(MAX_DURATION)})")
    return timedelta(seconds=total)


def _shown(text: str) -> str:
    """The text as a message quotes it: enough to find it, never a screenful."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-" + format_duration(-delta)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"
