"""Nonparametric maximum-likelihood estimate (Turnbull) of a distribution under interval
censoring, by group, with R's pointwise limits.

Two methods, one estimator:

* ``method="npmle"`` (default): the NPMLE itself. The masses on Turnbull's innermost
  intervals are found by Wang's constrained Newton method and the iteration stops on the
  optimality (Kuhn-Tucker) condition, so the log-likelihood is within ``n * npmle_tol`` of
  its maximum; standard errors from the observed information (below), or as R computes
  them, at that estimate, with ``variance="survfit"``.
* ``method="survfit"``: what R's ``survival::survfit(Surv(L, R, type = "interval2") ~ g)``
  returns (``survival:::survfitTurnbull``, survival 3.5-3), reproduced operation for
  operation so that it agrees with R to the last digits.

What R does, step by step:

1. **Coding** (``type = "interval2"``): ``right`` infinite is right-censored at ``left``;
   ``left`` missing (or minus infinity) is left-censored at ``right``; ``left == right`` is
   an exact event time; otherwise the event lies in the half-open interval
   ``(left, right]``.
2. **Jump points.** All endpoints are sorted (at equal times: exact events, then right
   ends, then left ends); every left end (or exact time) directly followed by a right end
   bounds one of Turnbull's innermost intervals, and the curve may jump only there. R puts
   the jump at the **midpoint** of each innermost interval (and at every exact time). A
   left-censored observation whose time lies before the first jump point becomes an exact
   event at that time.
3. **Self-consistency (EM).** Starting from equal shares, each interval- or left-censored
   observation is spread over the jump points it contains in proportion to the current
   jumps; a weighted Kaplan-Meier of the exact and right-censored observations plus these
   fractional "pseudo-events" at the jump points gives the next curve. Every fifth
   iteration tries an **Aitken** extrapolation of the jumps (kept where it stays in
   (0, 1), and only if it does not lower the unnormalised likelihood). The iteration
   **stops** when the largest change of the survival at the jump points over one
   iteration is at most ``5e-5`` (checked on iterations whose number modulo 5 is 2, 3 or
   4).
4. **Variance.** The standard error is that of the last weighted Kaplan-Meier: because the
   pseudo-event weights are fractional, ``survfitKM`` switches to its **infinitesimal
   jackknife** (robust) variance with every observation and every pseudo-event its own
   cluster; this is the standard error of S (not of log S). If all weights happen to be
   whole numbers R uses Greenwood's formula instead, and so does :class:`Turnbull`. Either
   way the variance treats the fractional events at the jump points as observed: it does
   not carry the uncertainty of where inside its interval an event fell, so it is a
   working approximation, not a likelihood-based variance of the NPMLE.
5. **Limits.** Pointwise, ``conf.type = "log"`` by default (``"log-log"`` and ``"plain"``
   as options), from the standard error above as ``survfit_confint`` computes them.

Why the default is not R's answer. A change of at most ``5e-5`` per iteration does not
mean the EM is near its maximum: self-consistency converges slowly, and on the bundled
synthetic delivery R stops up to 0.02 (two percentage points of survival) away from the
NPMLE. Worse, the Aitken step divides by differences of nearly converged jumps, so
rounding at the sixteenth digit changes which steps are accepted and where the iteration
stops: reproducing R needs R's own arithmetic (its ``sum`` adds in 80-bit extended
precision, its Kaplan-Meier adds the weights one at a time in a set order), and R itself
can give a different curve on a machine whose ``long double`` differs. The NPMLE is
defined by the data alone.

Why the default variance is not R's either. R's infinitesimal jackknife counts each jump
point's pseudo-event as one observation carrying the expected events of every household
whose interval contains it, so its contribution enters squared: with many households per
jump point (any real-sized data) the standard error is several times too large (five
times on the bundled synthetic delivery). The NPMLE's default standard error comes from
the observed information of the masses on its support (treated as fixed) under the
constraint that they sum to one; it equals the binomial standard error for uncensored
discrete data and Greenwood's for right-censored data. ``variance="survfit"`` gives R's.

A quirk of R worth knowing: the survfit object of an interval-censored fit does not carry
``logse``, so ``summary(fit)$std.err`` multiplies the (already absolute) standard error by
the survival once more. The limits are unaffected. ``std_err`` here is the standard
error of S as ``fit$std.err`` holds it.

Both methods are vectorised over households: an observation covers a contiguous range of
jump points, so the sums behind each step are prefix sums over the rows and the jump
points; the only Python loops run over jump points, range offsets or iterations.
"""


from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import (
    ConvergenceWarning,
    Estimator,
    _check_columns,
    _group_codes,
)
from cohort.stats.intervals import _check_conf_type, confint
from cohort.stats.kaplan_meier import DAYS_PER_MONTH, _findq, horizon_columns, median_columns

#: R's stopping tolerance: largest change of the survival at the jump points.
R_TOLERANCE = 5e-5

#: Horizons (months) of :attr:`Turnbull.summary` and of the share-safe table.
SUMMARY_MONTHS = (6, 12, 18, 24)

#: The two ways of computing the estimate (see :class:`Turnbull`).
METHODS = ("npmle", "survfit")

