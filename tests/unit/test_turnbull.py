"""Turnbull's NPMLE against R (``survfit(Surv(L, R, type = "interval2") ~ g)``).

Reference values: ``tests/fixtures/interval/r/`` (``r/interval_reference.R`` on the intervals
that ``r/export_interval_inputs.py`` derives with the package's definitions from the bundled
delivery and from a fresh ``cohort synth --seed 15 --households 3000``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.base import StatisticalWarning
from cohort.stats.kaplan_meier import KaplanMeier
from cohort.stats.turnbull import Turnbull, _cnm_masses, interval_status

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "interval"
R = FIX / "r"
TOL = 1e-6
MONTHS = np.array([6, 12, 18, 24]) * 30.4375


def _case(name):
    return pd.read_csv(FIX / f"{name}.csv", keep_default_na=True)


def _ref(name):
    return pd.read_csv(R / name, keep_default_na=False, na_values=["NA"])


def _grouping(g):
    return None if g == "none" else g


def _r_groups(tab, grouping):
    return tab["group"].astype(str).to_numpy() if grouping != "none" else None


REF = _ref("turnbull.csv")
CURVES = sorted({(c, g, t) for c, g, t in REF[["case", "grouping", "conf_type"]].itertuples(index=False)})


@pytest.mark.parametrize(("case", "grouping", "conf_type"), CURVES)
def test_survfit_method_reproduces_r_row_for_row(case, grouping, conf_type):
    ref = REF[(REF["case"] == case) & (REF["grouping"] == grouping) & (REF["conf_type"] == conf_type)]
    fit = Turnbull(method="survfit", conf_type=conf_type).fit(_case(case), group_col=_grouping(grouping))
    tab = fit.table_
    assert len(tab) == len(ref)
    if grouping != "none":
        assert (tab["group"].astype(str).to_numpy() == ref["group"].astype(str).to_numpy()).all()
    np.testing.assert_allclose(tab["time"], ref["time"], rtol=0, atol=1e-12)
    # fit$std.err is the standard error of S with R's robust variance, of log S where R
    # falls back to Greenwood (whole-number weights); std_err is always that of S
    groups = tab["group"].to_numpy() if grouping != "none" else np.full(len(tab), "all")
    greenwood = np.array([fit.variance_[g] == "greenwood" for g in groups])
    ref = ref.assign(std_err=np.where(greenwood, ref["std_err"] * ref["survival"], ref["std_err"]))
    for ours, theirs in [("survival", "survival"), ("std_err", "std_err"), ("ci_lower", "lower"),
                         ("ci_upper", "upper"), ("n_risk", "n_risk"), ("n_event", "n_event"),
                         ("n_censor", "n_censor")]:
        np.testing.assert_allclose(tab[ours].to_numpy(dtype=float), ref[theirs].to_numpy(dtype=float),
                                   rtol=0, atol=TOL, equal_nan=True, err_msg=ours)


AT = _ref("turnbull_at.csv")


@pytest.mark.parametrize(("case", "grouping"), sorted({(c, g) for c, g in AT[["case", "grouping"]].itertuples(index=False)}))
def test_survival_at_months_and_median_as_r_summary_and_quantile(case, grouping):
    fit = Turnbull(method="survfit").fit(_case(case), group_col=_grouping(grouping))
    ref = AT[(AT["case"] == case) & (AT["grouping"] == grouping)]
    at = fit.survival_at(MONTHS)
    # R's summary drops times beyond a curve's end unless extend: both have 4 per group
    np.testing.assert_allclose(at["survival"], ref["survival"], atol=TOL)
    np.testing.assert_allclose(at["ci_lower"].to_numpy(dtype=float), ref["lower"].to_numpy(dtype=float),
                               atol=TOL, equal_nan=True)
    np.testing.assert_allclose(at["ci_upper"].to_numpy(dtype=float), ref["upper"].to_numpy(dtype=float),
                               atol=TOL, equal_nan=True)
    med = _ref("turnbull_median.csv")
    med = med[(med["case"] == case) & (med["grouping"] == grouping)]
    for ours, theirs in [("median", "median"), ("ci_lower", "lower"), ("ci_upper", "upper")]:
        np.testing.assert_allclose(fit.median_[ours].to_numpy(dtype=float),
                                   med[theirs].to_numpy(dtype=float), atol=TOL, equal_nan=True)


NPM = _ref("turnbull_npmle.csv")


@pytest.mark.parametrize(("case", "grouping"), sorted({(c, g) for c, g in NPM[["case", "grouping"]].itertuples(index=False)}))
def test_npmle_agrees_with_r_self_consistency_taken_to_convergence(case, grouping):
    """The NPMLE and R's variance at it (survfitKM on survfitTurnbull's pseudo-events)."""
    ref = NPM[(NPM["case"] == case) & (NPM["grouping"] == grouping)]
    fit = Turnbull(variance="survfit").fit(_case(case), group_col=_grouping(grouping))
    tab = fit.table_
    assert len(tab) == len(ref)
    for ours, theirs in [("survival", "survival"), ("std_err", "std_err"),
                         ("ci_lower", "lower"), ("ci_upper", "upper")]:
        np.testing.assert_allclose(tab[ours].to_numpy(dtype=float), ref[theirs].to_numpy(dtype=float),
                                   rtol=0, atol=TOL, equal_nan=True, err_msg=ours)


def _ranges_and_loglik(df):
    """Optimality check from first principles: the gradient of the log-likelihood over the
    jump points never exceeds the number of rows (Kuhn-Tucker) at the fitted masses."""
    fit = Turnbull().fit(df)
    jt = fit.intervals_
    t = jt["time"].to_numpy()
    mass = np.r_[jt["mass"].to_numpy(), max(0.0, 1 - jt["mass"].sum())]
    status = interval_status(df["left"], df["right"])
    lo, hi = df["left"].to_numpy(float), df["right"].to_numpy(float)
    a = np.where(status == 2, 0, np.where(status == 1, np.searchsorted(t, lo),
                                          np.searchsorted(t, lo, side="right")))
    b = np.where(status == 2, np.searchsorted(t, hi, side="right"),
                 np.where(status == 1, np.searchsorted(t, lo) + 1,
                          np.where(status == 0, len(t) + 1, np.searchsorted(t, hi, side="right"))))
    return a, b, mass


@pytest.mark.parametrize("case", ["bundled_direct", "bundled_stable", "fresh_direct"])
def test_npmle_meets_the_optimality_condition_and_beats_r(case):
    df = _case(case)
    a, b, mass = _ranges_and_loglik(df)
    prefix = np.r_[0.0, np.cumsum(mass)]
    rs = prefix[b] - prefix[a]
    assert (rs > 0).all()
    diff = np.zeros(len(mass) + 1)
    np.add.at(diff, a, 1 / rs)
    np.add.at(diff, b, -1 / rs)
    d = np.cumsum(diff)[:-1]
    n = len(df)
    assert d.max() / n - 1 <= 1e-9
    assert np.all(np.abs(d[mass > 1e-9] / n - 1) <= 1e-6)  # equality on the support
    # R's survfit estimate has a lower likelihood on the same jump points
    r = Turnbull(method="survfit").fit(df).intervals_["mass"].to_numpy()
    r = np.r_[r, max(0.0, 1 - r.sum())]
    pr = np.r_[0.0, np.cumsum(r)]
    assert np.sum(np.log(pr[b] - pr[a])) < np.sum(np.log(rs))


def test_survfit_stops_short_of_the_npmle_on_the_bundled_delivery():
    """Why the NPMLE is the default: R's stopping rule leaves the curve visibly off."""
    df = _case("bundled_direct")
    ours = Turnbull().fit(df).survival_at(MONTHS)["survival"].to_numpy()
    r = Turnbull(method="survfit").fit(df).survival_at(MONTHS)["survival"].to_numpy()
    assert np.abs(ours - r).max() > 1e-3


