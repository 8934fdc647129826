"""Results of one kind for several analyses, released together as one table.

The effects section fits the same model to several analyses (the first legal measure,
re-registration, the safety score), each on its own trial population. A reader compares
them best in one table with a row (or rows) per analysis. :class:`ByAnalysis` holds the
fitted results by analysis name; :func:`cohort.disclosure.release.release` releases each
with its own rule and stacks them under a first column ``analysis`` (the report shows the
names in its language, ``values.analysis`` of the report text).

Examples
--------
>>> import pandas as pd
>>> from cohort.stats.weighted_mean import WeightedMeanDifference
>>> d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 1.0, 1.5], "arm": ["pilot"] * 3 + ["comparison"] * 2})
>>> both = ByAnalysis(safety=WeightedMeanDifference().fit(d, "y", "arm"))
>>> list(both), both.describe()["model"]
(['safety'], 'WeightedMeanDifference')
"""

from __future__ import annotations

from cohort.exceptions import DefinitionError

__all__ = ["ByAnalysis"]


class ByAnalysis(dict):
    """Fitted results of one kind, keyed by analysis name (in the order given).

    Raises
    ------
    DefinitionError
        No result, a name that is not text, or results of different kinds (their
        released tables would not share columns).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self:
            raise DefinitionError("ByAnalysis needs at least one fitted result")
        if not all(isinstance(k, str) and k for k in self):
            raise DefinitionError("ByAnalysis keys are analysis names (text)")
        kinds = {type(v).__name__ for v in self.values()}
        if len(kinds) != 1:
            raise DefinitionError(f"ByAnalysis holds results of one kind, got {sorted(kinds)}")

    def describe(self) -> dict:
        """The parts' own accounts (``describe()``) by analysis, under the common ``model``;
        the methods text writes one sentence per part."""
        parts = {k: v.describe() for k, v in self.items() if callable(getattr(v, "describe", None))}
        model = next(iter(parts.values()))["model"] if parts else type(next(iter(self.values()))).__name__
        return {"model": model, "parts": parts}

    def __repr__(self) -> str:
        return f"<ByAnalysis: {', '.join(self)}>"