#: Variances of the NPMLE: the observed information of the masses, or R's.
VARIANCES = ("information", "survfit")

#: R's status codes of ``Surv(type = "interval2")``.
RIGHT, EXACT, LEFT, INTERVAL = 0, 1, 2, 3


def interval_status(left, right) -> np.ndarray:
    """R's status of ``Surv(left, right, type = "interval2")``: 0 right-censored, 1 exact,
    2 left-censored, 3 interval-censored.

    ``left`` missing or minus infinity means left-censored; ``right`` missing or infinite
    means right-censored.

    Raises
    ------
    DefinitionError
        A row has neither bound, or ``left > right``.

    Examples
    --------
    >>> interval_status([0, 3, np.nan, 5], [6, 3, 8, np.inf]).tolist()
    [3, 1, 2, 0]
    """
    lo = np.asarray(left, dtype=float)
    hi = np.asarray(right, dtype=float)
    no_left = np.isnan(lo) | np.isneginf(lo)
    no_right = np.isnan(hi) | np.isposinf(hi)
    if (no_left & no_right).any():
        row = int(np.flatnonzero(no_left & no_right)[0])
        raise DefinitionError(
            f"row {row}: both interval bounds are missing or infinite, so the row carries no "
            "information about the event time; drop such rows before fitting"
        )
    with np.errstate(invalid="ignore"):
        bad = ~no_left & ~no_right & (lo > hi)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DefinitionError(
            f"row {row}: left bound after right bound (rule: left <= right); the interval "
            "(left, right] must contain the event time"
        )
    status = np.full(lo.shape, INTERVAL, dtype=np.int64)
    status[no_right] = RIGHT
    status[no_left] = LEFT
    status[~no_left & ~no_right & (lo == hi)] = EXACT
    return status


def _jump_points(y1, y2, status):
    """R's jump points and the left-censored rows it turns into exact events."""
    code = np.array([2, 0, 1, 2])[status]  # exact 0 < right end 1 < left end 2 at ties
    is_int = status == INTERVAL
    time2 = np.concatenate([y1, y2[is_int]])
    stat2 = np.concatenate([code, np.ones(int(is_int.sum()), dtype=np.int64)])
    order = np.lexsort((stat2, time2))
    time2, stat2 = time2[order], stat2[order]
    pairs = (stat2[:-1] != 1) & (stat2[1:] == 1)
    mids = 0.5 * (time2[:-1] + time2[1:])
    jtimes = np.concatenate([time2[stat2 == 0], mids[pairs]])
    # the innermost interval behind each jump point (a point for an exact time)
    lo_end = np.concatenate([time2[stat2 == 0], time2[:-1][pairs]])
    hi_end = np.concatenate([time2[stat2 == 0], time2[1:][pairs]])
    mintime = jtimes.min() if len(jtimes) else np.inf
    who = (status == LEFT) & (y1 < mintime)
    status = status.copy()
    status[who] = EXACT
    jtimes = np.concatenate([y1[who], jtimes])
    lo_end = np.concatenate([y1[who], lo_end])
    hi_end = np.concatenate([y1[who], hi_end])
    jtimes, first = np.unique(jtimes, return_index=True)
    return jtimes, lo_end[first], hi_end[first], status, mintime


_LD = np.longdouble


def _ranges_of(status, y1, y2, jtimes):
    """Index range ``[a, b)`` of the jump points each interval- or left-censored row covers."""
    a = np.where(status == LEFT, 0, np.searchsorted(jtimes, y1, side="right"))
    b = np.where(status == LEFT, np.searchsorted(jtimes, y1, side="right"),
                 np.searchsorted(jtimes, y2, side="right"))
    return a.astype(np.int64), b.astype(np.int64)


class _RangeSums:
    """``sum(x[a:b])`` for a fixed set of ranges, added left to right in a given precision.

    The ranges are sorted by length once, so that at each offset the ranges still open
    are a prefix: one vectorised addition per offset, none per range.
    """

    def __init__(self, a, b):
        lens = b - a
        self.order = np.argsort(-lens, kind="stable")
        self.start = a[self.order]
        sorted_lens = lens[self.order]
        # open_count[r]: how many ranges are longer than r
        self.open_count = np.searchsorted(-sorted_lens, -np.arange(int(lens.max()) if len(lens) else 0),
                                          side="left")
        self.n = len(a)

    def __call__(self, x, dtype):
        xs = x.astype(dtype)
        acc = np.zeros(self.n, dtype=dtype)
        for r, k in enumerate(self.open_count):  # offsets within a range, not rows
            acc[:k] += xs[self.start[:k] + r]
        out = np.empty(self.n)
        out[self.order] = acc.astype(np.float64)
        return out


def _coverage(a, b, n_jump):
    """The (row, jump point) pairs of the censored rows, sorted by jump point then row."""
    lens = b - a
    total = int(lens.sum())
    rows = np.repeat(np.arange(len(a), dtype=np.int64), lens)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    cols = np.repeat(a, lens) + offset
    order = np.lexsort((rows, cols))
    rows, cols = rows[order], cols[order]
    return rows, cols, np.searchsorted(cols, np.arange(n_jump + 1))


