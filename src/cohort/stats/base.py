"""What every estimator shares: input checks, Newton's method, the Wald table, warnings.

Every estimator of :mod:`cohort.stats` follows lifelines' conventions:

* options in the constructor, checked there (``alpha`` in (0, 1));
* ``fit(...)`` returns ``self``;
* results in attributes with a trailing underscore (``params_``, ``converged_``, ...);
* ``summary`` is a DataFrame, ``print_summary()`` prints it, ``repr`` says what was fitted;
* :meth:`Estimator.describe` states what was fitted (ties, strata, clusters, interval
  transform) so that the methods text of a report is written from the fitted object and
  cannot contradict the code.

Regression models (:class:`RegressionModel`) share one coefficient vocabulary, the
:func:`wald_table`: ``estimate, se, statistic, p, ci_lower, ci_upper`` per term, and for
models on a log scale the exponentiated ``exp_estimate, exp_ci_lower, exp_ci_upper``
(hazard, rate or odds ratios). They also report ``term_support_``, the households (and
events) behind each term, which disclosure control uses for its per-term rule.

Tests of hypotheses (:class:`HypothesisTest`: the log-rank test, the proportional-hazards
test) are result objects on the same base: ``statistic_``, ``df_``, ``p_value_``,
``summary`` and ``describe()``.

Caveats are warnings of their own class: :class:`ConvergenceWarning` when an iteration
stops before converging, :class:`StatisticalWarning` when a result holds but needs care.
Every iterative fitter issues :class:`ConvergenceWarning` when it stops early and records
``converged_`` and ``n_iter_``; the Newton fitters share :func:`newton_raphson`.

Input checks are shared too: :func:`check_alpha` for the confidence level and
:func:`cohort.definitions.tables.require_columns` for the columns of the analysis table.

**Not estimable here.** A fit that the data cannot support (no events, no observations,
fewer observations than random effects, a singular design) raises
:class:`~cohort.exceptions.NotEstimable` inside ``fit``; every estimator's ``fit`` turns it
into a *not-estimable result*: ``fit`` returns ``self`` with ``not_estimable_`` holding the
error (``estimable`` is False), issues a :class:`StatisticalWarning`, and reading any
result (``params_``, ``summary``, ...) raises that error again. R sometimes returns a null
fit instead (``coxph`` without events: every coefficient ``NA``); such an estimator keeps
those results and marks them not estimable all the same. A report shows a not-estimable
result as "not estimable here" with the reason (:meth:`cohort.report.notebook.Report.table`).
Definition errors (a missing column, a bad option) still raise.

**Reduced fits.** Where R drops a term and fits the rest (a covariate constant within every
stratum, a column collinear with earlier ones: coefficient ``NA``), the estimator does the
same and records it in ``dropped_terms_`` (term -> reason key), which the release table
and the methods text show as not estimable.
"""

from __future__ import annotations

import copy
import functools
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from cohort.definitions.tables import require_columns
from cohort.exceptions import CohortError, DefinitionError, NotEstimable

# ----------------------------------------------------------------------------- helpers


def _check_columns(df: pd.DataFrame, columns) -> None:
    """The columns an estimator reads (``None`` entries skipped), else a DefinitionError."""
    require_columns(df, "analysis table", columns, error=DefinitionError)


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    s = df[col]
    if s.isna().any():
        raise DefinitionError(
            f"column {col!r} has {int(s.isna().sum())} missing value(s); drop or impute those "
            "rows before fitting"
        )
    try:
        return s.to_numpy(dtype="float64")
    except (TypeError, ValueError) as err:
        raise DefinitionError(f"column {col!r} must be numeric, got dtype {s.dtype}") from err


def _events(df: pd.DataFrame, col: str) -> np.ndarray:
    e = _numeric(df, col)
    if not np.isin(e, (0.0, 1.0)).all():
        raise DefinitionError(f"event column {col!r} must hold 0 (censored) or 1 (event)")
    return e.astype(bool)


def _group_codes(df: pd.DataFrame, group_col):
    """Integer codes and sorted labels of a grouping column (one group if ``None``)."""
    if group_col is None:
        return np.zeros(len(df), dtype=np.int64), [None]
    g = df[group_col]
    if g.isna().any():
        raise DefinitionError(f"group column {group_col!r} has missing values")
    codes, labels = pd.factorize(g, sort=True)
    return codes.astype(np.int64), list(labels)


