"""Parameter sets: one YAML file per report, checked against a declared specification.

A parameter file (``parameters/*.yaml``) names everything a report depends on: the delivery,
the reference date, the sites, the windows, disclosure control and the report language.
The same keys are the papermill parameters of every notebook in ``notebooks/`` (a test
checks this), so ``papermill notebooks/02_monitor.ipynb out.ipynb -f parameters/X.yaml``
and ``cohort report parameters/X.yaml`` run the same analysis.

Every key is declared once in :data:`SPEC` with its default, its check and a description.
An unknown key, a missing required key or a bad value is a
:class:`~cohort.exceptions.ParameterError` naming the key and the file. Files are read
strictly (:func:`cohort.strict_yaml.load_yaml`): YAML anchors and aliases, duplicate keys
and deep nesting are refused with a short message naming the line, so a 1 KB "alias
bomb" cannot become a gigabyte of values or of error text.

The ``effects`` block is the protocol of the effect analyses (the emulated target trial,
:class:`cohort.definitions.target_trial.TrialSpec`); ``comparison_delivery`` names the
delivery those analyses read (see :data:`SPEC`).

What a parameter file refers to is checked against the delivery itself by
:func:`check_against_delivery` before any notebook starts: the delivery loads, every site
in ``sites`` exists there and was accepted, and the dates fall where the data can say
something about them.

Papermill reads YAML without turning dates into date objects, so notebooks receive dates
as strings like ``"2024-12-31"``; :func:`from_mapping` parses them here, in the package,
and accepts ``datetime.date`` values too (as :func:`load_params` reads them).

Examples
--------
>>> p = from_mapping({"name": "demo", "title": "Demo", "language": "en",
...                   "delivery": "data/synthetic/default", "reference_date": "2024-12-31"},
...                  source="example", check_delivery=False)
>>> p.reference_date, p.study_start, p.disclosure.threshold
(datetime.date(2024, 12, 31), datetime.date(2023, 1, 1), 10)
>>> p.sites is None  # "all"
True
>>> from_mapping({"name": "demo", "colour": "red"}, source="x.yaml")
Traceback (most recent call last):
...
cohort.exceptions.ParameterError: x.yaml: unknown parameter 'colour'; known parameters: name, title, author, organisation, issue_date, version, status, language, delivery, reference_date, study_start, previous_reference_date, sites, reregistration_window_days, followup_months, safety_threshold, change_date, disclosure, seed, comparison_delivery, effects, output_dir
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cohort.disclosure.policy import DisclosurePolicy, DisclosureSettings, disclosure_settings
from cohort.exceptions import InputNotFoundError, ParameterError
from cohort.strict_yaml import load_yaml, short

if TYPE_CHECKING:
    from cohort.definitions.target_trial import TrialSpec

__all__ = [
    "SPEC",
    "ParamSpec",
    "Params",
    "load_params",
    "from_mapping",
    "from_namespace",
    "repo_root",
    "resolve_path",
    "notebook_parameters",
    "check_against_delivery",
    "Note",
    "check_comparison_delivery",
]

LANGUAGES = ("nl", "en")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DISCLOSURE_KEYS = ("threshold", "rounding", "enabled", "lower_minimum", "protection_width")


# --- value checks: each takes the raw value and returns the parsed one or raises ValueError
# with a phrase saying what is expected ---------------------------------------------------


def _text(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be non-empty text")
    return value


def _name(value):
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(
            "must be a short name of lower-case letters, digits, '.', '_' or '-' "
            "(it becomes the report's folder name)"
        )
    return value


def _language(value):
    if value not in LANGUAGES:
        raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
    return value


def _date(value):
    if isinstance(value, dt.datetime):
        raise ValueError("must be a date without a time, like 2024-12-31")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("must be a date like 2024-12-31")


def _optional_date(value):
    return None if value is None else _date(value)


def _optional_text(value):
    return None if value is None else _text(value)


def _version(value):
    if not isinstance(value, str) or not value.strip():
        # YAML reads 1.10 as the number 1.1: a version must be quoted to keep its digits
        raise ValueError('must be text in quotes, e.g. "1.0"')
    return value.strip()


#: Report statuses: a draft (*concept*) or the final, issued report (*definitief*).
STATUSES = ("draft", "final")


def _status(value):
    if value not in STATUSES:
        raise ValueError("must be draft (concept) or final (definitief)")
    return value


def _path(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a path (relative to the repository root, or absolute)")
    return value


def _optional_path(value):
    return None if value is None else _path(value)


def _effects(value):
    """The effects block: a mapping of the protocol's keys; the values are checked with the
    reference date (:func:`from_mapping`), since the enrolment window depends on it."""
    from cohort.definitions.target_trial import _KEYS

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping with the keys {', '.join(_KEYS)} (or empty)")
    unknown = [k for k in value if k not in _KEYS]
    if unknown:
        raise ValueError(f"has unknown key {short(unknown[0], 40)}; known keys: {', '.join(_KEYS)}")
    return dict(value)


def _int_between(low, high):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return check


def _number_between(low, high):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"must be a number from {low} to {high}")
        return float(value)

    return check


def _sites(value):
    if value == "all":
        return None
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(s, str) and s.strip() for s in value)
    ):
        raise ValueError('must be "all" or a non-empty list of site codes')
    if len(set(value)) != len(value):
        raise ValueError("lists a site twice")
    return tuple(sorted(value))


def _disclosure(value):
    """The disclosure settings (:func:`cohort.disclosure.policy.disclosure_settings`): the
    policy, the workbench minimum and an explicit lowering of it."""
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping with threshold, rounding and enabled")
    unknown = sorted(set(value) - set(_DISCLOSURE_KEYS))
    if unknown:
        raise ValueError(f"has unknown key {unknown[0]!r}; known keys: {', '.join(_DISCLOSURE_KEYS)}")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError("enabled must be true or false")
    try:
        return disclosure_settings(dict(value), source="")
    except ParameterError as error:
        raise ValueError(str(error).lstrip(": ").replace("disclosure ", "")) from None


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: its check, whether it is required, its default, its meaning."""

    key: str
    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None
    description: str = ""


