"""Disclosure control: nothing the workbench releases may identify a household.

On by default for every table the package releases. The rules (CBS Remote Access output
rules; OpenSAFELY's practice for rounding):

* a cell resting on fewer than ``threshold`` units (default 10) is suppressed;
* counts may be rounded to a multiple of ``rounding`` (e.g. 5);
* a suppressed cell is marked as suppressed (``<NA>`` with a flag), never shown as 0;
* margins and totals must not let a reader work a suppressed cell back out
  (secondary suppression);
* a ratio with a suppressed part is suppressed.

Switching disclosure control off is explicit (``DisclosurePolicy(enabled=False)``) and
recorded in every table's attributes and in the report's provenance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cohort.exceptions import ParameterError

#: Minimum number of units behind a released cell (CBS Remote Access rule).
SUPPRESSION_THRESHOLD = 10

#: Marker written in place of a suppressed value in released CSV files.
SUPPRESSED = "[suppressed]"

#: Label of a row that totals a group column (all sites, with and without children).
TOTAL = "all"


@dataclass(frozen=True)
class DisclosurePolicy:
    """The disclosure-control settings for a release.

    Parameters
    ----------
    threshold : int
        Minimum number of units (households) behind a cell; cells below are suppressed.
    rounding : int or None
        Round released counts to this multiple (``None``: no rounding).
    enabled : bool
        ``False`` switches disclosure control off; only for internal, non-released work.

    Examples
    --------
    >>> policy = DisclosurePolicy(threshold=10, rounding=5)
    >>> policy.is_safe(9), policy.is_safe(10)
    (False, True)
    >>> policy.round_count(12)
    10
    """

    threshold: int = SUPPRESSION_THRESHOLD
    rounding: int | None = None
    enabled: bool = True

    def __post_init__(self):
        if not isinstance(self.threshold, int) or isinstance(self.threshold, bool) or self.threshold < 1:
            raise ParameterError(
                f"disclosure threshold must be a whole number of at least 1, got {self.threshold!r}"
            )
        if self.rounding is not None and (
            not isinstance(self.rounding, int) or isinstance(self.rounding, bool) or self.rounding < 1
        ):
            raise ParameterError(
                f"disclosure rounding must be a whole number of at least 1 or empty, got {self.rounding!r}"
            )

    def is_safe(self, n) -> bool:
        """Whether a cell resting on ``n`` units may be released."""
        return (not self.enabled) or n >= self.threshold

    def round_count(self, n):
        """Round ``n`` to the nearest multiple of ``rounding`` (halves up); unchanged if none."""
        if not self.enabled or self.rounding is None:
            return n
        return int((int(n) + self.rounding / 2) // self.rounding * self.rounding)

    def round_counts(self, values) -> np.ndarray:
        """Vectorised :meth:`round_count` for an integer array (halves up).

        Examples
        --------
        >>> DisclosurePolicy(rounding=5).round_counts(np.array([10, 12, 13, 17, 18]))
        array([10, 10, 15, 15, 20])
        """
        values = np.asarray(values, dtype=np.int64)
        if not self.enabled or self.rounding is None:
            return values.copy()
        r = self.rounding
        return (2 * values + r) // (2 * r) * r

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """The policy in words (English), for command-line output.

        >>> DisclosurePolicy().describe()
        'on (at least 10 units per cell, no rounding)'
        >>> DisclosurePolicy(enabled=False).describe()
        'OFF (not for release)'
        """
        if not self.enabled:
            return "OFF (not for release)"
        rounding = "no rounding" if self.rounding is None else f"rounded to multiples of {self.rounding}"
        return f"on (at least {self.threshold} units per cell, {rounding})"


#: Disclosure control off: only for internal work, never for a release.
NO_DISCLOSURE_CONTROL = DisclosurePolicy(enabled=False)


#: The default policy for releases: threshold 10, no rounding, on.
DEFAULT_POLICY = DisclosurePolicy()


def check_policy(policy) -> DisclosurePolicy:
    """Return ``policy`` if it is a :class:`DisclosurePolicy`; ``None`` is not accepted.

    Switching disclosure control off must be explicit (``NO_DISCLOSURE_CONTROL`` or
    ``DisclosurePolicy(enabled=False)``), so a missing policy is an error rather than "off".
    """
    if not isinstance(policy, DisclosurePolicy):
        raise ParameterError(
            f"policy must be a DisclosurePolicy, got {type(policy).__name__}; to switch "
            "disclosure control off, pass cohort.disclosure.policy.NO_DISCLOSURE_CONTROL explicitly"
        )
    return policy


# --------------------------------------------------------------------------------------
# The workbench minimum, and lowering it explicitly
# --------------------------------------------------------------------------------------

#: The configured minimum threshold of the workbench (CBS Remote Access practice: at least
#: 10 units behind every published cell). A parameter file can only go below it with an
#: explicit ``lower_minimum`` reason; the release check never takes a lower threshold
#: from a report's own files.
MINIMUM_THRESHOLD = 10

_SETTINGS_KEYS = ("threshold", "rounding", "enabled", "lower_minimum", "protection_width")


@dataclass(frozen=True)
class DisclosureSettings:
    """The disclosure settings of a parameter file: the policy, the minimum and any lowering.

    Build it with :func:`disclosure_settings` from the ``disclosure`` mapping of a
    parameter file. ``as_dict`` is what provenance, the manifest and the ledger record.

    Parameters
    ----------
    policy : DisclosurePolicy
    minimum : int
        The workbench minimum in force when the settings were read.
    lower_minimum : str or None
        The reason given for a threshold below ``minimum`` (``None``: not lowered).
    protection_width : int or None
        Width of the protection range of the attack audit (:func:`interval_protected`);
        ``None``: the threshold.

    Examples
    --------
    >>> s = disclosure_settings({"threshold": 5, "lower_minimum": "pilot of 3 sites, agreed with CBS"})
    >>> s.policy.threshold, s.lowered, s.width
    (5, True, 5)
    >>> s.as_dict()["minimum"]
    10
    """

    policy: DisclosurePolicy
    minimum: int = MINIMUM_THRESHOLD
    lower_minimum: str | None = None
    protection_width: int | None = None

    @property
    def lowered(self) -> bool:
        """Whether the threshold is below the workbench minimum (explicitly)."""
        return self.policy.threshold < self.minimum

    @property
    def width(self) -> int:
        """The protection width in force: ``protection_width`` or the threshold."""
        return self.policy.threshold if self.protection_width is None else self.protection_width

    def as_dict(self) -> dict:
        out = self.policy.as_dict()
        out.update(
            minimum=self.minimum,
            lower_minimum=self.lower_minimum,
            protection_width=self.width,
        )
        return out


def disclosure_settings(value, *, source: str = "the parameter file", minimum: int = MINIMUM_THRESHOLD):
    """Read and check the ``disclosure`` mapping of a parameter file.

    Keys: ``threshold`` (default :data:`SUPPRESSION_THRESHOLD`), ``rounding``, ``enabled``,
    ``lower_minimum`` (a reason, required to go below ``minimum``) and
    ``protection_width``.

    Raises
    ------
    ParameterError
        An unknown key, a bad value, a threshold below the minimum without a reason, or a
        reason without a lowered threshold (so a record never claims a lowering that did
        not happen).

    Examples
    --------
    >>> disclosure_settings({"threshold": 5}, source="x.yaml")
    Traceback (most recent call last):
    ...
    cohort.exceptions.ParameterError: x.yaml: disclosure threshold 5 is below the workbench minimum 10 (CBS practice); to go below it, state why under disclosure: lower_minimum: "<reason>" in the parameter file
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ParameterError(f"{source}: disclosure must be a mapping of {', '.join(_SETTINGS_KEYS)}")
    unknown = sorted(set(value) - set(_SETTINGS_KEYS))
    if unknown:
        raise ParameterError(
            f"{source}: disclosure has unknown key {unknown[0]!r}; known keys: {', '.join(_SETTINGS_KEYS)}"
        )
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ParameterError(f"{source}: disclosure enabled must be true or false")
    try:
        policy = DisclosurePolicy(
            threshold=value.get("threshold", SUPPRESSION_THRESHOLD),
            rounding=value.get("rounding"),
            enabled=enabled,
        )
    except ParameterError as error:
        raise ParameterError(f"{source}: {error}") from None
    reason = value.get("lower_minimum")
    if reason is not None and (not isinstance(reason, str) or not reason.strip() or len(reason) > 500):
        raise ParameterError(
            f"{source}: disclosure lower_minimum must be a reason in words (at most 500 characters)"
        )
    if policy.threshold < minimum and reason is None:
        raise ParameterError(
            f"{source}: disclosure threshold {policy.threshold} is below the workbench minimum "
            f"{minimum} (CBS practice); to go below it, state why under disclosure: "
            'lower_minimum: "<reason>" in the parameter file'
        )
    if reason is not None and policy.threshold >= minimum:
        raise ParameterError(
            f"{source}: disclosure lower_minimum is given but the threshold {policy.threshold} is "
            f"not below the minimum {minimum}; remove lower_minimum"
        )
    width = value.get("protection_width")
    if width is not None and (not isinstance(width, int) or isinstance(width, bool) or width < 1):
        raise ParameterError(
            f"{source}: disclosure protection_width must be a whole number of at least 1 or empty"
        )
    return DisclosureSettings(
        policy, minimum=minimum, lower_minimum=reason.strip() if reason else None, protection_width=width
    )


