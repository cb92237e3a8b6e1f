"""Bar charts drawn by the server as SVG: no script, no library, readable without colour
(each series has its own hatching and its name in a legend; the numbers are also in a table
beside the chart)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 520, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 64
# Fill patterns, so series differ without colour: solid, hatched, dotted, cross-hatched.
PATTERNS = ("solid", "hatch", "dots", "cross")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]  # None: nothing to draw for that period


def bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    target: Sequence[float | None] = (),
) -> str:
    """Grouped bars, one group per label; ``target``: a dashed mark per group."""
    top = max(
        [v for s in series for v in s.values if v is not None] + [t for t in target if t] + [1.0]
    )
    top = _nice(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(labels), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" class="chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        "<defs>",
        *(_pattern(chart_id, i) for i in range(len(PATTERNS))),
        "</defs>",
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for g, label in enumerate(labels):
        x0 = LEFT + g * group_w + group_w * 0.1
        for i, s in enumerate(series):
            v = s.values[g] if g < len(s.values) else None
            if v is None:
                continue
            h = plot_h * v / top
            fill = f"url(#{chart_id}-p{i % len(PATTERNS)})"
            out.append(
                f'<rect x="{x0 + i * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{fill}" class="bar"><title>{escape(s.name)}, '
                f"{escape(label)}: {v:g}</title></rect>"
            )
        t = target[g] if g < len(target) else None
        if t:
            y = TOP + plot_h - plot_h * t / top
            out.append(
                f'<line x1="{x0:.1f}" x2="{x0 + group_w * 0.8:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'class="target"><title>target {t:g}</title></line>'
            )
        out.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{TOP + plot_h + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for i, s in enumerate(series):
        x = LEFT + i * 150
        y = HEIGHT - 22
        out.append(
            f'<rect x="{x}" y="{y}" width="14" height="14" class="bar" '
            f'fill="url(#{chart_id}-p{i % len(PATTERNS)})"/>'
            f'<text x="{x + 20}" y="{y + 12}">{escape(s.name)}</text>'
        )
    if any(target):
        x = LEFT + len(series) * 150
        y = HEIGHT - 15
        out.append(
            f'<line x1="{x}" x2="{x + 14}" y1="{y}" y2="{y}" class="target"/>'
            f'<text x="{x + 20}" y="{y + 5}">target</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _nice(value: float) -> float:
    """The axis' top: four ticks of 1, 2 or 5 times a power of ten (whole numbers for counts)."""
    step = 1.0
    while step * 4 < value:
        for m in (2.0, 2.5, 2.0):  # 1 → 2 → 5 → 10 → 20 → 50 …
            step *= m
            if step * 4 >= value:
                break
    return step * 4


def _pattern(chart_id: str, i: int) -> str:
    kind = PATTERNS[i]
    head = (
        f'<pattern id="{chart_id}-p{i}" patternUnits="userSpaceOnUse" width="6" height="6">'
        '<rect width="6" height="6" class="pattern-bg"/>'
    )
    body = {
        "solid": '<rect width="6" height="6" class="pattern-ink"/>',
        "hatch": '<path d="M0,6 L6,0" class="pattern-line"/>',
        "dots": '<circle cx="3" cy="3" r="1.4" class="pattern-ink"/>',
        "cross": '<path d="M0,0 L6,6 M0,6 L6,0" class="pattern-line"/>',
    }[kind]
    return head + body + "</pattern>"