def _composite(groups: np.ndarray, ranks: np.ndarray, n_ranks: int) -> np.ndarray:
    """One sortable int64 key per (group, time rank) pair."""
    return groups.astype(np.int64) * (n_ranks + 2) + ranks.astype(np.int64)


def _tri_pairs(p):
    ii, jj = np.triu_indices(p)
    return ii, jj


def _products(X: np.ndarray) -> np.ndarray:
    """Column-major matrix of the products X[:, a] * X[:, b], a <= b (upper triangle)."""
    ii, kk = _tri_pairs(X.shape[1])
    out = np.empty((X.shape[0], len(ii)), order="F")
    for c, (a, b) in enumerate(zip(ii, kk, strict=True)):
        np.multiply(X[:, a], X[:, b], out=out[:, c])
    return out


class ConvergenceWarning(UserWarning):
    """A model did not converge; estimates may be unreliable."""


class StatisticalWarning(UserWarning):
    """A result that holds but needs care (few events, a reduced fit, a boundary estimate)."""


def check_alpha(alpha, *, error=DefinitionError) -> float:
    """``alpha`` (1 - confidence level) as a float in (0, 1), else ``error``.

    The one check of every estimator, interval and test; ``error`` lets a caller that
    reads ``alpha`` from a parameter file raise
    :class:`~cohort.exceptions.ParameterError` instead.

    >>> check_alpha(0.05)
    0.05
    >>> check_alpha(1)
    Traceback (most recent call last):
    ...
    cohort.exceptions.DefinitionError: alpha must lie in (0, 1), got 1
    """
    ok = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool) and 0 < alpha < 1
    if not ok:
        raise error(f"alpha must lie in (0, 1), got {alpha!r}")
    return float(alpha)


# private name kept for estimators written against the earlier base
_check_alpha = check_alpha


def wald_table(names, estimate, se, alpha: float = 0.05, *, exp: bool = False,
               dist: str = "normal", df_resid: float | None = None) -> pd.DataFrame:
    """The coefficient table of every regression model: one row per term.

    Columns ``estimate, se, statistic, p, ci_lower, ci_upper`` (Wald: ``estimate / se``
    against the normal, or Student's t with ``df_resid`` degrees of freedom), and with
    ``exp=True`` also ``exp_estimate, exp_ci_lower, exp_ci_upper`` (hazard, rate or odds
    ratios). The index is named ``term``.

    Examples
    --------
    >>> wald_table(["x"], [0.5], [0.25], exp=True).round(4).T
    term               x
    estimate      0.5000
    se            0.2500
    statistic     2.0000
    p             0.0455
    ci_lower      0.0100
    ci_upper      0.9900
    exp_estimate  1.6487
    exp_ci_lower  1.0101
    exp_ci_upper  2.6912
    """
    alpha = check_alpha(alpha)
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    if dist == "t":
        if df_resid is None:
            raise DefinitionError("a t-based Wald table needs the residual degrees of freedom")
        q = stats.t.ppf(1 - alpha / 2, df_resid)
        p = 2 * stats.t.sf(np.abs(z), df_resid)
    elif dist == "normal":
        q = stats.norm.ppf(1 - alpha / 2)
        p = 2 * stats.norm.sf(np.abs(z))
    else:
        raise DefinitionError(f"dist must be 'normal' or 't', got {dist!r}")
    lo, hi = est - q * se, est + q * se
    columns = {"estimate": est, "se": se, "statistic": z, "p": p, "ci_lower": lo, "ci_upper": hi}
    if exp:
        columns.update(exp_estimate=np.exp(est), exp_ci_lower=np.exp(lo), exp_ci_upper=np.exp(hi))
    return pd.DataFrame(columns, index=pd.Index([str(n) for n in names], name="term"))