# --------------------------------------------------------------------------------------
# The protection range of the attack audit
# --------------------------------------------------------------------------------------


def interval_protected(lower, upper, threshold: int, width: int | None = None) -> np.ndarray:
    """Whether cells a reader can only place in ``[lower, upper]`` are protected.

    A cell that is not released is protected when the interval a reader can infer for it
    from everything released is at least ``width`` wide (default: the threshold), or lies
    wholly at or above the threshold (a count known to be that large is releasable anyway).
    With ``width = threshold`` this is the guarantee of the release ledger: a reader can
    never narrow a suppressed cell, or a sum of suppressed cells, to fewer than
    ``threshold`` possible values below the threshold (see ``docs/disclosure.md``).

    Examples
    --------
    >>> interval_protected(np.array([0, 0, 3, 12]), np.array([9, 10, 8, 14]), 10).tolist()
    [False, True, False, True]
    """
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    width = threshold if width is None else width
    return (upper - lower >= width - 1e-9) | (lower >= threshold - 1e-9)


# --------------------------------------------------------------------------------------
# One rule for zeros
# --------------------------------------------------------------------------------------

#: Names of a curve's time axis: the row where it is 0 starts the curve.
CURVE_TIME_COLUMNS = ("time", "tijd", "day", "days", "dag", "dagen", "months", "maanden")