class _KMLayout:
    """The weighted Kaplan-Meier that survfitKM runs on every iteration, laid out once.

    Rows are the exact and right-censored observations (weight 1) followed by one
    pseudo-event per jump point, as R builds them; ``survfitkm.c`` walks them from the
    last time backwards, adding weights one at a time, and this layout reproduces that
    order so that the sums are the same to the last bit.
    """

    def __init__(self, real_t, real_d, jtimes):
        n_real = len(real_t)
        t_all = np.concatenate([real_t, jtimes])
        self.times = np.unique(t_all)
        order = np.lexsort((np.arange(len(t_all)), t_all))[::-1]
        self.trav = order
        tpos = np.searchsorted(self.times, t_all)
        tt = tpos[order]
        self.last_of_time = np.r_[tt[1:] != tt[:-1], True] if len(tt) else np.zeros(0, bool)
        self.time_of_last = tt[self.last_of_time]
        self.is_pseudo = np.r_[np.zeros(n_real, bool), np.ones(len(jtimes), bool)]
        self.pseudo_pos = np.searchsorted(self.times, jtimes)
        n_t = len(self.times)
        self.real_event = np.bincount(tpos[:n_real], weights=real_d, minlength=n_t)
        self.real_censor = np.bincount(tpos[:n_real], weights=~real_d, minlength=n_t)
        self.n_real = n_real

    def fit(self, wt2, exact=True):
        n_t = len(self.times)
        pw = np.zeros(n_t)
        pw[self.pseudo_pos] = wt2
        if exact:
            w_all = np.r_[np.ones(self.n_real), wt2][self.trav]
            run = np.cumsum(w_all)
            n_w = np.zeros(n_t)
            n_w[self.time_of_last] = run[self.last_of_time]
            # events at a time: the pseudo-event first, then the real ones (weight 1 each)
            d_w = np.where(pw > 0, pw, self.real_event)
            both = (pw > 0) & (self.real_event > 0)
            for r in range(int(self.real_event[both].max()) if both.any() else 0):
                m = both & (self.real_event > r)
                d_w[m] = d_w[m] + 1.0
        else:
            n_w = np.cumsum((self.real_event + self.real_censor + pw)[::-1])[::-1]
            d_w = self.real_event + pw
        n_pseudo = np.zeros(n_t, dtype=np.int64)
        n_pseudo[self.pseudo_pos] = 1
        update = ((self.real_event + n_pseudo) > 0) & (d_w > 0)
        robust = bool(np.any(wt2 != np.floor(wt2)))
        with np.errstate(divide="ignore", invalid="ignore"):
            haz = np.where(update, d_w / n_w, 0.0)
            # survfitkm.c: km *= (1 - haz) with the robust variance, (n - d) / n without
            factor = 1.0 - haz if robust else np.where(update, (n_w - d_w) / n_w, 1.0)
        surv = np.cumprod(factor)
        return {"n_w": n_w, "d_w": d_w, "pw": pw, "update": update, "haz": haz,
                "surv": surv, "robust": robust}