class NewtonResult:
    """Outcome of :func:`newton_raphson`: the maximiser and what the iteration saw."""

    __slots__ = ("x", "value", "gradient", "information", "n_iter", "converged", "value_start",
                 "diverging", "settled_x", "settled_step")

    def __init__(self, x, value, gradient, information, n_iter, converged, value_start,
                 diverging=False, settled_x=None, settled_step=None):
        self.x, self.value, self.gradient, self.information = x, value, gradient, information
        self.n_iter, self.converged, self.value_start = n_iter, converged, value_start
        self.diverging = diverging
        self.settled_x = x if settled_x is None else settled_x
        self.settled_step = np.zeros(len(x)) if settled_step is None else settled_step

    def infinite(self, eps: float = 1e-9) -> np.ndarray:
        """R's rule for an infinite coefficient (``coxph.fit``): where the likelihood had
        converged (relative change at most ``eps``), the Newton step is larger than ``eps``
        and than ``sqrt(eps)`` times the coefficient."""
        step = np.abs(self.settled_step)
        return (step > eps) & (step > np.sqrt(eps) * np.abs(self.settled_x))

    def __repr__(self) -> str:
        return f"NewtonResult(value={self.value:.6g}, n_iter={self.n_iter}, converged={self.converged})"


def newton_raphson(objective, x0, *, max_iter: int = 50, tol: float = 1e-12,
                   step_tol: float = 1e-8, max_halvings: int = 30, what: str = "model",
                   allow_diverging: bool = False, value_tol: float = 1e-9) -> NewtonResult:
    """Maximise a concave log-likelihood by Newton's method with step-halving.

    ``objective(x)`` returns ``(value, gradient, information)``, the information being the
    negative Hessian. A step that lowers the value (or makes it non-finite) is halved up to
    ``max_halvings`` times. The iteration has converged when the relative change of the
    value is at most ``tol`` and the largest step component below ``step_tol``; otherwise a
    :class:`ConvergenceWarning` is issued and ``converged`` is False.

    The first iterate where the value has changed by at most ``value_tol`` (R's
    ``coxph.control(eps)``: where R stops) and the Newton step computed there are kept
    (``settled_x``, ``settled_step``), so that :meth:`NewtonResult.infinite` applies R's rule
    for infinite coefficients. With ``allow_diverging``, a likelihood that has converged
    while coefficients still move (a monotone likelihood: a term separates the outcome, its
    coefficient runs off to infinity) ends the iteration instead of raising when the
    information becomes singular or the iterations run out (``diverging`` True).

    Raises
    ------
    DefinitionError
        The information matrix is singular at the start (collinear terms, no unique
        maximum).
    NotEstimable
        It becomes singular later (reason ``diverging``: a coefficient diverging to
        infinity), unless ``allow_diverging`` and the likelihood has converged.

    Examples
    --------
    >>> res = newton_raphson(lambda x: (-(x[0] - 2) ** 2, np.array([-2 * (x[0] - 2)]), np.array([[2.0]])), [0.0])
    >>> float(res.x[0]), res.converged
    (2.0, True)
    """
    from scipy import linalg

    x = np.asarray(x0, dtype=float).copy()
    value, grad, info = objective(x)
    start = value
    converged = False
    n_iter = 0
    last_step = np.zeros(len(x))
    halving_failed = False
    value_settled = False  # the last iteration changed the value by at most value_tol
    settled = None  # (iterate, Newton step there) where the value first settled
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        if len(x):
            try:
                with warnings.catch_warnings():
                    if allow_diverging:  # a diverging coefficient makes it ill-conditioned
                        warnings.simplefilter("ignore", linalg.LinAlgWarning)
                    step = linalg.solve(info, grad, assume_a="pos")
                if not np.all(np.isfinite(step)):
                    raise linalg.LinAlgError("non-finite Newton step")
            except (linalg.LinAlgError, ValueError) as err:
                if n_iter == 1:
                    raise DefinitionError(
                        f"the {what}'s information matrix is singular (terms are collinear or "
                        "a term does not vary); drop or combine terms"
                    ) from err
                if allow_diverging and value_settled:
                    sx, ss = settled if settled is not None else (x, last_step)
                    return NewtonResult(x, float(value), grad, info, n_iter - 1, False, float(start),
                                        diverging=True, settled_x=sx, settled_step=ss)
                raise NotEstimable(
                    "diverging",
                    f"the {what}'s information matrix became singular after {n_iter - 1} "
                    "iterations: a coefficient diverges (a term separates the outcome "
                    "perfectly, or is nearly collinear with others); drop or combine such terms",
                ) from err
        else:
            step = np.zeros(0)
        if value_settled and settled is None:
            settled = (x.copy(), step.copy())
        new = x + step
        v_new, g_new, i_new = objective(new)
        halvings = 0
        while (not np.isfinite(v_new) or v_new < value - 1e-12 * abs(value)) and halvings < max_halvings:
            step = step / 2
            new = x + step
            v_new, g_new, i_new = objective(new)
            halvings += 1
        if not np.isfinite(v_new) or v_new < value - 1e-12 * abs(value):
            # no step along the Newton direction improves the likelihood (cmprsk's crr:
            # converge <- FALSE): stop at the last good point and say so
            halving_failed = True
            break
        done = abs(v_new - value) <= tol * abs(v_new) and (not len(step) or np.max(np.abs(step)) < step_tol)
        value_settled = abs(v_new - value) <= value_tol * abs(v_new)
        x, value, grad, info, last_step = new, v_new, g_new, i_new, step
        if done:
            converged = True
            break
    sx, ss = settled if settled is not None else (x, last_step)
    if halving_failed:
        warnings.warn(
            f"the {what} did not converge: after {n_iter} iterations no step of "
            f"{max_halvings} halvings improved the likelihood; estimates may be unreliable",
            ConvergenceWarning,
            stacklevel=4,
        )
        return NewtonResult(x, float(value), grad, info, n_iter, False, float(start),
                            settled_x=sx, settled_step=ss)
    if not converged and allow_diverging and value_settled:
        return NewtonResult(x, float(value), grad, info, n_iter, False, float(start),
                            diverging=True, settled_x=sx, settled_step=ss)
    if not converged:
        warnings.warn(
            f"the {what} did not converge in {max_iter} iterations; estimates may be "
            "unreliable (is a term separating the outcome perfectly?)",
            ConvergenceWarning,
            stacklevel=4,  # newton_raphson, the fit, its not-estimable guard: the caller
        )
    return NewtonResult(x, float(value), grad, info, n_iter, converged, float(start),
                        settled_x=sx, settled_step=ss)


