"""The notebook API: what the report's notebooks call.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd

from cohort.disclosure import writer as _writer
from cohort.disclosure.policy import SUPPRESSED
from cohort.disclosure.writer import _RELEASE_META
from cohort.exceptions import ParameterError
from cohort.report.build import _PREVIOUS_MONITOR
from cohort.report.execute import SOURCE_DATE_EPOCH
from cohort.report.params import (
    Params,
)
from cohort.report.text import caption_text, labelled

# --------------------------------------------------------------------------------------
# Notebook helpers
# --------------------------------------------------------------------------------------


def setup(params: Params) -> None:
    """Stable display and plot settings for a notebook; call once after the parameters.

    Pandas prints every row and column of the (small, aggregated) tables with fixed float
    formatting; matplotlib draws inline with fixed size, fonts and no software metadata in
    the PNGs, so outputs do not vary between runs or machines with the same versions.
    """
    import matplotlib
    import seaborn as sns

    os.environ.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.width", 120)
    pd.set_option("display.float_format", "{:.4g}".format)
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams.update(
        {
            "figure.figsize": (8.0, 4.5),
            "figure.dpi": 96,
            "savefig.dpi": 96,
            "svg.hashsalt": "cohort",
            "font.family": "DejaVu Sans",
        }
    )
    try:  # inside a Jupyter kernel: draw inline even when MPLBACKEND says otherwise
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with jupyterlab
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        matplotlib.use("module://matplotlib_inline.backend_inline")
        set_matplotlib_formats("png", metadata={"Software": None})


class Table:
    """A table as the report shows it: deterministic HTML and plain text, no index."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame
        self.caption = caption

    def _display(self) -> pd.DataFrame:
        """Every cell as display text: whole numbers without decimals, others to 4
        significant digits, dates as YYYY-MM-DD, missing values empty."""
        import numpy as np

        def fmt(values: np.ndarray) -> np.ndarray:
            whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e15)
            return np.where(
                whole,
                np.char.mod("%d", np.where(whole, values, 0).astype(np.int64)),
                np.char.mod("%.4g", values),
            ).astype(object)

        out = {}
        for column in self.frame.columns:
            col = self.frame[column]
            present = col.notna().to_numpy()
            if pd.api.types.is_datetime64_any_dtype(col.dtype):
                text = col.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
            elif pd.api.types.is_bool_dtype(col.dtype):
                text = col.astype(object).to_numpy()
            elif pd.api.types.is_numeric_dtype(col.dtype):
                text = fmt(col.astype("Float64").fillna(0).to_numpy(dtype=float))
            else:
                numeric = pd.to_numeric(col.where(col != SUPPRESSED), errors="coerce")
                is_number = numeric.notna().to_numpy() & col.map(lambda v: isinstance(v, int | float)).to_numpy()
                text = col.astype(object).to_numpy()
                text = np.where(is_number, fmt(numeric.fillna(0).to_numpy(dtype=float)), text)
            out[str(column)] = pd.Series(np.where(present, text, ""), index=self.frame.index, dtype=object)
        return pd.DataFrame(out, index=self.frame.index)

    def _repr_html_(self) -> str:
        body = self._display().to_html(index=False, border=0, classes="table")
        if self.caption:
            body = re.sub(
                r"^(<table[^>]*>)", lambda m: f"{m.group(1)}\n  <caption>{html.escape(self.caption)}</caption>", body, count=1
            )
        return body

    def __repr__(self) -> str:
        body = self._display().to_string(index=False)
        return f"{self.caption}\n{body}" if self.caption else body


