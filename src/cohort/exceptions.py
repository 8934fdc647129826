"""Errors a user can cause, shown by the CLI as one message without a traceback.

Every subclass of :class:`CohortError` carries an exit code. Messages name the file, row,
column, value (only where it cannot identify anyone) and rule, and say what to do.
Programming errors are *not* ``CohortError`` and keep their traceback.
"""

from __future__ import annotations


class CohortError(Exception):
    """Base class for errors the workbench displays without a traceback."""

    exit_code = 1


class InputNotFoundError(CohortError):
    """A file or folder the user named does not exist."""

    exit_code = 2


class ParameterError(CohortError):
    """A parameter file or command-line option has an unknown key or a bad value."""

    exit_code = 2


class DeliveryError(CohortError):
    """A delivery cannot be read: missing table, unreadable file, bad encoding, ambiguous dates."""

    exit_code = 3


class ValidationError(CohortError):
    """A delivery breaks validation rules; the full list is in ``violations``."""

    exit_code = 4

    def __init__(self, message: str, violations=None):
        super().__init__(message)
        self.violations = violations


class IdentifierError(CohortError):
    """A delivery still carries direct identifiers. The message never echoes the value."""

    exit_code = 5


class KeyMissingError(CohortError):
    """Pseudonymisation was asked for without a key."""

    exit_code = 6


class DefinitionError(CohortError):
    """An indicator, cohort or model definition is inconsistent."""

    exit_code = 7


class NotEstimable(DefinitionError):
    """An analysis cannot be estimated on these data (no events, too few observations for
    the model, a singular design); the definition itself is fine.

    ``reason`` names the case (a key of ``not_estimable.reasons`` in the report text, e.g.
    ``"no_events"``); ``facts`` are the numbers and names the explanation quotes. The
    message is the English report text unless one is given. Estimators of
    :mod:`cohort.stats` that meet such a case return a *not-estimable result* that holds
    this error (``not_estimable_``), and a report shows it as "not estimable here" with
    the reason, in its language.

    Examples
    --------
    >>> error = NotEstimable("no_events", what="the Cox model")
    >>> error.reason, error.facts
    ('no_events', {'what': 'the Cox model'})
    >>> isinstance(error, DefinitionError)
    True
    """

    def __init__(self, reason: str, message: str | None = None, **facts):
        self.reason = str(reason)
        self.facts = dict(facts)
        super().__init__(message if message is not None else _reason_text(self.reason, self.facts))


def _reason_text(reason: str, facts: dict) -> str:
    """The English report text of ``reason`` (``not_estimable.reasons.KEY`` in
    ``resources/report_text.yaml``), read here without the report package, which imports
    this module."""
    text = _english_reasons().get(reason)
    if text is None:
        return reason.replace("_", " ")
    try:
        return text.format(**facts)
    except (KeyError, IndexError):
        return reason.replace("_", " ")


def _english_reasons() -> dict:
    global _REASONS
    if _REASONS is None:
        from pathlib import Path

        import yaml

        path = Path(__file__).parent / "resources" / "report_text.yaml"
        texts = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        reasons = texts.get("not_estimable", {}).get("reasons", {})
        _REASONS = {key: value["en"] for key, value in reasons.items() if isinstance(value, dict) and "en" in value}
    return _REASONS


_REASONS = None


class DisclosureError(CohortError):
    """A table or file would release something disclosure control forbids."""

    exit_code = 8


class ReportError(CohortError):
    """A report build failed (for example a notebook raised); the last good report is kept."""

    exit_code = 9


def exit_code_for(error: BaseException) -> int:
    """Return the process exit code for ``error``.

    Examples
    --------
    >>> exit_code_for(ParameterError("unknown key 'foo'"))
    2
    """
    if isinstance(error, CohortError):
        return error.exit_code
    return 70  # EX_SOFTWARE: a bug, not a user error