def test_without_censoring_intervals_the_npmle_is_the_kaplan_meier():
    rng = np.random.default_rng(3)
    t = rng.integers(1, 40, 200).astype(float)
    e = rng.random(200) < 0.7
    df = pd.DataFrame({"left": t, "right": np.where(e, t, np.inf)})
    tb = Turnbull().fit(df)
    km = KaplanMeier().fit(pd.DataFrame({"t": t, "e": e.astype(int)}), "t", "e")
    at = tb.survival_at(np.arange(0, 41.0))
    np.testing.assert_allclose(at["survival"], km.survival_at(np.arange(0, 41.0))["survival"], atol=1e-10)


def test_greenwood_branch_when_weights_are_whole_numbers():
    """R switches to Greenwood's variance when no pseudo-event weight is fractional."""
    fit = Turnbull(method="survfit").fit(_case("toy"), group_col="site")
    assert Turnbull(method="npmle", variance="survfit").fit(_case("toy"), group_col="site").variance_["c"] == "greenwood"
    assert fit.variance_["c"] == "greenwood"
    assert fit.variance_["a"] == "infinitesimal jackknife"


def test_cnm_on_a_two_point_problem_has_the_closed_form():
    # rows: 3 cover point 0 only, 1 covers both: NPMLE puts all mass on point 0
    p, _, ok = _cnm_masses(np.array([0, 0]), np.array([1, 2]), np.array([3.0, 1.0]), 2, 1e-12, 100)
    assert ok and p[0] == pytest.approx(1.0, abs=1e-9)
    # 2 rows point 0 only, 1 row point 1 only: masses 2/3, 1/3
    p, _, ok = _cnm_masses(np.array([0, 1]), np.array([1, 2]), np.array([2.0, 1.0]), 2, 1e-12, 100)
    np.testing.assert_allclose(p, [2 / 3, 1 / 3], atol=1e-10)


