"""Server-side charts: matplotlib ``Figure`` objects (no pyplot, no global state,
thread-safe) rendered to SVG strings.

Each function returns an ``<svg>`` element ready to inline in HTML (no external
resource: text is drawn as paths).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["bar_chart", "funnel_chart", "line_chart", "stacked_weekly"]

PALETTE = [
    "#000091",
    "#e1000f",
    "#18753c",
    "#b34000",
    "#6a6af4",
    "#a558a0",
    "#009099",
    "#716043",
    "#666666",
]
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def _svg(fig: Figure, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _METADATA.sub("", _XML_HEAD.sub("", buf.getvalue(), count=1), count=1)
    # an accessible name for screen readers
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _figure(width: float = 7.0, height: float = 3.2) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    fig.set_layout_engine("constrained")
    return fig


def _style(ax, title: str, *, counts_on: str = "y") -> None:  # type: ignore[no-untyped-def]
    (ax.yaxis if counts_on == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str) -> str:
    """Vertical bars with their value on top."""
    fig = _figure()
    ax = fig.subplots()
    xs = list(range(len(labels)))
    bars = ax.bar(xs, list(values), color=PALETTE[: len(labels)] or PALETTE[0])
    ax.set_xticks(xs, list(labels))
    ax.bar_label(bars, fontsize=8)
    ax.set_ylim(0, max([*values, 1]) * 1.15)
    _style(ax, title)
    return _svg(fig, title)


def stacked_weekly(weeks: Sequence[str], series: Mapping[str, Sequence[int]], title: str) -> str:
    """Stacked bars per week, one colour per series."""
    fig = _figure(height=3.6)
    ax = fig.subplots()
    xs = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(xs, list(values), bottom=bottom, label=name, color=PALETTE[i % len(PALETTE)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(xs, [w[-3:] for w in weeks])
    ax.set_ylim(0, max([*bottom, 1]) * 1.1)
    if series:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        ax.text(0.5, 0.5, "—", transform=ax.transAxes, ha="center")
    _style(ax, title)
    return _svg(fig, title)


def line_chart(weeks: Sequence[str], values: Sequence[int], title: str) -> str:
    fig = _figure()
    ax = fig.subplots()
    xs = list(range(len(weeks)))
    ax.plot(xs, list(values), marker="o", color=PALETTE[0])
    ax.set_xticks(xs, [w[-3:] for w in weeks])
    ax.set_ylim(0, max([*values, 1]) * 1.15)
    _style(ax, title)
    return _svg(fig, title)


def funnel_chart(stages: Sequence[str], counts: Sequence[int], title: str) -> str:
    """Horizontal bars, widest at the top, with count and share of the first stage."""
    fig = _figure(height=2.6)
    ax = fig.subplots()
    ys = list(range(len(stages)))[::-1]
    ax.barh(ys, list(counts), color=PALETTE[: len(stages)])
    ax.set_yticks(ys, list(stages))
    top = counts[0] if counts else 0
    for y, count in zip(ys, counts, strict=True):
        share = f" ({count / top:.0%})" if top else ""
        ax.text(count, y, f" {count}{share}", va="center", fontsize=8)
    ax.set_xlim(0, max([*counts, 1]) * 1.3)
    _style(ax, title, counts_on="x")
    return _svg(fig, title)