def term_support(X, names, units, events=None, *, levels: bool = False) -> pd.DataFrame:
    """Households (units) and events behind each term of a design matrix.

    For a 0/1 column that takes both values (a dummy of a category, a yes/no covariate)
    the support is the smaller side: the distinct units with the value 1 and those with 0
    (a unit with rows on both sides counts on both), and likewise the events. For any
    other column (a numeric covariate, the intercept) it is every unit and every event.
    Disclosure control suppresses a term whose support is below the threshold
    (``docs/definitions.md``, "Model tables").

    Parameters
    ----------
    X : 2-D array, one row per data row
    names : term names, one per column of ``X``
    units : integer codes of the unit (household) of each row
    events : array, optional
        Events per row: a 0/1 (bool) indicator for time-to-event models, or counts for
        models of aggregated counts (then ``events`` sums the counts).
    levels : bool
        Also return both sides of every 0/1 term: ``units_1, units_0, events_1,
        events_0`` (``<NA>`` for other terms).

    Returns
    -------
    DataFrame indexed by ``term`` with ``indicator`` (0/1 column), ``units`` and ``events``
    (``<NA>`` when no events were given).

    Examples
    --------
    >>> X = np.array([[1.0, 0.3], [0.0, 0.5], [1.0, 0.9]])
    >>> term_support(X, ["a", "b"], np.array([0, 1, 2]), np.array([True, False, True])).reset_index()
      term  indicator  units  events
    0    a       True      1       0
    1    b      False      3       2
    """
    X = np.asarray(X, dtype=float)
    units = np.asarray(units, dtype=np.int64)
    n_units = int(units.max()) + 1 if len(units) else 0
    ev = None
    if events is not None:
        ev = np.asarray(events)
        ev = ev.astype(np.int64) if ev.dtype == bool else ev.astype(float)
    all_units = int(np.count_nonzero(np.bincount(units, minlength=n_units)))
    all_events = None if ev is None else ev.sum()
    rows = []
    for a, name in enumerate(names):  # one pass per term, each vectorised over the rows
        x = X[:, a]
        one = x == 1.0
        indicator = bool(len(x)) and bool(np.isin(x, (0.0, 1.0)).all()) and 0 < one.sum() < len(x)
        if indicator:
            u1 = int(np.count_nonzero(np.bincount(units[one], minlength=n_units)))
            u0 = int(np.count_nonzero(np.bincount(units[~one], minlength=n_units)))
            e1 = None if ev is None else ev[one].sum()
            e0 = None if ev is None else ev[~one].sum()
            rows.append((str(name), True, min(u1, u0), None if ev is None else min(e1, e0),
                         u1, u0, e1, e0))
        else:
            rows.append((str(name), False, all_units, all_events, None, None, None, None))
    cols = ["term", "indicator", "units", "events", "units_1", "units_0", "events_1", "events_0"]
    data = dict(zip(cols, zip(*rows, strict=True), strict=True)) if rows else {c: () for c in cols}
    out = pd.DataFrame({"indicator": np.asarray(data["indicator"], dtype=bool)},
                       index=pd.Index([str(t) for t in data["term"]], name="term"))
    for c in cols[2:]:
        out[c] = pd.array([None if v is None else int(round(v)) for v in data[c]], dtype="Int64")
    return out if levels else out[["indicator", "units", "events"]]