def _ij_variance(real_event, real_censor, pw, n_w, update, haz, surv):
    """Infinitesimal-jackknife standard error of the weighted KM, each row its own cluster,
    as ``survfitkm.c`` computes it; closed form of its recursion (no loop over rows)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        c_step = np.where(update, haz / (n_w * (1.0 - haz)), 0.0)
        c_cum = np.cumsum(c_step)
        c_prev = np.r_[0.0, c_cum[:-1]]
        # an event at t_i: C(t_i) - 1 / (n_i (1 - h_i)) = C(t_{i-1}) - 1 / n_i
        a_event = np.where(update, c_prev - 1.0 / n_w, c_cum)
    w2_event = real_event + pw**2
    w2_censor = real_censor.astype(float)
    w2_after = np.r_[np.cumsum((w2_event + w2_censor)[::-1])[::-1][1:], 0.0]
    # past a step where everyone at risk has the event (S = 0) the terms are inf * 0;
    # the variance there is 0, as in R's recursion
    with np.errstate(invalid="ignore"):
        q = w2_event * a_event**2 + w2_censor * c_cum**2
        q_cum = np.cumsum(q)
        var = surv**2 * (c_cum**2 * w2_after + q_cum)
    var = np.where(surv == 0, 0.0, var)
    return np.sqrt(np.maximum(var, 0.0))


def _greenwood(n_w, d_w, update):
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(update, d_w / (n_w * (n_w - d_w)), 0.0)
    return np.sqrt(np.cumsum(step))


def _survfit_iterations(a, b, lwt, n_jump, km, tol, max_iter):
    """survfitTurnbull's loop, with R's arithmetic: 80-bit sums where R's ``sum`` uses
    them, the same order of additions, the same Aitken rule and stopping rule."""
    ua, inv = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
    range_sums = _RangeSums(ua[:, 0], ua[:, 1])
    inv = inv.ravel()
    rows, cols, bounds = _coverage(a, b, n_jump)
    count = np.zeros(n_jump + 1)
    np.add.at(count, a, 1.0)
    np.add.at(count, b, -1.0)
    count = np.cumsum(count)[:-1]
    surv_j = 1.0 - np.cumsum(count) / count.sum()
    old = surv_j

    def loglik(jumps):
        # sum(log(wtmat %*% jumps)): dgemv adds in double, R's sum() in long double
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(range_sums(jumps, np.float64))
        return float(np.cumsum(logs[inv].astype(_LD))[-1]) if len(inv) else 0.0

    it, eps, converged = 0, 1.0, True
    aitken1 = np.zeros(n_jump)
    jump1 = np.zeros(n_jump)
    jump2 = np.zeros(n_jump)
    fit = None
    while eps > tol:
        it += 1
        if it > max_iter:
            converged = False
            break
        jumps = -np.diff(np.r_[1.0, surv_j])
        aitken2 = aitken1
        aitken1 = jumps - jump1
        jsave = jumps
        if it % 5 == 0:
            oldlik = loglik(jumps)
            with np.errstate(divide="ignore", invalid="ignore"):
                trial = jump2 - aitken2**2 / (aitken1 - aitken2)
            bad = (trial <= 0) | (trial >= 1) | np.isnan(trial)
            trial = np.where(bad, jsave, trial)
            jumps = jsave if loglik(trial) < oldlik else trial
        jump2 = jump1
        jump1 = jsave
        # wt2 <- (lwt / rowSums) * (wtmat %*% diag(jumps)); wt2 <- colSums(wt2)
        rs = range_sums(jumps, _LD)[inv]
        with np.errstate(divide="ignore"):
            q = lwt / rs
        prod = (q[rows] * jumps[cols]).astype(_LD)
        wt2 = np.zeros(n_jump)
        for j in range(n_jump):  # one sequential sum per jump point, not per row
            lo, hi = bounds[j], bounds[j + 1]
            if hi > lo:
                wt2[j] = np.cumsum(prod[lo:hi])[-1]
        fit = km.fit(wt2, exact=True)
        stemp = fit["surv"][km.pseudo_pos]
        eps = 1.0 if it % 5 < 2 else (float(np.max(np.abs(old - stemp))) if n_jump else 0.0)
        old = stemp
        surv_j = stemp
    return fit, wt2, it, converged


def _cnm_masses(a, b, w, n_support, tol, max_iter):
    """The NPMLE of the masses on the jump points, by sequential quadratic programming.

    Maximises ``sum(w * log(P[b] - P[a]))`` over masses ``p >= 0`` summing to 1 (``P`` the
    prefix sums). Each step maximises the second-order expansion of the Lagrangian
    ``loglik(p) - n * sum(p)`` under ``p >= 0`` - a nonnegative least-squares problem on
    the Gram matrix of the rows, built from prefix sums (the constrained Newton method of
    Wang, 2007, with the multiplier term) - followed by a backtracking line search; points
    off the support enter where the gradient exceeds ``n``. Stops when
    ``max_j d_j / n - 1 <= tol`` (``d`` the gradient): the log-likelihood is then within
    ``n * tol`` of its maximum, since it is concave.
    """
    from scipy import linalg, optimize

    n = w.sum()

    def loglik(p):
        prefix = np.r_[0.0, np.cumsum(p)]
        rs = prefix[b] - prefix[a]
        if not (rs > 0).all():
            return -np.inf, rs
        return float(np.sum(w * np.log(rs))), rs

    def gradient(rs):
        diff = np.zeros(n_support + 1)
        np.add.at(diff, a, w / rs)
        np.add.at(diff, b, -w / rs)
        return np.cumsum(diff)[:-1]

    # start: a few EM steps from equal masses (every range then carries mass)
    p = np.full(n_support, 1.0 / n_support)
    ll, rs = loglik(p)
    for _ in range(10):
        p = p * gradient(rs) / n
        ll, rs = loglik(p)
    it, converged = 0, False
    while it < max_iter:
        it += 1
        d = gradient(rs)
        if d.max() / n - 1.0 <= tol:
            converged = True
            break
        # the support of the step: the current one and where the gradient exceeds n
        support = np.flatnonzero((p > 0) | (d > n))
        k = len(support)
        s_u = np.searchsorted(support, a, side="left")
        e_u = np.searchsorted(support, b, side="left")
        grid = np.zeros((k + 1, k + 1))
        np.add.at(grid, (s_u, e_u), w / rs**2)
        # gram[j, l] = sum of w / rs^2 over rows covering support points j and l
        cum = np.cumsum(np.cumsum(grid[:, ::-1], axis=1)[:, ::-1], axis=0)
        idx = np.arange(k)
        lo = np.minimum(idx[:, None], idx[None, :])
        hi = np.maximum(idx[:, None], idx[None, :])
        gram = cum[lo, hi + 1]
        target = 2.0 * d[support] - n
        scale = max(float(np.trace(gram)) / k, 1e-300)
        try:
            chol = linalg.cholesky(gram + 1e-12 * scale * np.eye(k), lower=False)
        except linalg.LinAlgError:
            vals, vecs = linalg.eigh(gram)
            chol = (vecs * np.sqrt(np.maximum(vals, 1e-12 * scale))).T
        rhs = linalg.solve_triangular(chol, target, trans="T")
        beta, _ = optimize.nnls(chol, rhs, maxiter=50 * k + 100)
        full = np.zeros(n_support)
        full[support] = beta
        direction = full - p
        step = 1.0
        accepted = False
        while step > 1e-14:
            trial = np.maximum(p + step * direction, 0.0)
            total = trial.sum()
            if total > 0:
                trial = trial / total
                ll_new, rs_new = loglik(trial)
                if ll_new > ll:
                    accepted = True
                    break
            step /= 2
        if not accepted:
            if d.max() / n - 1.0 <= max(tol, 1e-9):  # no ascent left at double precision
                converged = True
                break
            # the quadratic model misled the step: EM steps (each one raises the likelihood)
            # move the masses on, then the Newton steps resume
            for _ in range(50):
                p = p * gradient(rs) / n
                ll, rs = loglik(p)
            p = np.where(p > 1e-300, p, 0.0)
            p = p / p.sum()
            ll, rs = loglik(p)
            continue
        p, ll, rs = trial, ll_new, rs_new
    return p, it, converged


def _information_se(a, b, w, p, jtimes, times):
    """Standard error of S(t) at ``times`` from the observed information of the masses on
    the support (masses above 1e-9), under the constraint that they sum to 1."""
    from scipy import linalg

    support = np.flatnonzero(p > 1e-9)
    k = len(support)
    prefix = np.r_[0.0, np.cumsum(p)]
    rs = prefix[b] - prefix[a]
    s_u = np.searchsorted(support, a, side="left")
    e_u = np.searchsorted(support, b, side="left")
    grid = np.bincount(s_u * (k + 1) + e_u, weights=w / rs**2,
                       minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    cum = np.cumsum(np.cumsum(grid[:, ::-1], axis=1)[:, ::-1], axis=0)
    idx = np.arange(k)
    lo = np.minimum(idx[:, None], idx[None, :])
    hi = np.maximum(idx[:, None], idx[None, :])
    info = cum[lo, hi + 1]
    inv = linalg.pinvh(info)
    ones = inv.sum(axis=1)
    cov = inv - np.outer(ones, ones) / ones.sum()
    # S(t) = 1 - sum of the masses at jump points <= t (the point at infinity is last)
    support_time = np.r_[jtimes, np.inf][support]
    m = np.searchsorted(support_time, times, side="right")
    c2 = np.cumsum(np.cumsum(cov, axis=0), axis=1)
    var = np.where(m > 0, c2[np.maximum(m - 1, 0), np.maximum(m - 1, 0)], 0.0)
    return np.sqrt(np.maximum(var, 0.0))


def _fit_one(left, right, tol, max_iter, method="npmle", npmle_tol=1e-12,
             variance="information"):
    """survfitTurnbull's ``doit`` for one group (``method="survfit"``), or the same
    estimator taken to the NPMLE (``method="npmle"``)."""
    status = interval_status(left, right)
    lo = np.asarray(left, dtype=float)
    hi = np.asarray(right, dtype=float)
    y1 = np.where(status == LEFT, hi, lo)
    y2 = np.where(status == INTERVAL, hi, y1)
    jtimes, lo_end, hi_end, status, mintime = _jump_points(y1, y2, status)
    n_jump = len(jtimes)
    real = status < 2
    km = _KMLayout(y1[real], status[real] == EXACT, jtimes)
    cens = ~real
    if cens.any():
        a, b = _ranges_of(status[cens], y1[cens], y2[cens], jtimes)
        lwt = np.ones(len(a))
    else:  # R then spreads a single unit of weight over all jump points
        a, b, lwt = np.array([0]), np.array([n_jump]), np.ones(1)
    counts = {k: int((status == v).sum()) for k, v in
              (("right", RIGHT), ("exact", EXACT), ("left", LEFT), ("interval", INTERVAL))}
    if n_jump == 0:  # no event can be placed: the curve stays at 1
        fit = km.fit(np.zeros(0), exact=False)
        wt2, it, converged = np.zeros(0), 0, True
    elif method == "survfit":
        fit, wt2, it, converged = _survfit_iterations(a, b, lwt, n_jump, km, tol, max_iter)
    else:
        # every row as a range over the jump points (+ one point at infinity)
        ra = np.zeros(len(status), dtype=np.int64)
        rb = np.zeros(len(status), dtype=np.int64)
        if cens.any():
            ra[cens], rb[cens] = a, b
        ex = status == EXACT
        ra[ex] = np.searchsorted(jtimes, y1[ex])
        rb[ex] = ra[ex] + 1
        rc = status == RIGHT
        ra[rc] = np.searchsorted(jtimes, y1[rc], side="right")
        rb[rc] = n_jump + 1
        uniq, wts = np.unique(np.stack([ra, rb], axis=1), axis=0, return_counts=True)
        p, it, converged = _cnm_masses(uniq[:, 0], uniq[:, 1], wts.astype(float),
                                       n_jump + 1, npmle_tol, max_iter)
        # the expected (fractional) events at the jump points of the censored rows
        jumps = p[:n_jump]
        if cens.any():
            prefix = np.r_[0.0, np.cumsum(jumps)]
            share = lwt / (prefix[b] - prefix[a])
            diff = np.zeros(n_jump + 1)
            np.add.at(diff, a, share)
            np.add.at(diff, b, -share)
            wt2 = jumps * np.cumsum(diff)[:-1]
        else:  # only exact and right-censored rows: the plain Kaplan-Meier
            wt2 = np.zeros(n_jump)
        fit = km.fit(wt2, exact=False)
        if variance == "information":
            se = _information_se(uniq[:, 0], uniq[:, 1], wts.astype(float), p, jtimes, km.times)
    if method == "npmle" and variance == "information" and n_jump:
        logse = False
        kind = "observed information"
    elif fit["robust"]:
        se = _ij_variance(km.real_event, km.real_censor, fit["pw"], fit["n_w"], fit["update"],
                          fit["haz"], fit["surv"])
        logse = False
        kind = "infinitesimal jackknife"
    else:
        se = _greenwood(fit["n_w"], fit["d_w"], fit["update"])
        logse = True
        kind = "greenwood"
    times = km.times
    n_event = np.where((times < mintime) & (fit["d_w"] > 0), 0.0, fit["d_w"])
    return {
        "time": times,
        "n_risk": fit["n_w"],
        "n_event": n_event,
        "n_censor": km.real_censor,
        "survival": fit["surv"],
        "se": se,
        "logse": logse,
        "jump_time": jtimes,
        "jump_lower": lo_end,
        "jump_upper": hi_end,
        "jump_mass": -np.diff(np.r_[1.0, fit["surv"][km.pseudo_pos]]),
        "n_iter": it,
        "converged": converged,
        "variance": kind,
        "counts": counts,
    }


class Turnbull(Estimator):
    """Turnbull's NPMLE of the survival function under interval censoring, with R's
    jump points, standard errors and pointwise limits (see the module docstring).

    Parameters
    ----------
    method : {"npmle", "survfit"}
        ``"npmle"`` (default): the maximum-likelihood estimate, found by the constrained
        Newton method and checked by its optimality condition. ``"survfit"``: R's
        ``survfit(Surv(left, right, type = "interval2") ~ group)`` as R computes it,
        including where its EM stops (up to a few hundredths of survival short of the
        NPMLE on real-sized data).
    conf_type : {"log", "log-log", "plain"}
        Transform of the pointwise limits; ``"log"`` is R's default.
    variance : {"information", "survfit"}
        ``"npmle"`` only. ``"information"`` (default): from the observed information of
        the masses on the support of the NPMLE (treated as fixed), under the constraint
        that they sum to 1 - the usual large-sample variance of the NPMLE (as SAS PROC
        ICLIFETEST computes it). ``"survfit"``: R's infinitesimal jackknife of the last
        weighted Kaplan-Meier, evaluated at the NPMLE. R's variance counts every jump
        point's pseudo-event as *one* observation carrying the expected events of all
        the households whose intervals contain it, so with many households per jump
        point (any real-sized data) it is many times too large: on 10,000 synthetic
        households it gives limits of 0 to 0.23 around a share of 0.10 whose binomial
        standard error is 0.003.
    alpha : float
        1 - confidence level.
    tol : float
        ``"survfit"`` only: R's stopping tolerance (5e-5); another value no longer
        reproduces R.
    npmle_tol : float
        ``"npmle"`` only: stop when the largest gradient of the log-likelihood over the
        jump points exceeds the number of rows by at most this fraction (then the
        log-likelihood is within ``n * npmle_tol`` of its maximum).
    max_iter : int
        Iterations before giving up with a :class:`ConvergenceWarning`.

    Attributes
    ----------
    table_ : DataFrame
        R's rows: ``group`` (if grouped), ``time, n_risk, n_event, n_censor, survival,
        std_err, ci_lower, ci_upper``; ``n_risk`` and ``n_event`` are weighted (expected)
        counts, as R reports them.
    survival_ : DataFrame
        The survival step function: index ``time`` (every time of ``table_``), one column
        per group (``survival`` when ungrouped), carried forward.
    intervals_ : DataFrame
        Turnbull's innermost intervals: ``group, lower, upper, time, mass`` (the jump
        point R uses and the probability mass there). The NPMLE is determined only
        outside these intervals.
    median_ : DataFrame
        ``group, median, ci_lower, ci_upper`` as R's ``quantile(fit, 0.5)``.
    counts_ : DataFrame
        Per group: ``n`` and the rows that are ``exact``, ``left``-, ``interval``- and
        ``right``-censored (after R's recoding of early left-censored rows).
    n_iter_, converged_ : dict
        Per group: iterations and whether the stopping rule was met.

    Examples
    --------
    >>> df = pd.DataFrame({"left": [0, 5, 10, 3, 7, 12, 20, 2],
    ...                    "right": [6, 12, np.inf, 3, np.inf, 30, np.inf, 9]})
    >>> Turnbull().fit(df, "left", "right").table_[["time", "survival", "ci_lower"]].round(4).head(3)
       time  survival  ci_lower
    0   3.0      0.75    0.4475
    1   5.5      0.50    0.2500
    2   7.0      0.50    0.2500

    R's ``survfit(Surv(left, right, type = "interval2") ~ 1)`` stops its EM a little short
    of the maximum; ``method="survfit"`` gives R's numbers:

    >>> Turnbull(method="survfit").fit(df).table_[["time", "survival", "ci_lower"]].round(4).head(3)
       time  survival  ci_lower
    0   3.0    0.7493    0.4940
    1   5.5    0.5033    0.2339
    2   7.0    0.5033    0.2339
    """

    _fitted_attribute = "table_"

    def __init__(self, method: str = "npmle", conf_type: str = "log", alpha: float = 0.05,
                 variance: str = "information", tol: float = R_TOLERANCE,
                 npmle_tol: float = 1e-12, max_iter: int = 100_000):
        super().__init__(alpha)
        if method not in METHODS:
            raise DefinitionError(f"method must be one of {METHODS}, got {method!r}")
        if variance not in VARIANCES:
            raise DefinitionError(f"variance must be one of {VARIANCES}, got {variance!r}")
        self.method = method
        self.variance = variance if method == "npmle" else "survfit"
        self.conf_type = _check_conf_type(conf_type)
        for name, value in (("tol", tol), ("npmle_tol", npmle_tol)):
            if not (isinstance(value, int | float) and value > 0):
                raise DefinitionError(f"{name} must be a positive number, got {value!r}")
        self.npmle_tol = float(npmle_tol)
        if not isinstance(max_iter, int | np.integer) or max_iter < 1:
            raise DefinitionError(f"max_iter must be a whole number of at least 1, got {max_iter!r}")
        self.tol = float(tol)
        self.max_iter = int(max_iter)

    def fit(self, df: pd.DataFrame, left_col: str = "left", right_col: str = "right",
            group_col: str | None = None) -> Turnbull:
        """Fit the curve(s).

        Parameters
        ----------
        df : DataFrame
            One row per unit (episode); never changed.
        left_col, right_col : str
            The interval ``(left, right]`` in days: ``right`` infinite for right-censored,
            ``left`` missing for left-censored, equal bounds for an exact time.
        group_col : str, optional
            One curve per value (R: ``~ group``), in sorted order.

        Raises
        ------
        DefinitionError
            A column is missing or not numeric, a row has no bound or ``left > right``,
            a group value is missing.
        """
        _check_columns(df, [left_col, right_col, group_col])
        left = _bounds(df, left_col)
        right = _bounds(df, right_col)
        if len(df) == 0:
            raise NotEstimable("no_observations", "the analysis table has no rows: nothing to fit")
        groups, labels = _group_codes(df, group_col)
        self.group_col, self.left_col, self.right_col = group_col, left_col, right_col
        self.labels_ = labels
        parts, jumps, counts = [], [], []
        self.n_iter_, self.converged_, self.variance_ = {}, {}, {}
        self._bounds = {}
        for k, label in enumerate(labels):  # one pass per group, not per row
            sel = groups == k
            res = _fit_one(left[sel], right[sel], self.tol, self.max_iter, self.method,
                           self.npmle_tol, self.variance)
            key = "all" if label is None else label
            # the bounds stay with the fit (no identifiers): disclosure control counts the
            # households behind each step from them
            self._bounds[label] = (left[sel].copy(), right[sel].copy())
            self.n_iter_[key], self.converged_[key] = res["n_iter"], res["converged"]
            self.variance_[key] = res["variance"]
            lo, up = confint(res["survival"], res["se"], self.conf_type, self.alpha,
                             logse=res["logse"])
            with np.errstate(invalid="ignore"):
                se_surv = res["se"] * res["survival"] if res["logse"] else res["se"]
            tab = pd.DataFrame({
                "time": res["time"], "n_risk": res["n_risk"], "n_event": res["n_event"],
                "n_censor": res["n_censor"], "survival": res["survival"], "std_err": se_surv,
                "ci_lower": lo, "ci_upper": up,
            })
            jt = pd.DataFrame({"lower": res["jump_lower"], "upper": res["jump_upper"],
                               "time": res["jump_time"], "mass": res["jump_mass"]})
            cnt = {"n": int(sel.sum()), **res["counts"]}
            if group_col is not None:
                tab.insert(0, "group", label)
                jt.insert(0, "group", label)
                cnt = {"group": label, **cnt}
            parts.append(tab)
            jumps.append(jt)
            counts.append(cnt)
        self.table_ = pd.concat(parts, ignore_index=True)
        self.intervals_ = pd.concat(jumps, ignore_index=True)
        self.counts_ = pd.DataFrame(counts)
        self.n_ = int(len(df))
        self._g = groups
        self.survival_ = self._wide()
        self.median_ = self.quantile(0.5)
        if not all(self.converged_.values()):
            warnings.warn(
                f"the Turnbull iteration did not meet its stopping rule in {self.max_iter} "
                "iterations; raise max_iter", ConvergenceWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------------ results

    def _curves(self):
        if self.group_col is None:
            yield None, self.table_
            return
        for label in self.labels_:
            yield label, self.table_.loc[self.table_["group"] == label]

    def _wide(self) -> pd.DataFrame:
        times = np.unique(self.table_["time"].to_numpy())
        cols = {}
        for label, tab in self._curves():
            pos = np.searchsorted(tab["time"].to_numpy(), times, side="right") - 1
            s = tab["survival"].to_numpy()
            cols["survival" if label is None else label] = np.where(pos >= 0, s[np.maximum(pos, 0)], 1.0)
        return pd.DataFrame(cols, index=pd.Index(times, name="time"))

    def household_counts(self, times, group=None) -> pd.DataFrame:
        """Whole numbers of households behind the curve of ``group`` at ``times``.

        ``n_open``: households whose interval has not closed before the time - not yet
        seen safe (``right >= t``) and, if never seen safe, still followed (``left >= t``);
        ``n_safe``: households seen safe by the time (``right <= t``). Disclosure control
        uses these; they are counts of households, unlike R's weighted ``n_risk``.
        """
        self._require_fitted()
        lo, hi = self._bounds[group]
        t = np.asarray(times, dtype=float)
        finite = np.isfinite(hi)
        hi_f = np.sort(hi[finite])
        lo_c = np.sort(np.where(np.isnan(lo[~finite]), -np.inf, lo[~finite]))
        n_open = (len(hi_f) - np.searchsorted(hi_f, t, side="left")) + (
            len(lo_c) - np.searchsorted(lo_c, t, side="left"))
        n_safe = np.searchsorted(hi_f, t, side="right")
        return pd.DataFrame({"time": t, "n_open": n_open.astype(np.int64),
                             "n_safe": n_safe.astype(np.int64)})

    def quantile(self, p: float) -> pd.DataFrame:
        """Time by which a fraction ``p`` has had the event, with limits, as R's
        ``quantile(fit, p)`` (midpoint rule on flat stretches of the step function)."""
        self._require_fitted()
        rows = []
        for label, tab in self._curves():
            x = np.r_[0.0, tab["time"].to_numpy()]
            rows.append({
                "group": label,
                "median": _findq(x, np.r_[0.0, 1 - tab["survival"].to_numpy()], p),
                "ci_lower": _findq(x, np.r_[0.0, 1 - tab["ci_lower"].to_numpy()], p),
                "ci_upper": _findq(x, np.r_[0.0, 1 - tab["ci_upper"].to_numpy()], p),
            })
        out = pd.DataFrame(rows)
        return out.drop(columns="group") if self.group_col is None else out

    def survival_at(self, times) -> pd.DataFrame:
        """Survival and limits at ``times``, as R's ``summary(fit, times = ..., extend = TRUE)``.

        Adds ``determined``: False where a time lies strictly inside one of Turnbull's
        innermost intervals that carries mass, where the NPMLE is not unique and the value
        shown follows R's convention of jumping at the interval's midpoint.
        """
        self._require_fitted()
        times = np.sort(np.asarray(times, dtype=float))
        out = []
        for label, tab in self._curves():
            tt = tab["time"].to_numpy()
            pos = np.searchsorted(tt, times, side="right") - 1
            inside = np.maximum(pos, 0)

            def at(col, before, tab=tab, pos=pos, inside=inside):
                return np.where(pos >= 0, tab[col].to_numpy()[inside], before)

            nxt = np.searchsorted(tt, times, side="left")
            jt = self.intervals_ if label is None else self.intervals_.loc[self.intervals_["group"] == label]
            with_mass = jt.loc[jt["mass"] > 0]
            lo_e, up_e = with_mass["lower"].to_numpy(), with_mass["upper"].to_numpy()
            undetermined = ((times[:, None] > lo_e[None, :]) & (times[:, None] < up_e[None, :])).any(axis=1)
            frame = pd.DataFrame({
                "time": times,
                "n_risk": np.r_[tab["n_risk"].to_numpy(), 0.0][nxt],
                "survival": at("survival", 1.0),
                "std_err": at("std_err", 0.0),
                "ci_lower": at("ci_lower", 1.0),
                "ci_upper": at("ci_upper", 1.0),
                "determined": ~undetermined,
            })
            if label is not None:
                frame.insert(0, "group", label)
            out.append(frame)
        return pd.concat(out, ignore_index=True)

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: rows by kind of censoring, the median (with limits) and the survival
        at 6, 12, 18 and 24 months (with limits)."""
        self._require_fitted()
        out = self.counts_.copy()
        out = median_columns(out, self.median_)
        at = self.survival_at([m * DAYS_PER_MONTH for m in SUMMARY_MONTHS])
        out = horizon_columns(out, at, SUMMARY_MONTHS, "survival")
        return out

    def describe(self) -> dict:
        out = super().describe()
        variances = sorted(set(self.variance_.values()))
        out.update(
            method=("Turnbull NPMLE (constrained Newton method, converged)" if self.method == "npmle"
                    else "Turnbull estimate as R survfit(Surv(L, R, type = 'interval2')) computes it"),
            groups=[str(x) for x in self.labels_] if self.group_col is not None else None,
            conf_type=self.conf_type,
            variance=variances[0] if len(variances) == 1 else variances,
            tol=self.tol,
            converged=bool(all(self.converged_.values())),
        )
        return out


def _bounds(df: pd.DataFrame, col: str) -> np.ndarray:
    s = df[col]
    try:
        return s.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise DefinitionError(f"column {col!r} must be numeric days, got dtype {s.dtype}") from err