#: Every parameter, in the order notebooks and parameter files list them.
SPEC: tuple[ParamSpec, ...] = (
    ParamSpec("name", _name, True, description="report name; the report goes to reports/<name>/"),
    ParamSpec("title", _text, True, description="title on the report's title page"),
    ParamSpec("author", _optional_text, False, None, "author(s) named in the title block (empty: not named)"),
    ParamSpec(
        "organisation", _optional_text, False, None, "organisation issuing the report (empty: not named)"
    ),
    ParamSpec("issue_date", _optional_date, False, None, "date the report is issued (empty: not issued yet)"),
    ParamSpec("version", _version, False, "0.1", 'version of the report, as text, e.g. "1.0"'),
    ParamSpec(
        "status",
        _status,
        False,
        "draft",
        "draft (concept) or final (definitief); a final report needs author, organisation and issue_date",
    ),
    ParamSpec("language", _language, True, description="report language: nl (Dutch) or en (English)"),
    ParamSpec("delivery", _path, True, description="delivery folder, relative to the repository root or absolute"),
    ParamSpec("reference_date", _date, True, description="peildatum: the date the report describes"),
    ParamSpec("study_start", _date, False, "2023-01-01", "start of monitoring"),
    ParamSpec(
        "previous_reference_date",
        _optional_date,
        False,
        None,
        "reference date of the previous report, to show what changed since (empty: none)",
    ),
    ParamSpec("sites", _sites, False, "all", 'site codes to include, or "all"'),
    ParamSpec(
        "reregistration_window_days",
        _int_between(1, 3650),
        False,
        365,
        "window after a closure in which a new referral or registration is a re-registration",
    ),
    ParamSpec("followup_months", _int_between(1, 120), False, 24, "longest follow-up shown in survival curves"),
    ParamSpec("safety_threshold", _number_between(0, 10), False, 7, "safety score counted as safe enough"),
    ParamSpec("change_date", _date, False, "2024-01-01", "change date for segmented regression"),
    ParamSpec(
        "disclosure",
        _disclosure,
        False,
        {"threshold": 10, "rounding": None, "enabled": True},
        "disclosure control: minimum units per cell (at least the workbench minimum 10 unless "
        "lower_minimum gives the reason), rounding multiple (or empty), on/off, protection_width",
    ),
    ParamSpec("seed", _int_between(0, 2**32 - 1), False, 20230101, "seed for every random number generator"),
    ParamSpec(
        "comparison_delivery",
        _optional_path,
        False,
        None,
        "delivery the effects section reads, for its comparison regions and the report's pilot "
        "sites as recorded there (both arms measured alike, quarters before each start); "
        "empty: the report's own delivery and its comparison regions",
    ),
    ParamSpec(
        "effects",
        _effects,
        False,
        {},
        "protocol of the effect analyses (cohort.definitions.target_trial.TrialSpec): "
        "enrolment_start, enrolment_end, comparison, covariates, horizons_months, "
        "trim_quantiles, stabilised, bootstrap_replications",
    ),
    ParamSpec(
        "output_dir",
        _optional_path,
        False,
        None,
        "where notebooks write released tables; set by `cohort report`, empty otherwise",
    ),
)

