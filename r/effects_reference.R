# Reference values for the effect analyses (cohort.stats: propensity, balance,
# weighted_kaplan_meier, weighted_aalen_johansen, weighted_cox, ate), computed with R's
# survival, riskRegression and sandwich on the inputs r/export_effects_inputs.py writes.
#
#   python r/export_effects_inputs.py && Rscript r/effects_reference.R
#
# Writes tests/fixtures/effects/r/*.csv. Deterministic: rerunning leaves them unchanged.
#
# The standard errors "with estimated weights" are assembled here from R's own pieces, by
# the chain rule of M-estimation: the influence of household j on a weighted estimate is
# w_j dtheta/dw_j (survfit's influence = TRUE values, coxph's dfbeta residuals) plus
# (sum_i dtheta/dw_i dw_i/deta) Phi_j, where eta are the weight parameters (the logistic
# coefficients and the pilot share of the stabilised weights), Phi_j their influence
# (sandwich::estfun times vcov) and dw_i/deta the derivatives of the weights.

suppressPackageStartupMessages({
  library(survival)
  library(riskRegression)
  library(sandwich)
  library(prodlim)
})

inputs <- file.path("tests", "fixtures", "effects", "inputs")
out <- file.path("tests", "fixtures", "effects", "r")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
horizons <- c(6, 12, 24) * 30.4375

write_out <- function(df, name) {
  write.csv(df, file.path(out, name), row.names = FALSE, quote = FALSE)
}
fmt <- function(df) {
  num <- vapply(df, is.numeric, logical(1))
  df[num] <- lapply(df[num], function(x) signif(x, 12))
  df
}

# ---------------------------------------------------------------- propensity and weights

weights_for <- function(d) {
  ps_fit <- glm(treated ~ severity_high + prior_reports + no_children, family = binomial, data = d)
  p <- fitted(ps_fit)
  a <- d$treated
  n <- nrow(d)
  share <- mean(a)
  w <- ifelse(a == 1, share / p, (1 - share) / (1 - p))
  X <- model.matrix(ps_fit)
  # influence of the weight parameters, and the derivatives of the weights
  phi <- cbind(estfun(ps_fit) %*% vcov(ps_fit), (a - share) / n)
  D <- cbind((w * ifelse(a == 1, -(1 - p), p)) * X, ifelse(a == 1, 1 / p, -1 / (1 - p)))
  list(fit = ps_fit, p = p, w = w, phi = phi, D = D, share = share)
}

# the correction for the estimated weights, for derivatives der (n x k)
correction <- function(ws, der) ws$phi %*% t(t(der) %*% ws$D)

# ---------------------------------------------------------------- curves at the horizons

# values of a step function given at `times` (right-continuous) at the horizons
at_horizons <- function(times, values, start) {
  idx <- findInterval(horizons, times)
  ifelse(idx == 0, start, values[pmax(idx, 1)])
}

curves <- function(d, ws, multi, label) {
  n <- nrow(d)
  if (multi) {
    fit <- survfit(Surv(time, factor(status, levels = 0:2)) ~ treated, data = d, weights = ws$w,
                   id = id, influence = TRUE, conf.type = "none")
  } else {
    fit <- survfit(Surv(time, status == 1) ~ treated, data = d, weights = ws$w, id = id,
                   influence = TRUE, robust = TRUE, conf.type = "none")
  }
  strata <- rep(c(0, 1), fit$strata)
  rows <- list()
  der <- list()  # dtheta/dw per arm, n x (horizons [x causes])
  for (arm in c(0, 1)) {
    sel <- strata == arm
    times <- fit$time[sel]
    infl <- fit[[if (multi) "influence.pstate" else "influence.surv"]][[arm + 1]]
    ids <- as.integer(rownames(infl))
    causes <- if (multi) 1:2 else 1
    D <- matrix(0, n, length(horizons) * length(causes))
    for (k in seq_along(causes)) {
      if (multi) {
        est <- fit$pstate[sel, causes[k] + 1]
        se <- fit$std.err[sel, causes[k] + 1]
        # the multi-state influence has a first column for time 0
        inf_k <- infl[, -1, causes[k] + 1, drop = FALSE][, , 1]
        start <- 0
      } else {
        est <- fit$surv[sel]
        se <- fit$std.err[sel]  # with influence = TRUE the robust se of S itself
        inf_k <- infl
        start <- 1
      }
      idx <- findInterval(horizons, times)
      e_h <- at_horizons(times, est, start)
      se_h <- ifelse(idx == 0, 0, se[pmax(idx, 1)])
      inf_h <- sapply(idx, function(j) if (j == 0) rep(0, nrow(inf_k)) else inf_k[, j])
      # survfit's influence.surv is w_i dS/dw_i, its influence.pstate dF/dw_i (survival
      # 3.5-3); the squares of w_i dtheta/dw_i sum to the robust variance either way
      der_h <- if (multi) inf_h else inf_h / ws$w[ids]
      D[ids, (k - 1) * length(horizons) + seq_along(horizons)] <- der_h
      rows[[length(rows) + 1]] <- data.frame(
        outcome = label, arm = arm, cause = causes[k], months = c(6, 12, 24), estimate = e_h,
        se_fixed_weights = se_h, check_fixed = sqrt(colSums((ws$w[ids] * der_h)^2)))
    }
    der[[arm + 1]] <- D
  }
  res <- do.call(rbind, rows)
  # with estimated weights: per arm, and for the difference (pilot minus comparison)
  se_est <- c()
  for (arm in c(0, 1)) {
    D <- der[[arm + 1]]
    phi <- ws$w * D + correction(ws, D)
    se_est <- c(se_est, sqrt(colSums(phi^2)))
  }
  res$se <- se_est
  Dd <- der[[2]] - der[[1]]
  phi_fixed <- ws$w * Dd
  phi <- phi_fixed + correction(ws, Dd)
  k <- ncol(Dd) / length(horizons)
  diff <- data.frame(
    outcome = label, cause = rep(seq_len(k), each = length(horizons)), months = rep(c(6, 12, 24), k),
    difference = res$estimate[res$arm == 1] - res$estimate[res$arm == 0],
    se = sqrt(colSums(phi^2)), se_fixed_weights = sqrt(colSums(phi_fixed^2)))
  list(curves = res, differences = diff)
}