def test_groups_are_fitted_separately_and_in_sorted_order():
    df = _case("toy")
    both = Turnbull().fit(df, group_col="site")
    assert both.labels_ == ["a", "b", "c"]
    alone = Turnbull().fit(df[df["site"] == "b"].reset_index(drop=True))
    part = both.table_[both.table_["group"] == "b"]
    np.testing.assert_allclose(part["survival"], alone.table_["survival"])
    assert list(both.survival_.columns) == ["a", "b", "c"]


def test_undetermined_times_are_flagged():
    df = pd.DataFrame({"left": [0.0, 0.0, 10.0], "right": [20.0, 20.0, np.inf]})
    at = Turnbull().fit(df).survival_at([15.0, 25.0])
    # the innermost interval is (10, 20]: where in it the two households became safe is
    # not determined, so neither is the survival at day 15
    assert at["determined"].tolist() == [False, True]


def test_input_is_not_changed_and_fit_returns_self():
    df = _case("toy")
    before = df.copy()
    est = Turnbull()
    assert est.fit(df) is est
    pd.testing.assert_frame_equal(df, before)
    assert "Turnbull" in repr(est) and est.describe()["conf_type"] == "log"


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({"left": [5.0], "right": [3.0]}), "left bound after right bound"),
    (pd.DataFrame({"left": [np.nan], "right": [np.inf]}), "both interval bounds"),
    (pd.DataFrame({"left": ["a"], "right": [3.0]}), "must be numeric"),
])
def test_bad_input_is_a_definition_error(frame, message):
    with pytest.raises(DefinitionError, match=message):
        Turnbull().fit(frame)


def test_no_rows_is_not_estimable_here():
    with pytest.warns(StatisticalWarning, match="not estimable here: the analysis table has no rows"):
        fit = Turnbull().fit(pd.DataFrame({"left": [], "right": []}))
    assert fit.not_estimable_.reason == "no_observations"


@pytest.mark.parametrize("kwargs", [{"method": "em"}, {"conf_type": "logit"}, {"alpha": 1.5},
                                    {"tol": 0}, {"max_iter": 0}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(DefinitionError):
        Turnbull(**kwargs)


def test_information_variance_is_greenwood_for_right_censored_and_binomial_for_discrete_data():
    rng = np.random.default_rng(4)
    t = rng.integers(1, 30, 300).astype(float)
    e = rng.random(300) < 0.6
    df = pd.DataFrame({"left": t, "right": np.where(e, t, np.inf)})
    km = KaplanMeier().fit(pd.DataFrame({"t": t, "e": e.astype(int)}), "t", "e")
    times = np.arange(1.0, 29.0)
    ours = Turnbull().fit(df).survival_at(times)["std_err"].to_numpy()
    np.testing.assert_allclose(ours, km.survival_at(times)["std_err"].to_numpy(), rtol=1e-7, atol=1e-12)
    # uncensored, discrete: the binomial standard error of the empirical distribution
    k = rng.integers(1, 5, 2000).astype(float)
    fit = Turnbull().fit(pd.DataFrame({"left": k - 1, "right": k}))
    at = fit.survival_at([1.0, 2.0, 3.0])
    s = at["survival"].to_numpy()
    np.testing.assert_allclose(at["std_err"], np.sqrt(s * (1 - s) / 2000), rtol=1e-8)
    assert fit.variance_ == {"all": "observed information"}