SPEC_BY_KEY: dict[str, ParamSpec] = {s.key: s for s in SPEC}
KEYS: tuple[str, ...] = tuple(s.key for s in SPEC)


@dataclass(frozen=True)
class Params:
    """A checked parameter set. Build it with :func:`load_params` or :func:`from_mapping`.

    Dates are ``datetime.date``; ``sites`` is ``None`` for all sites, else a sorted tuple;
    ``delivery``, ``comparison_delivery`` and ``output_dir`` are resolved absolute paths;
    ``effects`` is the checked protocol of the effect analyses (a
    :class:`~cohort.definitions.target_trial.TrialSpec` on the reference date). ``raw``
    keeps the values as notebooks receive them (dates as ISO strings; the effects block
    with every key), for papermill and provenance.
    """

    name: str
    title: str
    author: str | None
    organisation: str | None
    issue_date: dt.date | None
    version: str
    status: str
    language: str
    delivery: Path
    reference_date: dt.date
    study_start: dt.date
    previous_reference_date: dt.date | None
    sites: tuple[str, ...] | None
    reregistration_window_days: int
    followup_months: int
    safety_threshold: float
    change_date: dt.date
    disclosure: DisclosurePolicy
    seed: int
    comparison_delivery: Path | None
    effects: TrialSpec
    output_dir: Path | None
    disclosure_settings: DisclosureSettings | None = None
    source: str = field(default="", compare=False)
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def settings(self) -> DisclosureSettings:
        """The disclosure settings in force: the policy with the workbench minimum and any
        explicit lowering (:func:`cohort.disclosure.policy.disclosure_settings`).

        Raises
        ------
        ParameterError
            The policy was replaced by one below the minimum without a lowering.
        """
        s = self.disclosure_settings
        if s is not None and s.policy == self.disclosure:
            return s
        return disclosure_settings(self.disclosure.as_dict(), source=self.source or "parameters")

    def notebook_parameters(self, **overrides) -> dict:
        """The parameters as papermill injects them: plain literals, dates as ISO strings.

        Examples
        --------
        >>> p = from_mapping({"name": "d", "title": "D", "language": "nl",
        ...                   "delivery": "x", "reference_date": "2024-12-31"}, check_delivery=False)
        >>> p.notebook_parameters(output_dir="out")["output_dir"], p.notebook_parameters()["sites"]
        ('out', 'all')
        """
        values = dict(self.raw)
        unknown = sorted(set(overrides) - set(KEYS))
        if unknown:
            raise ParameterError(f"unknown parameter {unknown[0]!r}")
        values.update(overrides)
        return {k: values[k] for k in KEYS}

    @property
    def quarter_label(self) -> str:
        """The reference date's quarter, e.g. ``2024Q4``."""
        return f"{self.reference_date.year}Q{(self.reference_date.month - 1) // 3 + 1}"


