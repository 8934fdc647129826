"""Figure style: distinct sites, quarterly ticks that never overlap, byte-stable files."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cohort.plots import style  # noqa: E402


@pytest.mark.parametrize("n", [8, 13, 20, 28])
def test_every_site_has_its_own_style(n):
    styles = style.site_styles([f"S{i:02d}" for i in range(n)])
    seen = {(s.color, s.linestyle) for s in styles.values()}
    assert len(seen) == n
    ordered = [styles[k] for k in sorted(styles)]
    for a, b in itertools.pairwise(ordered):  # neighbours in a legend differ in colour and marker
        assert a.color != b.color and a.marker != b.marker


def test_styles_do_not_depend_on_the_order_sites_are_given():
    assert style.site_styles(["ZEE", "AMS", "FLE"]) == style.site_styles(["AMS", "FLE", "ZEE"])


def _label_boxes(ax):
    renderer = ax.figure.canvas.get_renderer()
    return sorted(
        (t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()), key=lambda b: b.x0
    )


@pytest.mark.parametrize("width", [3.0, 6.3, 10.0])
@pytest.mark.parametrize(("start", "end"), [
    ("2024-10-01", "2024-12-31"),
    ("2023-01-01", "2024-12-31"),
    ("2023-01-01", "2026-06-30"),
    ("2020-01-01", "2029-12-31"),
])
def test_quarter_labels_never_overlap_and_sit_in_their_quarter(width, start, end):
    fig, ax = plt.subplots(figsize=(width, 3))
    x = pd.date_range(start, end, freq="QE")
    ax.plot(style.quarter_midpoint(x), range(len(x)))
    step = style.quarter_axis(ax, start, end, "en")
    fig.canvas.draw()
    boxes = _label_boxes(ax)
    assert boxes, "no labels"
    for a, b in itertools.pairwise(boxes):
        assert b.x0 >= a.x1, f"labels overlap with step {step}"
    lo, hi = ax.get_xlim()
    assert mdates.num2date(lo).date() == pd.Timestamp(start).to_period("Q").start_time.date()
    assert mdates.num2date(hi).date() == (pd.Timestamp(end).to_period("Q").end_time + pd.Timedelta(days=1)).date()
    edges = ax.xaxis.get_minorticklocs()
    assert len(edges) == len(pd.period_range(start, end, freq="Q")) + 1  # a boundary per quarter
    for position, label in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True):
        assert lo < position < hi
        if step < 4:  # a quarter's label is inside its quarter, not on its edge
            assert min(abs(position - e) for e in edges) > 1
        else:  # a year's label is inside its year
            year = int(label.get_text())
            assert mdates.date2num(pd.Timestamp(f"{year}-01-01")) < position < mdates.date2num(
                pd.Timestamp(f"{year + 1}-01-01"))
    plt.close(fig)


def test_quarter_labels_in_both_languages():
    fig, ax = plt.subplots(figsize=(10, 3))
    assert style.quarter_axis(ax, "2024-01-01", "2024-12-31", "nl") == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["K1\n2024", "K2\n2024", "K3\n2024", "K4\n2024"]
    style.quarter_axis(ax, "2024-01-01", "2024-12-31", "en")
    assert ax.get_xticklabels()[3].get_text() == "Q4\n2024"
    plt.close(fig)


def test_a_long_narrow_axis_falls_back_to_years():
    fig, ax = plt.subplots(figsize=(3, 2))
    step = style.quarter_axis(ax, "2020-01-01", "2029-12-31", "nl")
    assert step >= 4
    assert all(t.get_text().isdigit() for t in ax.get_xticklabels())
    plt.close(fig)


def _figure():
    with matplotlib.rc_context(style._rc()):
        fig, ax = plt.subplots()
        ax.plot(pd.to_datetime(["2023-02-15", "2023-05-16", "2023-08-15"]), [0.1, 0.4, 0.3], label="AMS",
                **style.site_styles(["AMS"])["AMS"].kwargs())
        style.quarter_axis(ax, "2023-01-01", "2023-09-30", "nl")
        ax.legend()
    return fig


def test_figure_files_are_byte_identical_between_runs():
    first, second = _figure(), _figure()
    svg = style.figure_svg(first)
    assert svg == style.figure_svg(second)
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert "<text" not in svg  # text is drawn as paths: no font needed where it is viewed
    png = style.figure_png(first)
    assert png == style.figure_png(second)
    assert b"Software" not in png and b"matplotlib" not in png.lower()
    width = int.from_bytes(png[16:20], "big")
    assert width == round(style.RC_PARAMS["figure.figsize"][0] * style.PRINT_DPI)
    plt.close(first)
    plt.close(second)


def test_small_multiples_fit_the_text_width():
    fig, axes = style.small_multiples(13)
    assert len(axes) == 13
    assert fig.get_size_inches()[0] == pytest.approx(style.RC_PARAMS["figure.figsize"][0])
    assert sum(ax.get_visible() for ax in fig.axes) == 13
    plt.close(fig)
