"""The data model: the contract between the pilot sites and the workbench.

A delivery is a folder with one table per file (CSV, Parquet) or one Excel workbook with a
sheet per table. This module describes each table as plain data: its columns, their logical
types, whether they are required, and the values they may take. Validation
(:mod:`cohort.delivery.validate`) and loading (:mod:`cohort.delivery.load`) are built from
these specs, and ``docs/data-model.md`` documents them for the sites. A delivery may declare
extra columns in ``columns.yaml`` (:mod:`cohort.delivery.columns`); :func:`with_declared`
adds them to a table's spec for that delivery.

Logical types and their in-memory pandas dtype after loading:

========  ==========================================================
``id``    ``string`` (pandas ``StringDtype``); pseudonyms and codes
``str``   ``string``
``date``  ``datetime64[ns]``, midnight; empty means missing (``NaT``)
``bool``  ``boolean`` (nullable); accepted spellings in :data:`TRUE_VALUES`
``int``   ``Int64`` (nullable)
``float`` ``Float64``; decimal commas accepted in semicolon CSVs
``cat``   ``string`` restricted to ``allowed`` values
========  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: The competing event: an episode closed because the household left the region.
MOVED_AWAY = "moved_away"

CLOSURE_REASONS = (
    "goal_reached",  # safety reached, involvement ended as planned
    "transferred",  # handed over to regular care / another service
    "refused",  # the household ended cooperation
    MOVED_AWAY,  # the household moved out of the region (competing event)
    "other",
)

MEASURE_TYPES = (
    "supervision_order",  # ondertoezichtstelling (OTS)
    "custody_termination",  # gezagsbeeindigende maatregel
    "barring_order",  # huisverbod
    "contact_ban",  # contactverbod
    "probation_order",  # reclasseringsmaatregel
)

RESPONDENTS = ("professional", "parent", "child")

#: The arm of a site: ``pilot`` works the new way (from its ``pilot_start``), ``comparison``
#: is a region in regular care. A site without an arm is a pilot site, so deliveries made
#: before comparison sites existed stay valid.
PILOT, COMPARISON = "pilot", "comparison"
ARMS = (PILOT, COMPARISON)

SCORE_MIN, SCORE_MAX = 0.0, 10.0

TRUE_VALUES = ("true", "1", "yes", "ja", "j", "y", "t", "waar")
FALSE_VALUES = ("false", "0", "no", "nee", "n", "f", "onwaar")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # id, str, date, bool, int, float, cat
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""
    #: value of an optional column that is not delivered or left empty (None: missing)
    default: str | None = None
    #: Free text: the only kind of value that may hold a line break. No column of the data
    #: model is free text; a delivery declares its own free-text columns in columns.yaml.
    free_text: bool = False
    #: Declared by the delivery (columns.yaml), not part of the data model.
    declared: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Column, ...]
    description: str = ""
    extra_columns_allowed: bool = False
    references: dict[str, str] = field(default_factory=dict)  # column -> "table.column"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


SITES = Table(
    name="sites",
    key="site",
    description="One row per pilot site and the period its data covers.",
    columns=(
        Column("site", "id", description="site code, e.g. AMS"),
        Column("name", "str", description="site name, e.g. Amsterdam-Amstelland"),
        Column("delivery_start", "date", description="first date the site's data covers"),
        Column("delivery_end", "date", description="last date the site's data covers"),
        Column(
            "arm",
            "cat",
            required=False,
            nullable=True,
            allowed=ARMS,
            default=PILOT,
            description="pilot (works the new way) or comparison (regular care); empty: pilot",
        ),
        Column(
            "pilot_start",
            "date",
            required=False,
            nullable=True,
            description="first day the site works the new way; empty for comparison sites; "
            "empty for a pilot site: its delivery_start",
        ),
    ),
)

HOUSEHOLDS = Table(
    name="households",
    key="household_id",
    description="One row per household; further columns are kept as household covariates.",
    extra_columns_allowed=True,
    references={"site": "sites.site"},
    columns=(
        Column("household_id", "id", description="pseudonym"),
        Column("site", "id"),
        Column("has_children", "bool", description="children under 18 in the household"),
        Column("n_children", "int", required=False, nullable=True, min=0, max=20),
        Column("n_adults", "int", required=False, nullable=True, min=0, max=20),
        Column(
            "moved_out_date",
            "date",
            required=False,
            nullable=True,
            description="date the household moved out of the region (municipal records); "
            "a competing event for re-registration",
        ),
    ),
)

EPISODES = Table(
    name="episodes",
    key="episode_id",
    description="One row per episode of involvement (registration to closure).",
    references={"household_id": "households.household_id", "site": "sites.site"},
    columns=(
        Column("episode_id", "id"),
        Column("household_id", "id"),
        Column("site", "id"),
        Column("registration_date", "date"),
        Column("closure_date", "date", required=False, nullable=True, description="empty while open"),
        Column("closure_reason", "cat", required=False, nullable=True, allowed=CLOSURE_REASONS),
        Column("referral_source", "str", required=False, nullable=True),
        Column("rvt_start_date", "date", required=False, nullable=True),
        Column("rvt_end_date", "date", required=False, nullable=True),
    ),
)

LEGAL_MEASURES = Table(
    name="legal_measures",
    key="measure_id",
    description="One row per compulsory legal measure.",
    references={"household_id": "households.household_id", "episode_id": "episodes.episode_id"},
    columns=(
        Column("measure_id", "id"),
        Column("household_id", "id"),
        Column("episode_id", "id"),
        Column("measure_type", "cat", allowed=MEASURE_TYPES),
        Column("start_date", "date"),
        Column("end_date", "date", required=False, nullable=True),
    ),
)

SAFETY_ASSESSMENTS = Table(
    name="safety_assessments",
    key="assessment_id",
    description="One row per safety score (0-10) given by one respondent at one assessment.",
    references={"household_id": "households.household_id", "episode_id": "episodes.episode_id"},
    columns=(
        Column("assessment_id", "id"),
        Column("household_id", "id"),
        Column("episode_id", "id"),
        Column("assessment_date", "date"),
        Column("respondent", "cat", allowed=RESPONDENTS),
        Column("score", "float", min=SCORE_MIN, max=SCORE_MAX),
        Column("wave", "str", required=False, nullable=True, description="T0, T1, T2, ..."),
    ),
)

REFERRALS = Table(
    name="referrals",
    key="referral_id",
    description="One row per report about a household (e.g. to Veilig Thuis), whenever it happens.",
    references={"household_id": "households.household_id"},
    columns=(
        Column("referral_id", "id"),
        Column("household_id", "id"),
        Column("referral_date", "date"),
        Column("source", "str", required=False, nullable=True),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (SITES, HOUSEHOLDS, EPISODES, LEGAL_MEASURES, SAFETY_ASSESSMENTS, REFERRALS)
}

#: Columns that are pseudonyms or row identifiers; they never appear in released output.
ID_COLUMNS = ("household_id", "episode_id", "measure_id", "assessment_id", "referral_id")


def with_declared(table: Table, declared: tuple[Column, ...] = ()) -> Table:
    """The spec of ``table`` with the columns a delivery declared for it appended.

    Examples
    --------
    >>> t = with_declared(HOUSEHOLDS, (Column("severity", "cat", required=False, nullable=True,
    ...                                       allowed=("low", "high"), declared=True),))
    >>> t.column_names[-2:], HOUSEHOLDS.column_names[-1]
    (('moved_out_date', 'severity'), 'moved_out_date')
    """
    if not declared:
        return table
    return replace(table, columns=table.columns + tuple(declared))