def _repr_value(value) -> bool:
    return isinstance(value, str | numbers.Number | type(None))


def _repr_format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def not_estimable(obj) -> NotEstimable | None:
    """Why ``obj`` is not estimable here, or ``None``: a not-estimable result of an
    estimator (``not_estimable_``), or a table that says so (``attrs["not_estimable"]``).

    Examples
    --------
    >>> t = pd.DataFrame({"x": []})
    >>> t.attrs["not_estimable"] = NotEstimable("no_observations")
    >>> not_estimable(t).reason, not_estimable(pd.DataFrame({"x": [1]}))
    ('no_observations', None)
    """
    if isinstance(obj, pd.DataFrame):
        found = obj.attrs.get("not_estimable")
        return found if isinstance(found, NotEstimable) else None
    if isinstance(obj, dict):
        for value in obj.values():
            found = not_estimable(value)
            if found is not None:
                return found
        return None
    found = getattr(obj, "__dict__", {}).get("not_estimable_")
    return found if isinstance(found, NotEstimable) else None


class NotEstimableResult(NotEstimable, AttributeError):
    """A result read from a not-estimable fit: a :class:`~cohort.exceptions.NotEstimable`
    that ``hasattr``/``getattr(obj, name, default)`` treat as a missing attribute."""


def _guard_describe(describe):
    """``describe`` of a not-estimable result: the model and the reason only, unless the
    estimator kept a null fit (then its facts, with ``not_estimable``)."""

    @functools.wraps(describe)
    def guarded(self):
        error = self.__dict__.get("not_estimable_")
        if error is not None and not self.fitted:
            return {"model": type(self).__name__, "not_estimable": error.reason}
        out = describe(self)
        if error is not None:
            out["not_estimable"] = error.reason
        return out

    guarded._guarded = True
    return guarded


def _guard_fit(fit):
    """``fit`` that turns a :class:`~cohort.exceptions.NotEstimable` into a not-estimable
    result (see the module docstring)."""

    @functools.wraps(fit)
    def guarded(self, *args, **kwargs):
        self.__dict__["not_estimable_"] = None
        try:
            return fit(self, *args, **kwargs)
        except NotEstimable as error:
            for name in [k for k in self.__dict__ if k.endswith("_") and not k.startswith("__")]:
                del self.__dict__[name]
            self._mark_not_estimable(error, stacklevel=2)
            return self

    guarded._guarded = True
    return guarded