def repo_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder holding ``pyproject.toml`` and ``parameters/``.

    Searched upwards from ``start`` (default: the working directory, so notebooks opened
    in ``notebooks/`` find it), then from the installed package's source tree.
    """
    candidates = [Path(start or Path.cwd()).resolve(), Path(__file__).resolve().parent]
    for begin in candidates:
        for folder in (begin, *begin.parents):
            if (folder / "pyproject.toml").is_file() and (folder / "parameters").is_dir():
                return folder
    return Path.cwd().resolve()


def resolve_path(value: str | Path, root: Path | None = None) -> Path:
    """Resolve a parameter path: absolute paths stay, relative ones are under the repo root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root or repo_root()) / path


def from_mapping(
    values: Mapping[str, Any],
    source: str = "parameters",
    *,
    root: Path | None = None,
    check_delivery: bool = True,
) -> Params:
    """Check ``values`` against :data:`SPEC` and return :class:`Params`.

    Parameters
    ----------
    values : mapping
        Parameter values as read from YAML or injected by papermill.
    source : str
        Where the values come from, named in every error (usually the file).
    root : Path, optional
        Folder that relative paths are relative to (default :func:`repo_root`).
    check_delivery : bool
        Whether the delivery folder must exist.

    Raises
    ------
    ParameterError
        An unknown key, a missing required key, a bad value, or inconsistent dates.
    InputNotFoundError
        The delivery folder does not exist.
    """
    if not isinstance(values, Mapping):
        raise ParameterError(f"{source}: a parameter file must be a mapping of keys to values")
    unknown = [k for k in values if k not in SPEC_BY_KEY]
    if unknown:
        raise ParameterError(
            f"{source}: unknown parameter {short(unknown[0], 40)}; known parameters: "
            f"{', '.join(KEYS)}"
        )
    parsed: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for spec in SPEC:
        if spec.key in values:
            value = values[spec.key]
        elif spec.required:
            raise ParameterError(f"{source}: required parameter {spec.key!r} is missing ({spec.description})")
        else:
            value = spec.default
        try:
            parsed[spec.key] = spec.check(value)
        except ValueError as error:
            raise ParameterError(
                f"{source}: parameter {spec.key!r} {error}, got {short(value)}"
            ) from None
        raw[spec.key] = _as_literal(value)
    settings = parsed["disclosure"]
    parsed["disclosure"] = settings.policy
    parsed["disclosure_settings"] = settings
    # as notebooks receive it: the policy, and the lowering and protection width only when set
    raw["disclosure"] = settings.policy.as_dict()
    if settings.lower_minimum is not None:
        raw["disclosure"]["lower_minimum"] = settings.lower_minimum
    if settings.protection_width is not None:
        raw["disclosure"]["protection_width"] = settings.protection_width
    _check_dates(parsed, source)
    parsed["effects"], raw["effects"] = _effects_protocol(parsed, source)
    root = root or repo_root()
    for key in ("delivery", "comparison_delivery"):
        if parsed[key] is None:
            continue
        folder = resolve_path(parsed[key], root)
        if check_delivery and not folder.is_dir():
            raise InputNotFoundError(
                f"{source}: parameter {key!r}: folder {parsed[key]!r} does not exist; "
                "give a delivery folder relative to the repository root or an absolute path"
            )
        parsed[key] = folder
    if parsed["output_dir"] is not None:
        parsed["output_dir"] = resolve_path(parsed["output_dir"], root)
    return Params(**parsed, source=source, raw=raw)


def _effects_protocol(parsed: dict, source: str):
    """The effects block as a checked protocol on the reference date, and as the literal
    mapping notebooks receive (every key; unset keys take the protocol's defaults,
    ``enrolment_start`` the study start; an empty ``enrolment_end`` stays empty: the
    reference date)."""
    from cohort.definitions.target_trial import _KEYS, TrialSpec

    given = parsed["effects"]
    values = {k: _as_literal(v) if isinstance(v, dt.date) else v for k, v in given.items()}
    values.setdefault("enrolment_start", parsed["study_start"].isoformat())
    spec = TrialSpec.from_mapping(values, parsed["reference_date"], source=f"{source}: parameter 'effects'")
    protocol = spec.as_dict()
    literal = {k: protocol[k] for k in _KEYS}
    if given.get("enrolment_end") is None:
        literal["enrolment_end"] = None
    return spec, literal