# ---------------------------------------------------------------- the weighted Cox model

weighted_cox <- function(d, ws, label) {
  fit <- coxph(Surv(time, status == 1) ~ treated, data = d, weights = ws$w, cluster = id,
               ties = "efron")
  r <- residuals(fit, type = "score")
  dfb <- residuals(fit, type = "dfbeta")
  V <- fit$naive.var
  corr <- correction(ws, matrix(r, ncol = 1)) %*% V
  data.frame(outcome = label, term = "treated", coef = unname(coef(fit)),
             robust_se = sqrt(diag(fit$var)), model_se = sqrt(diag(V)),
             se_estimated_weights = sqrt(colSums((dfb + corr)^2)))
}

# ---------------------------------------------------------------- riskRegression::ate

ate_iptw <- function(d, label) {
  d$treated <- factor(d$treated)
  tr <- glm(treated ~ severity_high + prior_reports + no_children, family = binomial, data = d)
  cens <- coxph(Surv(time, status == 0) ~ strata(treated), data = d, x = TRUE, y = TRUE,
                ties = "breslow")
  e <- suppressWarnings(ate(event = c("time", "status"), treatment = tr, censor = cens, data = d,
                            times = horizons, cause = 1, estimator = "IPTW", verbose = FALSE))
  m <- as.data.frame(e$meanRisk)
  dr <- as.data.frame(e$diffRisk)
  rbind(
    data.frame(outcome = label, estimator = "IPTW", what = paste0("risk_", m$treatment),
               months = rep(c(6, 12, 24), 2), estimate = m$estimate, se = m$se),
    data.frame(outcome = label, estimator = "IPTW", what = "difference", months = c(6, 12, 24),
               estimate = dr$estimate, se = dr$se))
}

ate_aiptw <- function(d, label) {
  d$treated <- factor(d$treated)
  tr <- glm(treated ~ severity_high + prior_reports + no_children, family = binomial, data = d)
  cens <- coxph(Surv(time, status == 0) ~ strata(treated), data = d, x = TRUE, y = TRUE,
                ties = "breslow")
  csc <- CSC(Hist(time, status) ~ treated + severity_high + prior_reports + no_children, data = d,
             ties = "breslow")
  e <- ate(event = csc, treatment = tr, censor = cens, data = d, times = horizons, cause = 1,
           estimator = "AIPTW", verbose = FALSE, known.nuisance = TRUE)
  m <- as.data.frame(e$meanRisk)
  dr <- as.data.frame(e$diffRisk)
  rbind(
    data.frame(outcome = label, estimator = "AIPTW", what = paste0("risk_", m$treatment),
               months = rep(c(6, 12, 24), 2), estimate = m$estimate, se = m$se),
    data.frame(outcome = label, estimator = "AIPTW", what = "difference", months = c(6, 12, 24),
               estimate = dr$estimate, se = dr$se))
}