class Estimator:
    """Base of every estimator: checked options, ``fit() -> self``, ``summary``, ``repr``.

    Subclasses set results as trailing-underscore attributes in ``fit`` and implement
    :attr:`summary` and :meth:`describe`. ``_fitted_attribute`` names the attribute whose
    presence marks a fitted estimator; reading results before ``fit`` raises a
    :class:`~cohort.exceptions.DefinitionError` that says to call ``fit`` first.

    Examples
    --------
    >>> class Mean(Estimator):
    ...     _fitted_attribute = "mean_"
    ...     def fit(self, values):
    ...         self.mean_, self.n_ = float(np.mean(values)), len(values)
    ...         return self
    ...     @property
    ...     def summary(self):
    ...         self._require_fitted()
    ...         return pd.DataFrame({"mean": [self.mean_]})
    >>> Mean()
    <Mean: not fitted>
    >>> Mean().fit([1, 2, 6])
    <Mean: n=3, confidence_level=0.95>
    >>> Mean().summary
    Traceback (most recent call last):
    ...
    cohort.exceptions.DefinitionError: Mean is not fitted yet: call fit() first
    """

    _fitted_attribute = "n_"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if callable(fit) and not getattr(fit, "_guarded", False):
            cls.fit = _guard_fit(fit)
        describe = cls.__dict__.get("describe")
        if callable(describe) and not getattr(describe, "_guarded", False):
            cls.describe = _guard_describe(describe)

    def __init__(self, alpha: float = 0.05):
        self.alpha = check_alpha(alpha)

    def __getattr__(self, name):
        # reached only for attributes that are not set: a result of a not-estimable fit
        error = self.__dict__.get("not_estimable_") if name != "__dict__" else None
        # a result (``params_``) or a property that reads one (``summary``: its
        # AttributeError lands here): the reason, not a missing attribute
        if error is not None and not name.startswith("_"):
            raise NotEstimableResult(error.reason, str(error), **error.facts)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def fitted(self) -> bool:
        return self._fitted_attribute in self.__dict__

    @property
    def estimable(self) -> bool:
        """False for a not-estimable result (``not_estimable_`` says why)."""
        return self.__dict__.get("not_estimable_") is None

    def _mark_not_estimable(self, error: NotEstimable, stacklevel: int = 3) -> None:
        """Record that this fit is not estimable here, and say so (the warning points
        ``stacklevel`` frames up: the caller of ``fit`` when called from ``fit``)."""
        self.__dict__["not_estimable_"] = error
        warnings.warn(f"{type(self).__name__} is not estimable here: {error}", StatisticalWarning,
                      stacklevel=stacklevel + 1)

    def _require_fitted(self) -> None:
        if not self.fitted:
            error = self.__dict__.get("not_estimable_")
            if error is not None:
                raise NotEstimableResult(error.reason, str(error), **error.facts)
            raise DefinitionError(f"{type(self).__name__} is not fitted yet: call fit() first")

    @property
    def summary(self) -> pd.DataFrame:  # pragma: no cover - every estimator overrides it
        raise NotImplementedError

    def print_summary(self, decimals: int = 4) -> None:
        """Print :attr:`summary` rounded to ``decimals``."""
        print(self.summary.round(decimals).to_string())

    def describe(self) -> dict:
        """What was fitted, as plain values for the methods text: at least ``model`` and
        ``n``; subclasses add their options (ties, strata, cluster, transform, ...). A
        not-estimable result says only that, and why (``not_estimable``: the reason key)."""
        self._require_fitted()
        return {"model": type(self).__name__, "n": int(getattr(self, "n_", 0)),
                "confidence_level": 1 - self.alpha}

    def _repr_fields(self) -> str:
        facts = self.describe()
        return ", ".join(f"{k}={_repr_format(v)}" for k, v in facts.items()
                         if k != "model" and _repr_value(v))

    def __repr__(self) -> str:
        error = self.__dict__.get("not_estimable_")
        if error is not None:
            return f"<{type(self).__name__}: not estimable here ({error.reason})>"
        if not self.fitted:
            return f"<{type(self).__name__}: not fitted>"
        return f"<{type(self).__name__}: {self._repr_fields()}>"


class HypothesisTest(Estimator):
    """Base of the tests: ``statistic_`` (chi-square), ``df_``, ``p_value_``.

    ``fit(...)`` computes the test and returns ``self``; :attr:`summary` is its table and
    :meth:`describe` adds the statistic, degrees of freedom and p-value.
    """

    _fitted_attribute = "statistic_"

    def __init__(self):
        super().__init__()

    def describe(self) -> dict:
        out = super().describe()
        del out["confidence_level"]
        out.update(statistic=float(self.statistic_), df=int(self.df_),
                   p=float(self.p_value_))
        return out


