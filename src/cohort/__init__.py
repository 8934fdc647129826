"""cohort: load, validate and analyse longitudinal household data from the pilot sites.

The package is organised one module per concept: ``schema`` (the data model), ``io``
(reading deliveries), ``validate``, ``identifiers``, ``pseudonymise``, ``synth``,
``definitions``/``indicators``/``measures`` (cohorts and the quarterly monitor),
``disclosure``, ``survival``, ``trends``, ``params``, ``report`` and ``cli``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cohort")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from cohort.delivery.load import Delivery, load

__all__ = ["Delivery", "__version__", "load"]