def curve_start_rows(times) -> np.ndarray:
    """Rows that start a curve: time axis value 0 (no event can precede follow-up).

    ``times`` are the values of a curve's time axis (numbers or text); returns a boolean
    mask.

    Examples
    --------
    >>> curve_start_rows(["0", "9", "0", "12"]).tolist()
    [True, False, True, False]
    """
    values = pd.to_numeric(pd.Series(np.asarray(times, dtype=object)), errors="coerce")
    return (values == 0).to_numpy(dtype=bool)


def protected_zeros(values, structural=None) -> np.ndarray:
    """The zero rule: which cells of a count column hold a zero that must not be released.

    Every zero count is protected, like a count of 1 to ``threshold - 1``, unless it is
    **structural**: zero by the construction of the table, whatever the data. Structural
    zeros are (a) the events of the first row of a curve (time 0: :func:`curve_start_rows`)
    and (b) cells the release declares structural for a stated reason (for instance a
    period outside a site's delivery period), recorded in the manifest. A zero that rests
    on data (a site that had no re-registrations, no measures in a quarter) tells that
    every unit of its group had no such event and is suppressed.

    ``values`` are counts (numbers, or text as released; ``[suppressed]`` and empty are
    not zeros); ``structural`` a boolean mask. The release side suppresses, and the check
    reports, exactly the cells this returns.

    Examples
    --------
    >>> protected_zeros(["0", "3", "0", "[suppressed]"], structural=[True, False, False, False]).tolist()
    [False, False, True, False]
    """
    numbers = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    zero = (numbers == 0).to_numpy(dtype=bool)
    if structural is None:
        return zero
    structural = np.asarray(structural, dtype=bool)
    if structural.shape != zero.shape:
        raise ParameterError("structural must be one flag per value")
    return zero & ~structural


def outside_delivery(sites, period_start, period_end, additivity, site_periods) -> np.ndarray:
    """The structural zeros of a site's delivery period: cells that are 0 by construction.

    A count of one site (``sites`` a single site code) is 0 whatever the data when its
    period lies outside the site's delivery period: before the site delivered anything
    (the period ends before its ``delivery_start``) every count is 0; after it stopped (the
    period starts after its ``delivery_end``) a count of events in the period
    (``additivity == "in_period"``) is 0, while a stock on a date or a count since the
    study start need not be. Totals over several sites are never structural here (their
    other sites may have data).

    Parameters are equally long sequences (ISO dates ``YYYY-MM-DD``); ``site_periods`` is
    ``{site: (delivery_start, delivery_end)}``. The release side (the monitor's rule) and
    the ledger (:func:`cohort.disclosure.ledger.structural_zeros`) use this one rule.

    Examples
    --------
    >>> periods = {"GRO": ("2025-01-01", "2026-09-30"), "FRL": ("2023-01-01", "2024-12-31")}
    >>> outside_delivery(["GRO", "GRO", "FRL", "FRL", "FRL+GRO"],
    ...                  ["2024-10-01", "2025-01-01", "2025-01-01", "2025-03-31", "2024-10-01"],
    ...                  ["2024-12-31", "2025-03-31", "2025-03-31", "2025-03-31", "2024-12-31"],
    ...                  ["in_period", "in_period", "in_period", "on_date", "in_period"],
    ...                  periods).tolist()
    [True, False, True, False, False]
    """
    sites = pd.Series(np.asarray(sites, dtype=object)).astype(str)
    n = len(sites)
    if not site_periods or n == 0:
        return np.zeros(n, dtype=bool)

    def days(values) -> np.ndarray:
        parsed = pd.to_datetime(pd.Series(np.asarray(values, dtype=object)).astype(str).str[:10],
                                format="%Y-%m-%d", errors="coerce")
        out = parsed.to_numpy(dtype="datetime64[D]").astype("float64")
        out[parsed.isna().to_numpy()] = np.nan
        return out

    starts = {s: p[0] for s, p in site_periods.items()}
    ends = {s: p[1] for s, p in site_periods.items()}
    d0 = days(sites.map(starts).fillna(""))
    d1 = days(sites.map(ends).fillna(""))
    start, end = days(period_start), days(period_end)
    events = (pd.Series(np.asarray(additivity, dtype=object)).astype(str) == "in_period").to_numpy()
    with np.errstate(invalid="ignore"):
        before = end < d0
        after = events & (start > d1)
    return (before | after) & ~np.isnan(d0)
