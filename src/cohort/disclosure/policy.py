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