def show(frame: pd.DataFrame, params: Params | None = None, *, caption: str | None = None) -> Table:
    """Display ``frame`` as a report table (no index; 4 significant digits).

    The released files keep their ``suppressed`` flag column; on screen the
    ``[suppressed]`` markers say the same, so the flag column is left out. With
    ``params`` the table is shown in the report's language (:func:`labelled`): labels of
    known values, such as headline figures and attrition steps, and the suppression
    marker; the released files keep the identifiers. Column headers are labelled on the
    report page.

    Examples
    --------
    >>> from cohort.params import from_mapping
    >>> p = from_mapping({"name": "d", "title": "D", "language": "nl", "delivery": "x",
    ...                   "reference_date": "2024-12-31"}, check_delivery=False)
    >>> show(pd.DataFrame({"cause": ["moved away"], "n": [12]}), p)
       cause  n
    verhuisd 12
    """
    if isinstance(params, str):  # show(frame, "caption"), as before params was accepted
        params, caption = None, params
    if "suppressed" in frame.columns:
        frame = frame.drop(columns="suppressed")
    if params is not None:
        frame = labelled(frame, params.language)
    return Table(frame, caption)


def figure(fig, name: str, params: Params, data: pd.DataFrame | None = None, *, caption: str | None = None):
    """Show ``fig`` in the notebook, release ``data`` behind it as ``figure-data/<name>.csv``.

    The figure is closed after display so it is not drawn twice.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    if data is not None:
        release_table(data, name, params, kind="figure-data", caption=caption)
    display(fig)
    plt.close(fig)


def load_delivery(params: Params):
    """Load the parameters' delivery (valid rows kept, rejections reported) for the sites.

    Validation errors do not stop a report: rejected rows are kept aside and counted, and
    the data-quality notebook shows them. With ``sites`` other than ``"all"`` every table
    is restricted to those sites (household-level tables through their household).

    Raises
    ------
    ParameterError
        A site in ``sites`` is not in the delivery.
    """
    import dataclasses

    from cohort.delivery.load import load

    delivery = load(params.delivery, on_error="proceed")
    if params.sites is None:
        return delivery
    known = set(delivery.sites["site"].astype(str))
    unknown = [s for s in params.sites if s not in known]
    if unknown:
        raise ParameterError(
            f"{params.source}: parameter 'sites' names {unknown[0]!r}, which is not a site of the "
            f"delivery; known sites: {', '.join(sorted(known))}"
        )
    wanted = list(params.sites)
    tables = dict(delivery.tables)
    for name in ("sites", "households", "episodes"):
        frame = tables[name]
        tables[name] = frame[frame["site"].isin(wanted).to_numpy()].reset_index(drop=True)
    households = tables["households"]["household_id"]
    for name in ("legal_measures", "safety_assessments", "referrals"):
        frame = tables[name]
        tables[name] = frame[frame["household_id"].isin(households).to_numpy()].reset_index(drop=True)
    return dataclasses.replace(delivery, tables=tables)


def previous_monitor(params: Params, tables) -> pd.DataFrame | None:
    """The monitor the earlier report released, for ``quarterly_series(..., previous=)``.

    * Built by ``cohort report --against EARLIER_REPORT``: that report's own
      ``tables/monitor.csv``, exactly as it was released.
    * Otherwise, with ``previous_reference_date`` set: the monitor as the earlier report
      computes it (:func:`cohort.monitor.series.quarterly_series` by site on the previous
      reference date, same delivery, sites and disclosure settings). This is the earlier
      report's release when it was built from the same delivery and settings, as the
      interim and final parameter files are.
    * Otherwise ``None``: no earlier release to protect against.
    """
    from cohort.disclosure.monitor import read_released
    from cohort.monitor.series import quarterly_series

    if params.output_dir is not None:
        staged = Path(params.output_dir) / _RELEASE_META / _PREVIOUS_MONITOR
        if staged.is_file():
            return read_released(staged)
    if params.previous_reference_date is None:
        return None
    return quarterly_series(
        tables,
        params.previous_reference_date,
        by="site",
        policy=params.disclosure,
        study_start=params.study_start,
    )


def changes_since(tables, params: Params, *, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """The monitor's headline figures on the previous and the current reference date.

    One row per headline figure (all sites): ``figure, kind, previous_date, previous_n,
    previous_value, current_date, current_n, current_value, change`` where ``change`` is
    ``current_value - previous_value``. Both sides are the all-sites rows of
    :func:`cohort.monitor.series.monitor_summary` by site with the report's disclosure policy,
    the same cells as the monitor tables: the previous side from ``previous`` (the monitor
    the earlier report released, default :func:`previous_monitor`), the current side
    protected against it. A figure suppressed on either date has its change suppressed
    (``suppressed`` column, recorded in ``attrs["disclosure"]``). A change of a count
    smaller than the threshold (with rounding ``r``: when ``|change| + r`` is below it),
    for example fewer than 10 new households, is itself a small count: the change and the
    current side are suppressed.

    Raises
    ------
    ParameterError
        ``previous_reference_date`` is empty.
    """
    from cohort.disclosure.cells import disclosure_record
    from cohort.monitor.series import monitor_summary

    if params.previous_reference_date is None:
        raise ParameterError(f"{params.source}: parameter 'previous_reference_date' is empty: nothing to compare with")
    if previous is None:
        previous = previous_monitor(params, tables)

    def side(date, prefix, series=None, against=None):
        summary = monitor_summary(
            tables,
            date,
            by="site",
            policy=params.disclosure,
            study_start=params.study_start,
            series=series,
            previous=against,
        )
        summary = summary.loc[(summary["site"].astype(str) == "all").to_numpy()]
        # Values from the released counts, as evaluate computes them: the same numbers
        # whether the earlier release was computed here or read back from its CSV file.
        numerator = summary["numerator"].astype("Float64")
        ratio = numerator / summary["denominator"].astype("Float64").where(lambda d: d > 0)
        value = numerator.where((summary["kind"] == "count").to_numpy(), ratio)
        value = value.where(summary["value"].notna().to_numpy(), pd.NA)
        out = pd.DataFrame(
            {
                "figure": summary["figure"].astype(str),
                "kind": summary["kind"].astype(str),
                f"{prefix}_date": summary["interval_end"],
                f"{prefix}_n": summary["numerator"].astype("Int64"),
                f"{prefix}_value": value.astype("Float64").to_numpy(),
                f"{prefix}_suppressed": summary["suppressed"].fillna(False).astype(bool),
            }
        )
        return out

    earlier = previous
    previous = side(params.previous_reference_date, "previous", series=earlier)
    current = side(params.reference_date, "current", against=earlier)
    # In the order of the current headline figures; a figure new since then has no previous side.
    out = current.merge(previous, on=["figure", "kind"], how="left", sort=False)
    out = out[["figure", "kind", *previous.columns[2:], *current.columns[2:]]]
    hidden = (
        out["previous_suppressed"].astype("boolean").fillna(True) | out["current_suppressed"].astype("boolean").fillna(True)
    ).to_numpy(dtype=bool)
    out["change"] = (out["current_value"] - out["previous_value"]).astype("Float64")
    # A change of a count is a count of units itself (new households, new measures):
    # below the threshold it is suppressed, with the current side it follows from.
    slack = (params.disclosure.rounding or 0) if params.disclosure.enabled else 0
    small = (
        (out["kind"] == "count").to_numpy()
        & (out["change"].abs() + slack < params.disclosure.threshold).fillna(False).to_numpy(dtype=bool)
        & params.disclosure.enabled
    )
    out.loc[small, ["current_n", "current_value"]] = pd.NA
    hidden |= small
    out.loc[hidden, "change"] = pd.NA
    out["suppressed"] = pd.array(hidden, dtype="boolean")
    out = out.drop(columns=["previous_suppressed", "current_suppressed"])
    out.attrs["disclosure"] = disclosure_record(
        params.disclosure,
        count_columns=["previous_n", "current_n"],
        value_columns=["previous_value", "current_value", "change"],
        n_suppressed=int(hidden.sum()),
    )
    return out


def release_table(frame, name, params, *, kind="table", caption=None):
    """Release ``frame`` through the gate, captioned in the report's language by default."""
    if caption is None:
        caption = caption_text(kind, name, params.language)
    return _writer.release_table(frame, name, params, kind=kind, caption=caption)