# The augmented estimator assembled from riskRegression's own predictions, with the distinct
# censoring times as the jumps of the censoring martingale. ate() of riskRegression
# 2022.11.28 takes the sorted censoring times with their ties repeated, so on tied data it
# adds each tied time's censoring hazard once per tie; on untied data both agree.
aiptw_distinct <- function(d, label) {
  d$treated <- factor(d$treated)
  tol <- 1e-12
  tr <- glm(treated ~ severity_high + prior_reports + no_children, family = binomial, data = d)
  cens <- coxph(Surv(time, status == 0) ~ strata(treated), data = d, x = TRUE, y = TRUE,
                ties = "breslow")
  csc <- CSC(Hist(time, status) ~ treated + severity_high + prior_reports + no_children, data = d,
             ties = "breslow")
  pi1 <- predictRisk(tr, newdata = d)
  jumps <- sort(unique(d$time[d$status == 0]))
  out <- c()
  for (tau in horizons) {
    jc <- jumps[jumps <= tau]
    G.T <- 1 - predictRisk(cens, newdata = d, times = c(0, jumps)[sindex(jumps, pmin(d$time, tau) - tol) + 1],
                           diag = TRUE, product.limit = TRUE)
    Y <- (d$time <= tau) * (d$status == 1)
    F1.tau <- predictRisk(csc, newdata = d, times = tau, cause = 1)
    F1.jump <- predictRisk(csc, newdata = d, times = jc, cause = 1)
    S.jump <- predictRisk(csc, newdata = d, times = jc - tol, type = "survival")
    G.jump <- 1 - predictRisk(cens, newdata = d, times = c(0, jc[-length(jc)]), product.limit = TRUE)
    dN <- outer(d$time, jc, "==") * (d$status == 0)
    dL <- predictCox(cens, newdata = d, times = jc, type = "hazard")$hazard
    integrand <- ifelse(outer(d$time, jc, ">="), (dN - dL) / (G.jump * S.jump), 0)
    aug <- F1.tau * rowSums(integrand) - rowSums(F1.jump * integrand)
    risk <- c()
    for (lev in c(0, 1)) {
      dd <- d
      dd$treated <- factor(lev, levels = c(0, 1))
      Fc <- predictRisk(csc, newdata = dd, times = tau, cause = 1)
      pa <- if (lev == 1) pi1 else 1 - pi1
      risk <- c(risk, mean(Fc + (d$treated == lev) / pa * (Y / G.T - Fc + aug)))
    }
    out <- rbind(out, data.frame(risk_0 = risk[1], risk_1 = risk[2]))
  }
  data.frame(outcome = label, estimator = "AIPTW-distinct-jumps", months = c(6, 12, 24),
             risk_0 = out$risk_0, risk_1 = out$risk_1, difference = out$risk_1 - out$risk_0)
}

# ---------------------------------------------------------------- run

measures <- read.csv(file.path(inputs, "legal_measure_trial.csv"))
rereg <- read.csv(file.path(inputs, "reregistration_trial.csv"))
untied <- read.csv(file.path(inputs, "legal_measure_untied.csv"))
stopifnot(!anyDuplicated(untied$time))

propensity <- c()
balance <- c()
curve_rows <- c()
diff_rows <- c()
cox_rows <- c()
for (outcome in c("legal_measure", "reregistration")) {
  d <- if (outcome == "legal_measure") measures else rereg
  ws <- weights_for(d)
  co <- summary(ws$fit)$coefficients
  propensity <- rbind(propensity, data.frame(outcome = outcome, term = rownames(co),
                                             estimate = co[, 1], se = co[, 2], row.names = NULL))
  for (v in c("severity_high", "prior_reports", "no_children")) {
    x <- d[[v]]
    a <- d$treated == 1
    s <- sqrt((var(x[a]) + var(x[!a])) / 2)
    wm <- function(sel) sum(ws$w[sel] * x[sel]) / sum(ws$w[sel])
    balance <- rbind(balance, data.frame(
      outcome = outcome, covariate = v, smd_unweighted = (mean(x[a]) - mean(x[!a])) / s,
      smd_weighted = (wm(a) - wm(!a)) / s,
      ess_pilot = sum(ws$w[a])^2 / sum(ws$w[a]^2), ess_comparison = sum(ws$w[!a])^2 / sum(ws$w[!a]^2)))
  }
  km <- curves(d, ws, multi = FALSE, label = paste0(outcome, ":km"))
  aj <- curves(d, ws, multi = TRUE, label = paste0(outcome, ":aj"))
  curve_rows <- rbind(curve_rows, km$curves, aj$curves)
  diff_rows <- rbind(diff_rows, km$differences, aj$differences)
  cox_rows <- rbind(cox_rows, weighted_cox(d, ws, outcome))
}
stopifnot(max(abs(curve_rows$check_fixed - curve_rows$se_fixed_weights)) < 1e-10)
curve_rows$check_fixed <- NULL

write_out(fmt(propensity), "propensity.csv")
write_out(fmt(balance), "balance.csv")
write_out(fmt(curve_rows), "curves.csv")
write_out(fmt(diff_rows), "curve_differences.csv")
write_out(fmt(cox_rows), "weighted_cox.csv")
write_out(fmt(rbind(ate_iptw(measures, "legal_measure"), ate_iptw(rereg, "reregistration"))),
          "ate_iptw.csv")
write_out(fmt(ate_aiptw(untied, "legal_measure_untied")), "ate_aiptw_untied.csv")
write_out(fmt(aiptw_distinct(measures, "legal_measure")), "aiptw_distinct_jumps.csv")
writeLines(c(
  paste("R", paste(R.version$major, R.version$minor, sep = ".")),
  paste("survival", packageVersion("survival")),
  paste("riskRegression", packageVersion("riskRegression")),
  paste("sandwich", packageVersion("sandwich"))
), file.path(out, "versions.txt"))
