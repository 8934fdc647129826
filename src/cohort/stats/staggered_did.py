"""Staggered adoption: group-time average treatment effects (Callaway and Sant'Anna 2021).

Sites start the new way in different quarters. For every adoption group ``g`` (the sites
starting in period ``g``) and period ``t`` the group-time effect ``ATT(g, t)`` is, without
covariates, a difference of mean changes (a 2x2 difference in differences):

    ATT(g, t) = mean over g of (Y_t - Y_b)  -  mean over the controls of (Y_t - Y_b)

with base period ``b = g - 1`` for ``t >= g`` and ``b = t - 1`` before (R ``did``'s default
``base_period = "varying"``), and controls the never-treated units (``control_group =
"nevertreated"``, default) or the never- and not-yet-treated units (``"notyettreated"``:
units whose group is later than ``t``). Groups first treated in the first period, which
have no pre-period, are left out, as ``did`` does. The estimates equal ``did::att_gt(...,
xformla = ~1)`` (with no covariates its ``dr``, ``ipw`` and ``reg`` methods coincide); the
tests check them against the 2x2 differences of means and against the values ``did``'s
documentation prints for its ``mpdta`` example.

Aggregations (``did::aggte``): the **event study** ``theta(e) = sum_g w_g ATT(g, g + e)``
over the groups observed ``e`` periods after adoption, weighted by group size, and its
overall effect (the mean of ``theta(e)`` over ``e >= 0``); the **group** effects (mean of
each group's post-adoption ``ATT(g, t)``) and their size-weighted overall effect; the
**simple** size-weighted mean of all post-adoption ``ATT(g, t)``. A Wald **pre-test** of
parallel trends tests that every pre-adoption ``ATT(g, t)`` is 0 (as ``did``'s summary).

**Inference with few clusters.** Units are sites, and there are about ten pilot sites, so
large-sample standard errors are too small. Intervals and p-values come from a **wild
cluster bootstrap-t** by site: each draw multiplies each site's residuals (its outcomes
minus its adoption group's mean in every period) by one multiplier (Webb's six-point
distribution by default, or Rademacher), recomputes every estimate and its standard error
on the perturbed panel, and the symmetric percentile of ``|t*|`` replaces 1.96. The group
sizes of the aggregations are the design's (the sites that started when they did) and held
fixed: inference is conditional on the adoption design. ``se_did`` additionally reports
``did``'s large-sample standard error, which treats the group shares as estimated.

Examples
--------
>>> import pandas as pd
>>> panel = pd.DataFrame({
...     "site": ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 3,
...     "period": [1, 2, 3] * 4, "group": [2] * 3 + [3] * 3 + [0] * 6,
...     "y": [1.0, 3.0, 4.0, 2.0, 2.5, 5.0, 1.0, 1.5, 2.0, 0.0, 0.5, 1.0]})
>>> did = StaggeredDiD(bootstrap_replications=199, seed=1).fit(panel, "y", "site", "period", "group")
>>> did.att_gt_[["group", "time", "att"]]
   group  time  att
0      2     2  1.5
1      2     3  2.0
2      3     2  0.0
3      3     3  2.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import Estimator, _check_columns

__all__ = ["CONTROL_GROUPS", "MULTIPLIERS", "StaggeredDiD", "multipliers"]

CONTROL_GROUPS = ("nevertreated", "notyettreated")
MULTIPLIERS = ("webb", "rademacher")

_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def multipliers(kind: str, size, rng: np.random.Generator) -> np.ndarray:
    """Wild bootstrap multipliers with mean 0 and variance 1.

    ``"rademacher"``: -1 or 1 with probability 1/2; ``"webb"``: Webb's six-point
    distribution (+-sqrt(1/2), +-1, +-sqrt(3/2), each 1/6), better with few clusters since it
    has more distinct draws.

    Examples
    --------
    >>> sorted(set(np.round(multipliers("webb", 1000, np.random.default_rng(1)) ** 2, 4).tolist()))
    [0.5, 1.0, 1.5]
    >>> float(np.mean(multipliers("webb", 1000, np.random.default_rng(1)) ** 2)) > 0.9
    True
    """
    if kind == "rademacher":
        return rng.integers(0, 2, size=size) * 2.0 - 1.0
    if kind == "webb":
        return _WEBB[rng.integers(0, 6, size=size)]
    raise DefinitionError(f"multipliers must be one of {MULTIPLIERS}, got {kind!r}")


class _Design:
    """The cells (g, t) with their base periods, treated and control units."""

    def __init__(self, groups_of_unit, periods, control_group, anticipation):
        self.periods = periods
        first = periods[0]
        gl = np.unique(groups_of_unit[groups_of_unit > 0])
        # a group treated in the first period (or before) has no pre-period: left out
        self.dropped_groups = [int(g) for g in gl if g <= first + anticipation]
        self.glist = np.array([g for g in gl if g > first + anticipation])
        cells = []
        for g in self.glist:
            for k in range(1, len(periods)):  # the first period is only ever a base
                t = periods[k]
                if g <= t:  # post: base is the last period before g - anticipation
                    pre = np.flatnonzero(periods + anticipation < g)
                    b = periods[pre[-1]]
                else:  # pre: the previous period (varying base)
                    b = periods[k - 1]
                treated = groups_of_unit == g
                if control_group == "nevertreated":
                    control = groups_of_unit == 0
                else:
                    control = (groups_of_unit == 0) | ((groups_of_unit > t + anticipation) & (groups_of_unit != g))
                cells.append((g, t, b, treated, control))
        self.cells = cells
        self.g = np.array([c[0] for c in cells])
        self.t = np.array([c[1] for c in cells])
        self.b = np.array([c[2] for c in cells])
        self.T = np.array([c[3] for c in cells]).T.astype(float)  # units x cells
        self.C = np.array([c[4] for c in cells]).T.astype(float)
        self.n_t = self.T.sum(axis=0)
        self.n_c = self.C.sum(axis=0)
        self.post = self.g <= self.t


def _estimate(Y, design: _Design, col_t, col_b):
    """ATT(g, t) and their (did-scaled) influence functions on stacked panels.

    ``Y`` is (draws, units, periods); returns ``att`` (draws, cells) and ``psi`` (draws,
    units, cells) with ``att - truth ~ mean over units of psi``.
    """
    D = Y[:, :, col_t] - Y[:, :, col_b]  # draws x units x cells
    T, C = design.T[None], design.C[None]
    n = Y.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mt = (D * T).sum(axis=1) / design.n_t
        mc = (D * C).sum(axis=1) / design.n_c
    att = mt - mc
    psi = n * (T * (D - mt[:, None, :]) / design.n_t - C * (D - mc[:, None, :]) / design.n_c)
    return att, np.nan_to_num(psi)


class StaggeredDiD(Estimator):
    """Group-time ATTs with event-study and overall aggregations, wild cluster bootstrap-t.

    Parameters
    ----------
    control_group : {"nevertreated", "notyettreated"}
    anticipation : int
        Periods of anticipation (``did``'s ``anticipation``; default 0).
    bootstrap_replications : int
        Wild bootstrap draws (default 999).
    multipliers : {"webb", "rademacher"}
    seed : int, optional
        Seed of the bootstrap (the same seed gives the same intervals).
    alpha : float

    Attributes
    ----------
    att_gt_ : DataFrame
        ``group, time, base, post, att, se, se_did, ci_lower, ci_upper, p, n_treated,
        n_control`` (units behind the cell).
    event_study_ : DataFrame
        ``event_time, estimate, se, ci_lower, ci_upper, band_lower, band_upper, p,
        n_groups, n_treated`` (the band is simultaneous over event times).
    group_effects_ : DataFrame
        ``group, estimate, se, ci_lower, ci_upper, p, n_treated``.
    overall_ : DataFrame
        ``aggregation`` (``simple``, ``group``, ``dynamic``), ``estimate, se, se_did,
        ci_lower, ci_upper, p``.
    pretest_ : dict
        ``statistic, df, p`` of the Wald pre-test (large-sample, as ``did``).
    """

    _fitted_attribute = "att_gt_"

    def __init__(self, control_group: str = "nevertreated", anticipation: int = 0,
                 bootstrap_replications: int = 999, multipliers: str = "webb", seed: int | None = None,
                 alpha: float = 0.05):
        super().__init__(alpha)
        if control_group not in CONTROL_GROUPS:
            raise DefinitionError(f"control_group must be one of {CONTROL_GROUPS}, got {control_group!r}")
        if multipliers not in MULTIPLIERS:
            raise DefinitionError(f"multipliers must be one of {MULTIPLIERS}, got {multipliers!r}")
        if not isinstance(anticipation, int) or anticipation < 0:
            raise DefinitionError(f"anticipation must be a whole number of periods, got {anticipation!r}")
        if not isinstance(bootstrap_replications, int) or bootstrap_replications < 99:
            raise DefinitionError(
                f"bootstrap_replications must be a whole number of at least 99, got {bootstrap_replications!r}"
            )
        self.control_group, self.anticipation = control_group, anticipation
        self.bootstrap_replications, self.multipliers, self.seed = bootstrap_replications, multipliers, seed

    # -- fitting ---------------------------------------------------------------
    def fit(self, panel: pd.DataFrame, outcome_col: str, unit_col: str, time_col: str, group_col: str):
        """Fit on a balanced panel: one row per unit (site) and period.

        Parameters
        ----------
        panel : DataFrame
            E.g. :func:`cohort.definitions.site_panel.site_quarter_panel` (``site``,
            ``period``, ``group_period``).
        outcome_col : str
            The outcome (no missing values).
        unit_col, time_col : str
            The unit and the period (whole numbers, consecutive or not).
        group_col : str
            The first treated period of the unit's group, 0 for never treated.

        Returns
        -------
        self

        Raises
        ------
        DefinitionError
            A missing column or value, an unbalanced panel, a group that changes within a
            unit, no never-treated units for ``nevertreated``, or no usable group.
        """
        _check_columns(panel, [outcome_col, unit_col, time_col, group_col])
        if panel[[outcome_col, unit_col, time_col, group_col]].isna().any().any():
            raise DefinitionError(
                f"{outcome_col!r} (or the unit, period, group) has missing values: a balanced "
                "panel needs every unit in every period; drop the periods or units concerned"
            )
        units, u_idx = np.unique(panel[unit_col].astype(str).to_numpy(), return_inverse=True)
        periods, p_idx = np.unique(panel[time_col].to_numpy(dtype=np.int64), return_inverse=True)
        n, T = len(units), len(periods)
        if len(panel) != n * T or len(np.unique(u_idx * T + p_idx)) != n * T:
            raise DefinitionError(
                f"the panel is not balanced: {len(panel)} rows for {n} units and {T} periods; "
                "every unit needs exactly one row per period"
            )
        Y = np.empty((n, T))
        Y[u_idx, p_idx] = panel[outcome_col].to_numpy(dtype=float)
        G = np.zeros((n, T), dtype=np.int64)
        G[u_idx, p_idx] = panel[group_col].to_numpy(dtype=np.int64)
        if (G != G[:, :1]).any():
            raise DefinitionError(f"{group_col!r} changes within a unit; it is the unit's adoption period")
        g_unit = G[:, 0]
        design = _Design(g_unit, periods, self.control_group, self.anticipation)
        if len(design.glist) == 0:
            raise DefinitionError("no group starts after the first period: nothing to estimate")
        if self.control_group == "nevertreated" and not (g_unit == 0).any():
            raise DefinitionError("no never-treated units: use control_group='notyettreated'")
        col = {p: i for i, p in enumerate(periods)}
        col_t = np.array([col[t] for t in design.t])
        col_b = np.array([col[b] for b in design.b])
        self._design, self._Y, self._g_unit = design, Y, g_unit
        self.units_, self.periods_ = list(units), [int(p) for p in periods]
        self.n_, self.n_treated_units_ = n, int((g_unit > 0).sum())
        att, psi = _estimate(Y[None], design, col_t, col_b)
        att, psi = att[0], psi[0]
        usable = (design.n_t > 0) & (design.n_c > 0)
        att = np.where(usable, att, np.nan)

        # the aggregations as weights over cells (K x aggregates), by group size
        share = np.array([np.mean(g_unit == g) for g in design.g])
        aggs, names = self._aggregation_weights(design, share, usable)
        W = np.column_stack([a[0] for a in aggs]) if aggs else np.zeros((len(att), 0))

        # the bootstrap: perturb each unit's residuals around its group's mean path
        rng = np.random.default_rng(self.seed)
        B = self.bootstrap_replications
        cohorts = np.unique(g_unit)
        M = np.zeros_like(Y)
        for c in cohorts:  # adoption groups, not units
            sel = g_unit == c
            M[sel] = Y[sel].mean(axis=0)
        R = Y - M
        V = multipliers(self.multipliers, (B, n), rng)
        Ystar = M[None] + V[:, :, None] * R[None]
        att_b, psi_b = _estimate(Ystar, design, col_t, col_b)
        att_b = np.where(usable, att_b, 0.0)
        a0 = np.nan_to_num(att)
        est = np.r_[a0, a0 @ W]
        est_b = np.concatenate([att_b, att_b @ W], axis=1)
        se = np.sqrt((np.concatenate([psi, psi @ W], axis=1) ** 2).sum(axis=0)) / n
        se_b = np.sqrt((np.concatenate([psi_b, psi_b @ W], axis=2) ** 2).sum(axis=1)) / n
        with np.errstate(invalid="ignore", divide="ignore"):
            t_b = np.abs(est_b - est) / se_b
            t_obs = np.abs(est) / se
        t_b = np.where(np.isfinite(t_b), t_b, 0.0)
        crit = np.quantile(t_b, 1 - self.alpha, axis=0)
        p = (t_b >= t_obs[None, :]).mean(axis=0)
        # did's large-sample standard errors: the group shares estimated too
        wif = self._weight_influence(design, g_unit, share, aggs, att)
        se_did = np.r_[se[: len(att)], np.sqrt(((psi @ W + wif) ** 2).sum(axis=0)) / n]
        K = len(att)
        self.att_gt_ = pd.DataFrame({
            "group": design.g, "time": design.t, "base": design.b, "post": design.post,
            "att": att, "se": np.where(usable, se[:K], np.nan), "se_did": np.where(usable, se_did[:K], np.nan),
            "ci_lower": att - crit[:K] * se[:K], "ci_upper": att + crit[:K] * se[:K],
            "p": np.where(usable, p[:K], np.nan),
            "n_treated": design.n_t.astype(np.int64), "n_control": design.n_c.astype(np.int64),
        })
        support = np.array([a[1] for a in aggs], dtype=np.int64).reshape(-1, 2)
        self._split_aggregations(names, est[K:], se[K:], se_did[K:], crit[K:], p[K:], t_b[:, K:], support)
        self.pretest_ = self._pretest(att, psi, design, usable, n)
        self.bootstrap_ = {"replications": B, "multipliers": self.multipliers, "seed": self.seed}
        return self

    # -- aggregations ----------------------------------------------------------
    @staticmethod
    def _aggregation_weights(design, share, usable):
        """Weights over cells of every aggregate, with (groups, treated units) behind it."""
        aggs, names = [], []
        K = len(design.g)
        post = design.post & usable
        e = design.t - design.g
        n_units = design.T.sum(axis=0)

        def add(name, mask, weights):
            w = np.zeros(K)
            if mask.any() and weights[mask].sum() > 0:
                w[mask] = weights[mask] / weights[mask].sum()
            groups = np.unique(design.g[mask])
            treated = int(sum(n_units[np.flatnonzero((design.g == g) & mask)[0]] for g in groups)) if len(groups) else 0
            aggs.append((w, (len(groups), treated), name))
            names.append(name)

        for ev in np.unique(e[usable]):  # event times
            add(f"event:{int(ev)}", usable & (e == ev), share)
        for g in design.glist:  # groups
            add(f"group:{int(g)}", post & (design.g == g), np.ones(K))
        add("overall:simple", post, share)
        # overall of the group effects: size-weighted mean of the group effects
        wg = np.zeros(K)
        gl = [g for g in design.glist if (post & (design.g == g)).any()]
        tot = sum(share[np.flatnonzero(design.g == g)[0]] for g in gl)
        for g in gl:
            m = post & (design.g == g)
            wg[m] = share[np.flatnonzero(design.g == g)[0]] / tot / m.sum()
        aggs.append((wg, (len(gl), int(sum(n_units[np.flatnonzero(design.g == g)[0]] for g in gl))), "overall:group"))
        names.append("overall:group")
        # overall of the event study: mean of theta(e) over e >= 0
        ev_post = [ev for ev in np.unique(e[post]) if ev >= 0]
        wd = np.zeros(K)
        for ev in ev_post:
            m = usable & (e == ev)
            wd[m] += share[m] / share[m].sum() / len(ev_post)
        groups = np.unique(design.g[wd > 0])
        aggs.append((wd, (len(groups), int(sum(n_units[np.flatnonzero(design.g == g)[0]] for g in groups))), "overall:dynamic"))
        names.append("overall:dynamic")
        return aggs, names

    @staticmethod
    def _weight_influence(design, g_unit, share, aggs, att):
        """``did``'s term for estimating the group shares of the aggregations (units x aggs):
        the influence of weights ``P(G = g) / sum P(G = g)`` over the kept cells or groups."""

        def wif(groups, pg, values):
            ind = (g_unit[:, None] == np.asarray(groups)[None, :]).astype(float)
            if1 = (ind - pg) / pg.sum()
            if2 = (ind - pg).sum(axis=1)[:, None] * (pg / pg.sum() ** 2)[None, :]
            return (if1 - if2) @ values

        n, K = len(g_unit), len(design.g)
        post = design.post
        e = design.t - design.g
        out = np.zeros((n, len(aggs)))
        finite = np.isfinite(att)
        names = [a[2] for a in aggs]
        for k, name in enumerate(names):
            kind, _, key = name.partition(":")
            if kind == "event":
                m = finite & (e == int(key))
                out[:, k] = wif(design.g[m], share[m], att[m])
            elif name == "overall:simple":
                m = finite & post
                out[:, k] = wif(design.g[m], share[m], att[m])
            elif name == "overall:group":
                gl = [g for g in design.glist if (finite & post & (design.g == g)).any()]
                theta = np.array([att[finite & post & (design.g == g)].mean() for g in gl])
                pg = np.array([share[np.flatnonzero(design.g == g)[0]] for g in gl])
                out[:, k] = wif(gl, pg, theta)
            elif name == "overall:dynamic":
                evs = [ev for ev in np.unique(e[finite & post]) if ev >= 0]
                for ev in evs:
                    m = finite & (e == ev)
                    out[:, k] += wif(design.g[m], share[m], att[m]) / len(evs)
        del K
        return out

    def _split_aggregations(self, names, est, se, se_did, crit, p, t_b, support):
        kind = np.array([n.partition(":")[0] for n in names])
        key = [n.partition(":")[2] for n in names]
        lo, hi = est - crit * se, est + crit * se
        ev = np.flatnonzero(kind == "event")
        # a band simultaneous over the event times: the quantile of the largest |t*|
        sup = np.quantile(t_b[:, ev].max(axis=1), 1 - self.alpha) if len(ev) else np.nan
        self.event_study_ = pd.DataFrame({
            "event_time": np.array([int(key[i]) for i in ev], dtype=np.int64),
            "estimate": est[ev], "se": se[ev], "ci_lower": lo[ev], "ci_upper": hi[ev],
            "band_lower": est[ev] - sup * se[ev], "band_upper": est[ev] + sup * se[ev], "p": p[ev],
            "n_groups": support[ev, 0], "n_treated": support[ev, 1],
        })
        gr = np.flatnonzero(kind == "group")
        self.group_effects_ = pd.DataFrame({
            "group": np.array([int(key[i]) for i in gr], dtype=np.int64), "estimate": est[gr], "se": se[gr],
            "ci_lower": lo[gr], "ci_upper": hi[gr], "p": p[gr], "n_treated": support[gr, 1],
        })
        ov = np.flatnonzero(kind == "overall")
        self.overall_ = pd.DataFrame({
            "aggregation": [key[i] for i in ov], "estimate": est[ov], "se": se[ov], "se_did": se_did[ov],
            "ci_lower": lo[ov], "ci_upper": hi[ov], "p": p[ov], "n_groups": support[ov, 0],
            "n_treated": support[ov, 1],
        })

    @staticmethod
    def _pretest(att, psi, design, usable, n):
        pre = (~design.post) & usable
        if not pre.any():
            return {"statistic": np.nan, "df": 0, "p": np.nan}
        a = att[pre]
        V = psi[:, pre].T @ psi[:, pre] / n
        try:
            stat = float(n * a @ np.linalg.solve(V, a))
        except np.linalg.LinAlgError:
            stat = float(n * a @ np.linalg.pinv(V) @ a)
        df = int(pre.sum())
        return {"statistic": stat, "df": df, "p": float(stats.chi2.sf(stat, df))}

    @property
    def summary(self) -> pd.DataFrame:
        """:attr:`overall_`."""
        self._require_fitted()
        return self.overall_

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            control_group=self.control_group, anticipation=self.anticipation, base_period="varying",
            units=self.n_, treated_units=self.n_treated_units_, periods=len(self.periods_),
            dropped_groups=self._design.dropped_groups,
            inference=f"wild cluster bootstrap-t by unit, {self.multipliers} multipliers, "
            f"{self.bootstrap_replications} draws, seed {self.seed}",
            multipliers=self.multipliers, replications=self.bootstrap_replications, seed=self.seed,
        )
        return out