def _as_literal(value):
    """The value as papermill would inject it: dates become ISO strings, tuples lists."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _as_literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_literal(v) for v in value]
    return value


def _check_dates(p: dict, source: str) -> None:
    start, ref = p["study_start"], p["reference_date"]
    issued = p["issue_date"]
    if issued is not None and issued < ref:
        raise ParameterError(
            f"{source}: parameter 'issue_date' ({issued}) lies before reference_date ({ref}); "
            "a report is issued on or after the date it describes"
        )
    if p["status"] == "final":
        missing = [k for k in ("author", "organisation", "issue_date") if p[k] is None]
        if missing:
            raise ParameterError(
                f"{source}: parameter 'status' is final but {missing[0]!r} is empty; a final report "
                "names its author, organisation and issue date (or set status: draft)"
            )
    if ref <= start:
        raise ParameterError(
            f"{source}: parameter 'reference_date' ({ref}) must be after study_start ({start})"
        )
    if not start < p["change_date"] <= ref:
        raise ParameterError(
            f"{source}: parameter 'change_date' ({p['change_date']}) must lie after study_start "
            f"({start}) and on or before reference_date ({ref})"
        )
    prev = p["previous_reference_date"]
    if prev is not None and not start < prev < ref:
        raise ParameterError(
            f"{source}: parameter 'previous_reference_date' ({prev}) must lie between "
            f"study_start ({start}) and reference_date ({ref})"
        )


def load_params(path: str | Path, *, check_delivery: bool = True) -> Params:
    """Read and check a parameter file.

    YAML dates are kept as text, as papermill keeps them, so both paths parse them here.

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    ParameterError
        The file is too large, not UTF-8 or not valid YAML; it uses anchors or aliases,
        repeats a key or nests too deeply (the message names the line); or a key or value
        is wrong (the message names both).
    """
    from cohort.strict_yaml import MAX_BYTES

    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"parameter file {str(path)!r} not found")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ParameterError(
            f"{path} is {size:,} bytes; a parameter file holds a few settings (at most "
            f"{MAX_BYTES:,} bytes) (rule: yaml_size); check that you named the right file"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ParameterError(f"{path} cannot be read ({error.strerror}) (rule: unreadable)") from None
    values = load_yaml(data, source=str(path), error=ParameterError, dates_as_text=True)
    return from_mapping(values or {}, source=str(path), check_delivery=check_delivery)


def check_against_delivery(params: Params, delivery=None) -> tuple[str, ...]:
    """Check what a parameter set refers to against its delivery, before any notebook runs.

    Parameters
    ----------
    params : Params
        The checked parameters.
    delivery : cohort.delivery.load.Delivery or path-like, optional
        The loaded delivery (default: load ``params.delivery`` with ``on_error="proceed"``,
        which raises for a delivery that cannot be read or carries identifiers).

    Returns
    -------
    tuple of str
        Notes on what is allowed but worth saying in the report (a reference date after
        the data ends, a site that starts later, rows rejected by validation).

    A ``reference_date`` before the chosen ``sites``' data begin (sites that joined
    later) is a note (``no_data``), not an error: the report is built and says that there is
    nothing to report on that date. Before the *whole* delivery's data begin, it is an
    error (a mistaken date).

    Raises
    ------
    ParameterError
        Naming the parameter file and key: a site in ``sites`` that the delivery does not
        have or whose row validation rejected, selected sites without accepted households,
        a ``reference_date`` before the whole delivery's data begins, a ``study_start``
        after the selected sites' data ends, or a delivery without accepted sites or
        households.

    Examples
    --------
    >>> from cohort.delivery.load import load
    >>> d = load(repo_root() / "tests" / "fixtures" / "deliveries" / "valid", cache_dir=False)
    >>> p = from_mapping({"name": "d", "title": "D", "language": "en", "sites": ["AMS", "ROT"],
    ...                   "delivery": "tests/fixtures/deliveries/valid",
    ...                   "reference_date": "2024-12-31"}, source="p.yaml")
    >>> check_against_delivery(p, d)
    Traceback (most recent call last):
    ...
    cohort.exceptions.ParameterError: p.yaml: parameter 'sites': site 'ROT' is not a site of the delivery valid (its sites: AMS, UTR); use codes from the delivery's sites table
    """
    import pandas as pd

    if delivery is None or isinstance(delivery, str | Path):
        from cohort.delivery.load import load

        delivery = load(params.delivery if delivery is None else delivery, on_error="proceed")
    source = params.source or "parameters"
    name = delivery.name or "the delivery"
    sites = delivery.sites
    accepted = [str(s) for s in sites["site"].dropna()]
    if not accepted:
        raise ParameterError(
            f"{source}: parameter 'delivery': the delivery {name} has no accepted site (rule: "
            "no_sites); run 'cohort validate' on it and correct the sites table"
        )
    rejected_sites: set[str] = set()
    rejected = getattr(delivery.validation, "rejected", {}) or {}
    if "sites" in rejected and "site" in rejected["sites"].columns:
        rejected_sites = {str(v).strip() for v in rejected["sites"]["site"]}
    chosen = list(params.sites) if params.sites is not None else accepted
    shown = ", ".join(sorted(accepted)[:20]) + (", ..." if len(accepted) > 20 else "")
    for site in chosen:
        if site in accepted:
            continue
        if site in rejected_sites:
            raise ParameterError(
                f"{source}: parameter 'sites': the row of site {short(site, 20)} in the "
                f"delivery's sites table was rejected by validation (rule: rejected_site); "
                f"run 'cohort validate' on {name} and correct it, or leave the site out"
            )
        raise ParameterError(
            f"{source}: parameter 'sites': site {short(site, 20)} is not a site of the "
            f"delivery {name} (its sites: {shown}); use codes from the delivery's sites table"
        )
    households = delivery.households
    in_sites = households["site"].isin(chosen)
    if not bool(in_sites.any()):
        which = "the delivery" if params.sites is None else "the sites " + ", ".join(chosen)
        raise ParameterError(
            f"{source}: parameter 'sites': {which} have no accepted household (rule: "
            "no_households); run 'cohort validate' on the delivery"
        )
    rows = sites[sites["site"].isin(chosen)]
    first = pd.Timestamp(rows["delivery_start"].min()).date()
    last = pd.Timestamp(rows["delivery_end"].max()).date()
    scope = "delivery" if params.sites is None else "sites"
    what = "the delivery's data" if params.sites is None else "the data of the chosen sites"
    notes = []
    if params.reference_date < first:
        if params.sites is None:
            # the whole delivery begins after the reference date: a mistaken date
            raise ParameterError(
                f"{source}: parameter 'reference_date' ({params.reference_date}) is before "
                f"{what} begins ({first}) (rule: reference_date_before_data); there is nothing "
                "to report on that date"
            )
        # a subset of sites that joined later: the report says so, and shows nothing
        # estimable, rather than refusing to be built
        notes.append(Note(
            "no_data",
            f"The data of the chosen sites ({', '.join(chosen)}) begin on {first}, after the "
            f"reference date {params.reference_date}: there is nothing to report on that date; "
            "the monitor shows no counts and the analyses are not estimable here.",
            sites=list(chosen), first=first, reference_date=params.reference_date,
        ))
    if params.study_start > last:
        raise ParameterError(
            f"{source}: parameter 'study_start' ({params.study_start}) is after {what} ends "
            f"({last}) (rule: study_start_after_data); the study period holds no data"
        )
    if params.reference_date > last:
        notes.append(Note(
            "after_data_end",
            f"The reference date {params.reference_date} lies after {what} ends ({last}): "
            "follow-up is censored where each site's data ends.",
            reference_date=params.reference_date, last=last, scope=scope,
        ))
    late = rows.loc[rows["delivery_start"] > pd.Timestamp(params.reference_date), "site"]
    if len(late) and params.reference_date >= first:
        notes.append(Note(
            "late_sites",
            "Sites whose data begins after the reference date add nothing to it: "
            + ", ".join(sorted(map(str, late)))
            + ".",
            sites=sorted(map(str, late)),
        ))
    prev = params.previous_reference_date
    if prev is not None and prev < first:
        notes.append(Note(
            "previous_before_data",
            f"The previous reference date {prev} is before {what} begins ({first}): there is "
            "no earlier figure to compare with.",
            previous_reference_date=prev, first=first, scope=scope,
        ))
    if not first < params.change_date <= last:
        notes.append(Note(
            "change_date_outside",
            f"The change date {params.change_date} is not inside the period {what} covers "
            f"({first} to {last}): the segmented regression has no data on one side.",
            change_date=params.change_date, first=first, last=last, scope=scope,
        ))
    acc = getattr(delivery.validation, "accounting", None)
    if acc is not None and len(acc) and int(acc["rows_rejected"].sum()):
        # the report's version names no count: the validation table releases them
        notes.append(Note(
            "rows_rejected",
            f"Validation rejected {int(acc['rows_rejected'].sum()):,} of "
            f"{int(acc['rows_read'].sum()):,} rows of the delivery; they are left out.",
        ))
    return tuple(notes)


class Note(str):
    """A note of :func:`check_against_delivery`: its English text, with ``key`` (report
    text ``delivery_notes.KEY``) and ``fields`` to write it in a report's language
    (:func:`cohort.report.notebook.note_text`)."""

    def __new__(cls, key: str, text: str, **fields):
        out = super().__new__(cls, text)
        out.key, out.fields = key, fields
        return out
def check_comparison_delivery(params: Params, delivery=None) -> None:
    """Check the delivery the effects section reads (``comparison_delivery``) before any
    notebook runs: it loads (identifiers refused, rows that fail validation kept aside) and
    holds at least one comparison region with accepted households.

    Raises
    ------
    ParameterError
        Naming the parameter file and key: the delivery has no site of the comparison arm,
        or none of its comparison regions has an accepted household.
    """
    from cohort.definitions.population import arm_counts
    from cohort.delivery.schema import COMPARISON

    if params.comparison_delivery is None:
        return
    if delivery is None or isinstance(delivery, str | Path):
        from cohort.delivery.load import load

        delivery = load(params.comparison_delivery if delivery is None else delivery, on_error="proceed")
    source = params.source or "parameters"
    name = delivery.name or "the comparison delivery"
    counts = arm_counts(delivery).set_index("arm")
    if int(counts.loc[COMPARISON, "sites"]) == 0 or int(counts.loc[COMPARISON, "households"]) == 0:
        raise ParameterError(
            f"{source}: parameter 'comparison_delivery': the delivery {name} holds no comparison "
            "region with accepted households (no site with arm 'comparison' in its sites table); "
            "name a delivery with comparison regions, or leave the parameter empty"
        )


def from_namespace(namespace: Mapping[str, Any], *, check_delivery: bool = True) -> Params:
    """Collect the parameters from a notebook's namespace (``globals()``) and check them.

    Notebooks call ``P = cohort.report.params.from_namespace(globals())`` right after their
    ``parameters`` cell, so values papermill injected are parsed and checked the same way
    as a parameter file.
    """
    missing = [k for k in KEYS if k not in namespace]
    if missing:
        raise ParameterError(
            f"notebook parameters: {missing[0]!r} is not defined; the parameters cell must "
            f"define every key of cohort.report.params.SPEC"
        )
    return from_mapping(
        {k: namespace[k] for k in KEYS}, source="notebook parameters", check_delivery=check_delivery
    )


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """The literals assigned in a notebook's cell tagged ``parameters``.

    The cell may hold only assignments of literals (``name = "x"``, dicts, lists, ``None``),
    as papermill expects; anything else is a :class:`ParameterError` naming the notebook.
    """
    import ast
    import json

    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path.name}: needs exactly one cell tagged 'parameters', found {len(cells)}")
    source = cells[0]["source"]
    source = "".join(source) if isinstance(source, list) else source
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ParameterError(
                f"{path.name}: the parameters cell may only assign literals to names (line {node.lineno})"
            )
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(
                f"{path.name}: parameter {node.targets[0].id!r} must be a literal in the parameters cell"
            ) from None
    return values
