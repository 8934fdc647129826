"""What every report figure shares: the palette and the link to the tables it draws.

A plot function draws released tables only. :func:`figure_data` records, on the function,
which rule of :mod:`cohort.disclosure` gives those tables from an analysis result, so the
notebook API can release them (as figure data of the report) and then draw exactly them.
"""

from __future__ import annotations

import importlib

__all__ = ["PALETTE", "figure_data", "tables_for"]

#: Colour-blind-safe palette (Okabe-Ito), cycled over groups.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def figure_data(module: str | None, function: str | None = None, *, labels: str | None = None):
    """Decorate a plot function with the rule that releases its tables.

    The rule ``module.function(result, policy, **options)`` returns a dict of released
    tables keyed by name suffix; the plot function takes them as positional arguments in
    that order. The rule is imported only when a figure is made. ``labels`` names the set
    of texts the plot draws (``plots`` section of the report text), which the notebook API
    passes in the report's language.
    """

    def mark(plot):
        plot.figure_data = (module, function) if module else None
        plot.label_set = labels
        return plot

    return mark


def tables_for(plot):
    """The rule function that gives ``plot``'s tables, or ``None`` if it takes tables only."""
    spec = getattr(plot, "figure_data", None)
    if spec is None:
        return None
    module, function = spec
    return getattr(importlib.import_module(module), function)