class RegressionModel(Estimator):
    """Base of the regression models: coefficients, their variance, the Wald table.

    Subclasses set ``params_`` (Series by term), ``variance_matrix_`` (DataFrame),
    ``converged_``, ``n_iter_``, ``n_`` and ``term_support_`` (:func:`term_support`) in
    ``fit``. ``_exp_scale`` names the ratio of exponentiated coefficients (``"hazard
    ratio"``, ``"rate ratio"``, ``"odds ratio"``) or is ``None`` for a linear model.

    :attr:`summary` is the one coefficient vocabulary (:func:`wald_table`);
    :meth:`release_table` the same numbers in the column layout of the released files
    (``term, estimate, se, ci_lower, ci_upper, statistic, p`` and, for models on a log
    scale, the ratio and its limits under the names ``_release_ratio_names``), which stays
    fixed so that released files do not change.
    """

    _fitted_attribute = "params_"
    _exp_scale: str | None = None
    _dist = "normal"
    _release_ratio_names: tuple[str, str, str] | None = None

    @property
    def standard_errors_(self) -> pd.Series:
        self._require_fitted()
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_.to_numpy())),
                         index=self.params_.index, name="se")

    def _df_resid(self):
        return None

    @property
    def summary(self) -> pd.DataFrame:
        """:func:`wald_table` of the coefficients."""
        self._require_fitted()
        return wald_table(self.params_.index, self.params_.to_numpy(),
                          self.standard_errors_.to_numpy(), self.alpha,
                          exp=self._exp_scale is not None, dist=self._dist,
                          df_resid=self._df_resid())

    def release_table(self) -> pd.DataFrame:
        """The coefficients in the layout of the released files (one row per term)."""
        s = self.summary
        out = pd.DataFrame({"term": s.index.to_list()})
        for col in ("estimate", "se", "ci_lower", "ci_upper", "statistic", "p"):
            out[col] = s[col].to_numpy()
        if self._release_ratio_names is not None:
            for name, col in zip(self._release_ratio_names,
                                 ("exp_estimate", "exp_ci_lower", "exp_ci_upper"), strict=True):
                out[name] = s[col].to_numpy()
        return out

    def describe(self) -> dict:
        out = super().describe()
        out.update(terms=[str(t) for t in self.params_.index],
                   converged=bool(getattr(self, "converged_", True)),
                   n_iter=int(getattr(self, "n_iter_", 0)))
        if self._exp_scale:
            out["ratio"] = self._exp_scale
        return out

    def _warn_not_converged(self, what: str, max_iter: int) -> None:
        warnings.warn(
            f"the {what} did not converge in {max_iter} iterations; estimates may be "
            "unreliable (raise max_iter, or check for a term separating the outcome)",
            ConvergenceWarning,
            stacklevel=3,
        )


# ----------------------------------------------------------------------------- groups


def fit_by_group(estimator: Estimator, df: pd.DataFrame, by, *args, **kwargs) -> dict:
    """Fit a fresh copy of ``estimator`` to every group of ``df``: ``{key: fitted}``.

    Groups are the combinations of the ``by`` columns, in sorted order; keys are tuples.
    ``args`` and ``kwargs`` go to ``fit``. An error of one group names the group.

    Examples
    --------
    >>> from cohort.stats.poisson import PoissonModel
    >>> d = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "q": [0.0, 1, 2, 3] * 2,
    ...                   "n": [10, 12, 15, 16, 20, 19, 22, 25]})
    >>> models = fit_by_group(PoissonModel(), d, ["g"], "n", "q")
    >>> list(models), round(float(models[("b",)].params_["q"]), 4)
    ([('a',), ('b',)], 0.0839)
    """
    by = [by] if isinstance(by, str) else list(by)
    _check_columns(df, by)
    out = {}
    for key, idx in df.groupby(by, sort=True, observed=True).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        model = copy.deepcopy(estimator)
        try:
            out[key] = model.fit(df.iloc[idx], *args, **kwargs)
        except CohortError as err:
            raise type(err)(f"group {dict(zip(by, key, strict=True))}: {err}") from err
    return out


def release_table_by_group(models: dict, by) -> pd.DataFrame:
    """The :meth:`RegressionModel.release_table` of every group, stacked, ``by`` columns
    first (the output of :func:`fit_by_group`)."""
    by = [by] if isinstance(by, str) else list(by)
    pieces = []
    for key, model in models.items():
        tab = model.release_table()
        for col, value in zip(by, key, strict=True):
            tab[col] = value
        pieces.append(tab)
    out = pd.concat(pieces, ignore_index=True)
    return out[by + [c for c in out.columns if c not in by]]
