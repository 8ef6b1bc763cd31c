"""The reports' charts as PNG (matplotlib's Agg canvas, no pyplot and no global state: each
chart is a Figure of its own, its text set in the report font through FontProperties)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coordinator.reports.errors import FontMissing

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

SIZE = (7.5, 3.0)
DPI = 130


def _font(path: Path) -> FontProperties:
    if not path.is_file():
        raise FontMissing(f"the report font {path} is missing (NUANLIU_REPORT_FONT)")
    # matplotlib is imported when a chart is drawn, not with the app: it takes half a second
    # that every process (the API, each worker, each CLI command) paid at start
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(path))


def _figure() -> Figure:
    from matplotlib.figure import Figure  # see `_font`

    return Figure(figsize=SIZE)


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # see `_font`

    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return out.getvalue()


def _dress(axes, font: FontProperties, *, xlabel: str, ylabel: str) -> None:  # type: ignore[no-untyped-def]
    axes.set_xlabel(xlabel, fontproperties=font)
    axes.set_ylabel(ylabel, fontproperties=font)
    from matplotlib.ticker import FuncFormatter  # see `_font`

    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    for label in [*axes.get_xticklabels(), *axes.get_yticklabels()]:
        label.set_fontproperties(font)
    axes.grid(axis="y", alpha=0.3)
    if len(axes.get_legend_handles_labels()[0]) > 1:
        axes.legend(prop=font, fontsize=8, frameon=False)


def steps(
    *,
    font_path: Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    ceiling: float | None = None,
    ceiling_label: str = "",
    origin: bool = True,
) -> bytes:
    """Curves (x, y) drawn as steps, from (0, 0) when `origin` (a cumulative count), with an
    optional ceiling (slots needed)."""
    font = _font(font_path)
    figure = _figure()
    axes = figure.add_subplot()
    for name, (x, y) in series.items():
        start = [0.0] if origin else []
        axes.step([*start, *x], [*start, *y], where="post", label=name)
    if ceiling is not None:
        axes.axhline(ceiling, color="grey", linestyle="--", linewidth=0.8, label=ceiling_label)
    _dress(axes, font, xlabel=xlabel, ylabel=ylabel)
    return _png(figure)


def bars(
    *,
    font_path: Path,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    stacked: bool = False,
) -> bytes:
    """Bars per category, one colour per series (side by side, or stacked)."""
    font = _font(font_path)
    figure = _figure()
    axes = figure.add_subplot()
    n = max(len(series), 1)
    width = 0.8 if stacked else 0.8 / n
    bottom = [0.0] * len(categories)
    for k, (name, values) in enumerate(series.items()):
        xs = [i if stacked else i - 0.4 + width * (k + 0.5) for i in range(len(categories))]
        axes.bar(xs, values, width=width, label=name, bottom=bottom if stacked else None)
        if stacked:
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    # a season's 40 days get every fifth label, or they overlap; a dozen names lean aside
    step = 5 if len(categories) > 16 else 1
    ticks = list(range(0, len(categories), step))
    leaning = step == 1 and len(categories) > 8
    axes.set_xticks(
        ticks,
        [categories[i] for i in ticks],
        rotation=45 if leaning else 0,
        ha="right" if leaning else "center",
    )
    _dress(axes, font, xlabel=xlabel, ylabel=ylabel)
    return _png(figure)


def lines(
    *,
    font_path: Path,
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    marks: dict[float, str] | None = None,
) -> bytes:
    """Lines over a shared x axis, with labelled vertical marks (Lunar New Year)."""
    font = _font(font_path)
    figure = _figure()
    axes = figure.add_subplot()
    for name, values in series.items():
        axes.plot(list(x), list(values), label=name, linewidth=1.4)
    for at, label in (marks or {}).items():
        axes.axvline(at, color="firebrick", linewidth=0.8, linestyle=":")
        axes.text(at, axes.get_ylim()[1], label, fontproperties=font, fontsize=8, va="top")
    _dress(axes, font, xlabel=xlabel, ylabel=ylabel)
    return _png(figure)
