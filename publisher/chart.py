"""The audit chart: posts per period per network against each network's target.

matplotlib is an optional extra (``pip install 'publisher[chart]'``), imported only here and
only when a chart is asked for, so the daemon never pays for it.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

from publisher.audit import AuditReport, By
from publisher.engagement_report import EngagementReport
from publisher.inbox_report import InboxReport

INSTALL_HINT = "--chart needs matplotlib: pip install 'publisher[chart]'"
FORMATS = (".png", ".svg")
WIDTH_PX, HEIGHT_PX, DPI = 1000, 500, 100
PANEL_PX = 400  # each panel below the posting one (engagement, inbox) adds this
MAX_BAR_PERIODS = 16  # beyond this, grouped bars get too thin: draw lines


class ChartUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> tuple[Any, Any]:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as err:
        raise ChartUnavailableError(INSTALL_HINT) from err
    return plt, MaxNLocator


def _dashes(sharing: list[str], network: str) -> Any:
    """Dashed; networks with the same target take turns along the line, so all show."""
    k = len(sharing)
    if k == 1:
        return (0, (6, 4))
    return (6 * sharing.index(network), (6, 6 * (k - 1)))


def check_available() -> None:
    """Fail before the work is done, not after."""
    _pyplot()


def render(
    report: AuditReport,
    path: Path,
    engagement: EngagementReport | None = None,
    inbox: InboxReport | None = None,
) -> None:
    """Write the chart to ``path``; PNG or SVG by its extension, 1000×500 px, plus 400 px
    for each panel below the posting one: engagement, then the inbox (when the window
    holds an item to answer: an empty panel says nothing the table does not)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: the chart is written as .png or .svg")
    plt, MaxNLocator = _pyplot()
    below: list[Any] = []
    if engagement is not None:
        below.append(lambda ax, colors: _engagement_panel(ax, engagement, colors))
    if inbox is not None and any(v is not None for n in inbox.networks for v in n.share):
        below.append(lambda ax, colors: _inbox_panel(ax, inbox, colors))
    height = HEIGHT_PX + PANEL_PX * len(below)
    fig, axes = plt.subplots(
        1 + len(below), 1, figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI, squeeze=False
    )
    try:
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        _posting_panel(axes[0][0], report, colors, MaxNLocator)
        for n, draw in enumerate(below, start=1):
            draw(axes[n][0], colors)
            axes[n][0].set_xlim(axes[0][0].get_xlim())  # the periods line up with the bars
        if not below:
            fig.subplots_adjust(left=0.07, right=0.76, top=0.9, bottom=0.16)
        else:  # the same margins in pixels, whatever the height
            fig.subplots_adjust(
                left=0.07,
                right=0.76,
                top=1 - 54 / height,
                bottom=81 / height,
                hspace=0.45 * 2 / (1 + len(below)),
            )
        # No creation date in the file: the same report gives the same bytes.
        meta = {"Date": None} if suffix == ".svg" else {"Software": None}
        fig.savefig(path, format=suffix[1:], dpi=DPI, metadata=meta)
    finally:
        plt.close(fig)


def _x_axis(ax: Any, report: AuditReport) -> list[int]:
    unit = "week" if report.by is By.WEEK else "day"
    labels = [p.label for p in report.periods]
    x = list(range(len(labels)))
    step = max(1, len(labels) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels(
        labels[::step],
        rotation=30 if unit == "day" else 0,
        ha="right" if unit == "day" else "center",
    )
    ax.set_xlabel("local " + ("ISO week" if unit == "week" else "day") + f" ({report.zone.key})")
    return x


def _legend(ax: Any, handles: list[Any]) -> None:
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        frameon=False,
    )


def _posting_panel(ax: Any, report: AuditReport, colors: list[Any], MaxNLocator: Any) -> None:
    unit = "week" if report.by is By.WEEK else "day"
    x = _x_axis(ax, report)
    series = report.networks
    bars = len(x) <= MAX_BAR_PERIODS
    width = 0.8 / max(1, len(series))
    same_target: dict[float, list[str]] = {}
    for s in series:
        if s.target is not None:
            same_target.setdefault(round(s.target, 6), []).append(s.network)
    handles: list[Any] = []
    for i, s in enumerate(series):
        color = colors[i % len(colors)]
        if bars:
            offset = (i - (len(series) - 1) / 2) * width
            drawn = ax.bar(
                [v + offset for v in x], s.counts, width=width, color=color, label=s.network
            )
        else:
            (drawn,) = ax.plot(x, s.counts, marker="o", markersize=3, color=color, label=s.network)
        handles.append(drawn)
        if s.target is not None:
            handles.append(
                ax.axhline(
                    s.target,
                    color=color,
                    linewidth=1.8,
                    linestyle=_dashes(same_target[round(s.target, 6)], s.network),
                    label=f"{s.network} target ({s.target:g}/{unit})",
                )
            )
    if not series:
        ax.text(0.5, 0.5, "no accounts to audit", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(f"posts published per {unit}")
    first = report.since.astimezone(report.zone)
    last = (report.until - timedelta(microseconds=1)).astimezone(report.zone)
    ax.set_title(
        f"Posts per {unit} and network, {first:%Y-%m-%d} to {last:%Y-%m-%d} (dashed: targets)"
    )
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    if series:
        _legend(ax, handles)


def _engagement_panel(ax: Any, report: EngagementReport, colors: list[Any]) -> None:
    """Interactions per measured post, per period and network, all read at one age; a period
    without a measured post is a gap in the line, never a zero."""
    x = _x_axis(ax, report.posting)
    handles = []
    for i, s in enumerate(report.networks):
        values = [math.nan if v is None else v for v in s.per_post]
        (drawn,) = ax.plot(
            x,
            values,
            marker="o",
            markersize=5,
            linewidth=2,
            color=colors[i % len(colors)],
            label=s.network,
        )
        handles.append(drawn)
    age = report.age.label or "no snapshot yet"
    if not any(v is not None for s in report.networks for v in s.per_post):
        ax.text(
            0.5, 0.5, f"no measured post at {age}", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_ylabel("likes + reposts + replies + quotes per post", fontsize="small")
    ax.set_title(f"Interactions per post and network, every post at age {age}")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    if handles:
        _legend(ax, handles)


def _inbox_panel(ax: Any, report: InboxReport, colors: list[Any]) -> None:
    """Share of the items received in each period that we answered, per network; a period
    in which nothing answerable was received is a gap, never a zero."""
    x = _x_axis(ax, report.posting)
    handles = []
    for i, s in enumerate(report.networks):
        if all(v is None for v in s.share):
            continue  # its accounts listen, and nothing was received: no line to draw
        values = [math.nan if v is None else v * 100 for v in s.share]
        (drawn,) = ax.plot(
            x,
            values,
            marker="s",
            markersize=5,
            linewidth=2,
            color=colors[i % len(colors)],
            label=s.network,
        )
        handles.append(drawn)
    ax.set_ylabel("% answered (ignored left out)", fontsize="small")
    ax.set_title("Inbox items answered, by the period they were received, per network")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    if handles:
        _legend(ax, handles)
