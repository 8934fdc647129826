"""How the report's figures look: site styles, quarterly date axes and a stable figure format.

* :func:`site_styles` gives every site a colour, a marker and a line style, so that sites
  stay distinct however many there are (the Okabe-Ito palette has seven colours that read
  well on white; beyond seven sites the marker and line style tell sites apart that share
  a colour). :func:`small_multiples` is the alternative for many groups: one panel each.
* :func:`quarter_axis` puts a date axis on calendar quarters: a gridline at every quarter
  boundary and labels centred in the quarters, thinned (every quarter, every second
  quarter, every year, ...) until no two labels overlap at the figure's size.
* :func:`figure_svg` and :func:`figure_png` write a figure byte for byte the same on every
  run: SVG (vector, sharp in print) with text as paths and ids from a fixed salt, or PNG
  at print resolution, without date or software metadata. :data:`RC_PARAMS` are the
  matplotlib settings behind them.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> styles = site_styles(["AMS", "FLE", "FRL"])
>>> styles["FLE"].color, styles["FLE"].marker
('#D55E00', 's')
>>> fig, ax = plt.subplots(figsize=(6, 3))
>>> _ = ax.plot(pd.to_datetime(["2023-02-15", "2024-11-15"]), [1, 2], **styles["AMS"].kwargs())
>>> quarter_axis(ax, "2023-01-01", "2024-12-31", "nl")
1
>>> [t.get_text() for t in ax.get_xticklabels()][:2]
['K1\\n2023', 'K2\\n2023']
>>> figure_svg(fig) == figure_svg(fig)
True
>>> plt.close(fig)
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "PALETTE",
    "MARKERS",
    "LINESTYLES",
    "RC_PARAMS",
    "FIGURE_FORMAT",
    "PRINT_DPI",
    "SiteStyle",
    "site_styles",
    "small_multiples",
    "quarter_axis",
    "quarter_start",
    "quarter_midpoint",
    "figure_svg",
    "figure_png",
    "apply_style",
    "record_facts",
    "figure_facts",
    "number_axis",
]

#: Okabe-Ito colours that read on white (yellow left out), in order of distinctness.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Markers, as many as colours less one, so colour and marker cycle out of step.
MARKERS = ("o", "s", "^", "D", "v", "P")
#: Line styles: one per round through the colours.
LINESTYLES = ("-", "--", ":", "-.")

#: Format of the report's figures: vector graphics, sharp on screen and in print.
FIGURE_FORMAT = "svg"
#: Resolution of a PNG figure (print quality).
PRINT_DPI = 300

#: Matplotlib settings for report figures: one font (DejaVu Sans ships with matplotlib,
#: so every machine draws the same glyphs), text stored as paths (the SVG does not depend
#: on fonts installed where it is viewed), fixed ids, and a size that fits the A4 text
#: width (16 cm) without scaling.
RC_PARAMS = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 8.0,
    "figure.figsize": (6.3, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": PRINT_DPI,
    "savefig.bbox": "standard",
    "svg.fonttype": "path",
    "svg.hashsalt": "cohort",
    "svg.id": None,
    "path.simplify": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _rc() -> dict:
    """:data:`RC_PARAMS` with the colour cycle of :data:`PALETTE`."""
    from cycler import cycler

    return {**RC_PARAMS, "axes.prop_cycle": cycler(color=list(PALETTE))}


def apply_style() -> None:
    """Use :data:`RC_PARAMS` for every figure drawn from now on (e.g. in a notebook)."""
    import matplotlib

    matplotlib.rcParams.update(_rc())


@dataclass(frozen=True)
class SiteStyle:
    """How one site is drawn: colour, marker and line style."""

    color: str
    marker: str
    linestyle: str

    def kwargs(self, **extra) -> dict:
        """Keyword arguments for ``ax.plot``."""
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle, **extra}


def site_styles(sites: Iterable[str]) -> dict[str, SiteStyle]:
    """A distinct style for every site, in the sites' sorted order.

    Colours repeat only after seven sites, and then with another line style and marker;
    the pair (colour, line style) is unique for up to 28 sites and (colour, marker) for up
    to 42. Pass every site of the delivery (not only those in one figure) so that a site
    has the same style in every figure of a report.

    Examples
    --------
    >>> styles = site_styles([f"S{i:02d}" for i in range(13)])
    >>> len({(s.color, s.linestyle) for s in styles.values()}), len({(s.color, s.marker) for s in styles.values()})
    (13, 13)
    >>> styles["S00"], styles["S07"]
    (SiteStyle(color='#0072B2', marker='o', linestyle='-'), SiteStyle(color='#0072B2', marker='s', linestyle='--'))
    """
    ordered = sorted({str(s) for s in sites})
    n = len(PALETTE)
    return {
        site: SiteStyle(
            color=PALETTE[i % n],
            marker=MARKERS[i % len(MARKERS)],
            linestyle=LINESTYLES[(i // n) % len(LINESTYLES)],
        )
        for i, site in enumerate(ordered)
    }


def small_multiples(n: int, *, ncols: int | None = None, panel: tuple[float, float] = (2.0, 1.5),
                    sharex: bool = True, sharey: bool = True):
    """A grid of ``n`` panels with shared axes: one group (e.g. one site) per panel.

    Returns ``(fig, axes)`` with ``axes`` a flat list of the ``n`` panels in use; the rest
    of the grid is hidden. The width stays within the A4 text width.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig, axes = small_multiples(13)
    >>> len(axes), len(fig.axes), fig.get_size_inches().tolist()
    (13, 16, [6.3, 6.0])
    """
    import matplotlib.pyplot as plt

    if n < 1:
        raise ValueError("small_multiples needs at least one panel")
    width = RC_PARAMS["figure.figsize"][0]
    ncols = ncols or max(1, min(n, int(width // panel[0]) + 1))
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(width, panel[1] * nrows), sharex=sharex, sharey=sharey,
                             squeeze=False)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


# --------------------------------------------------------------------------------------
# Quarterly date axes
# --------------------------------------------------------------------------------------

_QUARTER_LETTER = {"nl": "K", "en": "Q"}

#: Label steps tried in turn, in quarters: every quarter, every second, every year, ...
_STEPS = (1, 2, 4, 8, 12, 20, 40)


def quarter_start(value) -> pd.Timestamp:
    """The first day of the quarter holding ``value``.

    >>> quarter_start("2024-11-15")
    Timestamp('2024-10-01 00:00:00')
    """
    return pd.Timestamp(value).to_period("Q").start_time


def quarter_midpoint(values):
    """The middle of the quarter holding each date: where a quarter's value is drawn, so
    it sits under its label on a :func:`quarter_axis`.

    >>> quarter_midpoint(pd.Series(pd.to_datetime(["2024-03-31", "2024-04-01"]))).dt.date.tolist()
    [datetime.date(2024, 2, 15), datetime.date(2024, 5, 16)]
    """
    periods = pd.to_datetime(pd.Series(values)).dt.to_period("Q")
    start, end = periods.dt.start_time, periods.dt.end_time.dt.normalize() + pd.Timedelta(days=1)
    return (start + (end - start) / 2).dt.floor("D")


def _labels_overlap(ax, pad_px: float) -> bool:
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
    boxes.sort(key=lambda b: b.x0)
    left, right = ax.get_window_extent(renderer).x0, ax.get_window_extent(renderer).x1
    for a, b in zip(boxes, boxes[1:], strict=False):
        if b.x0 < a.x1 + pad_px:
            return True
    # a label may not reach beyond the figure either
    width = fig.bbox.width
    return bool(boxes) and (boxes[0].x0 < min(0, left) or boxes[-1].x1 > max(width, right))


def quarter_axis(ax, start, end, language: str) -> int:
    """Put the x axis of ``ax`` (dates) on the calendar quarters from ``start`` to ``end``.

    The axis runs from the first day of ``start``'s quarter to the last day of ``end``'s
    quarter, so curves and axis cover the same range. A light gridline marks every
    quarter boundary; labels (``K1`` / ``Q1`` over the year) sit in the middle of their
    quarter. Labels are thinned to every second quarter, then to years (``2024``), ... until
    no two overlap at the figure's current size; call it after setting the figure size.

    Parameters
    ----------
    ax : matplotlib Axes
        Axes whose x data are dates.
    start, end : date-like
        First and last day to show.
    language : {"nl", "en"}
        ``K`` (kwartaal) or ``Q`` (quarter).

    Returns
    -------
    int
        The label step in quarters (1, 2, 4, ...).
    """
    import matplotlib.dates as mdates
    from matplotlib.ticker import FixedLocator, NullFormatter

    if language not in _QUARTER_LETTER:
        from cohort.exceptions import ParameterError

        raise ParameterError(f"report language {language!r} is not supported; use nl or en")
    first = pd.Timestamp(start).to_period("Q")
    last = pd.Timestamp(end).to_period("Q")
    if last < first:
        raise ValueError(f"quarter_axis: end {end} lies before start {start}")
    quarters = pd.period_range(first, last, freq="Q")
    bounds = [q.start_time for q in quarters] + [quarters[-1].end_time.normalize() + pd.Timedelta(days=1)]
    edges = mdates.date2num([b.to_pydatetime() for b in bounds])
    ax.set_xlim(edges[0], edges[-1])
    ax.xaxis.set_minor_locator(FixedLocator(edges))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="minor", axis="x", alpha=0.25, linewidth=0.6)
    ax.grid(False, which="major", axis="x")
    ax.tick_params(axis="x", which="major", length=0)
    ax.tick_params(axis="x", which="minor", length=3)
    letter = _QUARTER_LETTER[language]
    mids = (edges[:-1] + edges[1:]) / 2
    ax.figure.canvas.draw()
    # a quarter's width in pixels: labels need a gap of a third of an em at least
    pad = ax.xaxis.get_ticklabels()[0].get_fontsize() / 3 if ax.xaxis.get_ticklabels() else 3.0
    for step in _STEPS:
        if step < 4:
            picked = [i for i in range(len(quarters)) if (quarters[i].quarter - 1) % step == 0]
            positions = mids[picked]
            labels = [f"{letter}{quarters[i].quarter}\n{quarters[i].year}" for i in picked]
        else:
            years = step // 4
            year_ids = sorted({q.year for q in quarters})
            shown = [y for y in year_ids if (y - year_ids[0]) % years == 0]
            positions, labels = [], []
            for year in shown:
                inside = [i for i, q in enumerate(quarters) if q.year == year]
                positions.append((edges[inside[0]] + edges[inside[-1] + 1]) / 2)
                labels.append(str(year))
            positions = np.asarray(positions)
        ax.set_xticks(positions, labels)
        if not _labels_overlap(ax, pad):
            return step
    return step


# --------------------------------------------------------------------------------------
# Numbers on axes
# --------------------------------------------------------------------------------------


def number_axis(ax, language: str, axis: str = "y", *, percent: bool = False) -> None:
    """Tick labels of ``axis`` ("x" or "y") written as the report writes numbers: decimal
    comma and thousands point in Dutch (``0,5``, ``1.000``), the English way in English;
    ``percent`` shows shares as percentages (``20%``).

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> number_axis(ax, "nl", "y", percent=True)
    >>> ax.yaxis.get_major_formatter()(0.25, 0), ax.yaxis.get_major_formatter()(0.125, 0)
    ('25%', '12,5%')
    >>> number_axis(ax, "nl", "x")
    >>> ax.xaxis.get_major_formatter()(1500, 0), ax.xaxis.get_major_formatter()(2.5, 0)
    ('1.500', '2,5')
    >>> plt.close(fig)
    """
    from babel.numbers import format_decimal, format_percent
    from matplotlib.ticker import FuncFormatter

    from cohort.report.format import LOCALES

    if language not in LOCALES:
        from cohort.exceptions import ParameterError

        raise ParameterError(f"report language {language!r} is not supported; use nl or en")
    locale = LOCALES[language]

    def text(value, _position):
        value = 0.0 if abs(value) < 1e-12 else round(float(value), 10)
        if percent:
            return format_percent(value, format="#,##0.#%", locale=locale)
        return format_decimal(value, format="#,##0.##", locale=locale)

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(text))


# --------------------------------------------------------------------------------------
# What a figure shows, for its alt text
# --------------------------------------------------------------------------------------

_FACTS = "_cohort_facts"


def record_facts(fig, **facts) -> None:
    """Note on ``fig`` what it shows (range, groups, where a curve ends, ...), so that the
    notebook API can write an alt text that says so (:func:`figure_facts`).

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig = plt.figure()
    >>> record_facts(fig, kind="curve", x_max=12.0)
    >>> figure_facts(fig)
    {'kind': 'curve', 'x_max': 12.0}
    >>> plt.close(fig)
    """
    setattr(fig, _FACTS, {**getattr(fig, _FACTS, {}), **facts})


def figure_facts(fig) -> dict:
    """What :func:`record_facts` noted on ``fig`` (empty if nothing)."""
    return dict(getattr(fig, _FACTS, {}))


# --------------------------------------------------------------------------------------
# Byte-stable figure files
# --------------------------------------------------------------------------------------


def figure_svg(fig) -> str:
    """The figure as SVG text, the same bytes on every run with the same versions.

    Text is drawn as paths and element ids come from :data:`RC_PARAMS`'s fixed salt; the
    date and software metadata are left out.
    """
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({k: v for k, v in _rc().items() if k.startswith(("svg.", "path."))}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def figure_png(fig, dpi: int = PRINT_DPI) -> bytes:
    """The figure as PNG at print resolution, without software or date metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()

