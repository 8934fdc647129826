"""cohort: load, validate and analyse longitudinal household data from the pilot sites.

The package follows the data's path, one subpackage per stage and one module per concept:

``delivery``
    reading a delivery (``read``), typing it (``coerce``), the data model (``schema``), the
    identifier guard (``identifiers``), validation (``validate``), pseudonymisation
    (``pseudonymise``) and loading with its cache (``load``);
``definitions``
    the written, tested definitions: study dates (``dates``), episodes, follow-up tables
    for the survival analyses (``followup``), safety waves (``waves``), the report's
    population (``population``);
``monitor``
    the quarterly monitor's indicators, measures and headline figures;
``stats``
    the estimators, one module each, on a shared base (``base``), agreeing with R;
``disclosure``
    every disclosure rule (``policy``, ``cells``, ``monitor``, ``curves``, ``models``,
    ``tables``), the rule for each kind of result (``release``), the one gate that writes
    report folders (``writer``) and the release check (``check``);
``plots``
    figures drawn from released tables only;
``report``
    parameter sets (``params``), report text, the notebook API (``notebook``), running
    notebooks (``execute``), building and rebuilding a report, the report page, provenance;
``synth``
    the synthetic delivery.

``cohort.load`` loads a delivery; ``python -m cohort`` (or ``cohort``) is the command line.
"""

from cohort._version import __version__
from cohort.delivery.load import Delivery, load

__all__ = ["Delivery", "__version__", "load"]
