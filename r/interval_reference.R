# Reference values for the interval-censored estimators (cohort.stats.turnbull,
# cohort.stats.interval_regression), computed with R's survival package. Reads the input
# tables in tests/fixtures/interval/ (written by r/export_interval_inputs.py) and writes
# one CSV per quantity into tests/fixtures/interval/r/. Run from the repository root:
#
#     python r/export_interval_inputs.py
#     Rscript r/interval_reference.R
#
# Files written:
#   turnbull.csv         survfit(Surv(left, right, type = "interval2") ~ g): every row
#                        of the fit (time, weighted n.risk / n.event, surv, fit$std.err,
#                        lower, upper), conf.type = "log" (R's default) and "log-log"
#   turnbull_at.csv      summary(fit, times = 6, 12, 18, 24 months, extend = TRUE)
#   turnbull_median.csv  quantile(fit, 0.5)
#   turnbull_npmle.csv   the NPMLE itself (R's self-consistency, accelerated by SQUAREM,
#                        iterated until the optimality condition max_j d_j / n - 1 <= 1e-12
#                        holds, instead of survfit's stopping rule)
#                        with R's variance at it: survival:::survfitKM on the same
#                        pseudo-events survfitTurnbull builds
#   survreg.csv          survreg(Surv(L, right, type = "interval2") ~ x, dist = ...):
#                        coefficients, Log(scale) and standard errors (sqrt(diag(vcov)))
#   survreg_fit.csv      log-likelihoods (null, model), scale, iterations, n
# Numbers are written with 17 significant digits; the chain is deterministic.

suppressPackageStartupMessages(library(survival))

inp <- file.path("tests", "fixtures", "interval")
out <- file.path(inp, "r")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

put <- function(df, name) {
  df <- as.data.frame(df)
  for (col in names(df)) {
    if (is.numeric(df[[col]])) {
      v <- sprintf("%.17g", df[[col]])
      v[is.na(df[[col]])] <- "NA"
      df[[col]] <- v
    }
  }
  write.csv(df, file.path(out, name), row.names = FALSE, quote = FALSE)
}

cases <- c("toy", "bundled_direct", "bundled_stable", "bundled_t0", "fresh_direct", "fresh_stable")
data <- lapply(cases, function(k) read.csv(file.path(inp, paste0(k, ".csv")), stringsAsFactors = FALSE))
names(data) <- cases
groupings <- list(toy = c("none", "site"),
                  bundled_direct = c("none", "severity", "children", "site"),
                  bundled_stable = c("none", "severity", "children"),
                  bundled_t0 = c("none", "severity"),
                  fresh_direct = c("none", "severity", "children"),
                  fresh_stable = c("none", "severity"))
months <- c(6, 12, 18, 24) * 30.4375

fit_curve <- function(d, g, conf.type = "log") {
  if (g == "none") survfit(Surv(left, right, type = "interval2") ~ 1, data = d, conf.type = conf.type)
  else survfit(as.formula(paste("Surv(left, right, type = 'interval2') ~", g)), data = d,
               conf.type = conf.type)
}
strata_of <- function(fit, n) {
  if (is.null(fit$strata)) rep("", n) else sub(".*=", "", rep(names(fit$strata), fit$strata))
}

# ---------------------------------------------------------------- survfit
tabs <- list(); ats <- list(); meds <- list()
for (k in cases) for (g in groupings[[k]]) for (ct in c("log", "log-log")) {
  f <- fit_curve(data[[k]], g, ct)
  tabs[[length(tabs) + 1]] <- data.frame(case = k, grouping = g, conf_type = ct,
    group = strata_of(f, length(f$time)), time = f$time, n_risk = f$n.risk,
    n_event = f$n.event, n_censor = f$n.censor, survival = f$surv, std_err = f$std.err,
    lower = f$lower, upper = f$upper)
  if (ct == "log") {
    s <- summary(f, times = months, extend = TRUE)
    ats[[length(ats) + 1]] <- data.frame(case = k, grouping = g,
      group = if (is.null(s$strata)) "" else sub(".*=", "", as.character(s$strata)),
      time = s$time, survival = s$surv, lower = s$lower, upper = s$upper)
    q <- quantile(f, 0.5)
    meds[[length(meds) + 1]] <- data.frame(case = k, grouping = g,
      group = if (is.null(f$strata)) "" else sub(".*=", "", names(f$strata)),
      median = as.vector(q$quantile), lower = as.vector(q$lower), upper = as.vector(q$upper))
  }
}
put(do.call(rbind, tabs), "turnbull.csv")
put(do.call(rbind, ats), "turnbull_at.csv")
put(do.call(rbind, meds), "turnbull_median.csv")

# ---------------------------------------------------------------- the NPMLE
# The jump points and pseudo-events are survfitTurnbull's (survival 3.5-3); only the
# stopping rule differs: self-consistency until max_j d_j / n - 1 <= 1e-12.
npmle_curve <- function(y1, y2, status) {
  n <- length(status)
  if (any(status == 3)) {
    stat2 <- c(c(2, 0, 1, 2)[status + 1], rep(1, sum(status == 3)))
    time2 <- c(y1, y2[status == 3])
  } else {
    stat2 <- c(2, 0, 1)[status + 1]
    time2 <- y1
  }
  ord <- order(time2, stat2)
  time2 <- time2[ord]; stat2 <- stat2[ord]
  n2 <- length(time2)
  pairs <- (stat2[-n2] != 1 & stat2[-1] == 1)
  jtimes <- c(time2[stat2 == 0], 0.5 * (time2[-n2] + time2[-1])[pairs])
  mintime <- min(jtimes)
  who <- (status == 2 & y1 < mintime)
  if (any(who)) { status[who] <- 1; jtimes <- c(y1[who], jtimes) }
  jtimes <- sort(unique(jtimes))
  J <- length(jtimes)
  # every row as a range [a, b) of jump points (b = J + 1 reaches infinity)
  a <- ifelse(status == 2, 1, ifelse(status == 1, match(y1, jtimes), findInterval(y1, jtimes) + 1))
  b <- ifelse(status == 2, findInterval(y1, jtimes) + 1,
         ifelse(status == 1, match(y1, jtimes) + 1,
           ifelse(status == 0, J + 2, findInterval(y2, jtimes) + 1)))
  K <- J + 1
  # sums of a row quantity by range start and by range end, in one pass each
  oa <- order(a); ob <- order(b)
  ea <- which(c(diff(a[oa]) != 0, TRUE)); eb <- which(c(diff(b[ob]) != 0, TRUE))
  ua <- a[oa][ea]; ub <- b[ob][eb]
  by_end <- function(x, o, e) diff(c(0, cumsum(x[o])[e]))
  em <- function(p) {
    P <- c(0, cumsum(p))
    rs <- P[b] - P[a]
    dd <- numeric(K + 1)
    dd[ua] <- dd[ua] + by_end(1 / rs, oa, ea)
    dd[ub] <- dd[ub] - by_end(1 / rs, ob, eb)
    d <- cumsum(dd)[1:K]
    list(next_p = p * d / n, gap = max(d) / n - 1, loglik = sum(log(rs)))
  }
  # self-consistency (EM) accelerated by SQUAREM (Varadhan and Roland 2008, scheme S3),
  # with a plain EM step wherever the extrapolation does not raise the likelihood
  p <- rep(1 / K, K)
  for (it in 1:2000000) {
    e0 <- em(p)
    gap <- e0$gap
    if (gap <= 1e-12) break
    p1 <- e0$next_p
    e1 <- em(p1)
    p2 <- e1$next_p
    r <- p1 - p; v <- p2 - p1 - r
    alpha <- min(-sqrt(sum(r^2)) / sqrt(sum(v^2)), -1)
    pn <- p - 2 * alpha * r + alpha^2 * v
    if (any(pn < 0)) { p <- p2; next }  # EM cannot revive a mass set to 0: no projection
    en <- em(pn / sum(pn))
    p <- if (is.finite(en$loglik) && en$loglik >= e1$loglik) en$next_p else p2
  }
  rs <- { P <- c(0, cumsum(p)); P[b] - P[a] }
  jumps <- p[1:J]
  # R's pseudo-events at the jump points: the censored rows' expected events
  cens <- status > 1
  P <- c(0, cumsum(jumps))
  share <- 1 / (P[b[cens]] - P[a[cens]])
  dd <- numeric(J + 2)
  ac <- a[cens]; bc <- b[cens]
  for (i in unique(ac)) dd[i] <- dd[i] + sum(share[ac == i])
  for (i in unique(bc)) dd[i] <- dd[i] - sum(share[bc == i])
  wt2 <- jumps * cumsum(dd)[1:J]
  real <- status < 2
  tempy <- Surv(c(y1[real], jtimes), c(status[real], rep(1, J)))
  km <- survival:::survfitKM(factor(rep(1, length(tempy[, 1]))), tempy,
                             weights = c(rep(1, sum(real)), wt2), conf.type = "log")
  list(km = km, gap = gap, iter = it, loglik = sum(log(rs)))
}

npm <- list()
for (k in cases) for (g in intersect(groupings[[k]], c("none", "severity"))) {
  d <- data[[k]]
  groups <- if (g == "none") "" else sort(unique(d[[g]]))
  for (lev in groups) {
    dd <- if (g == "none") d else d[d[[g]] == lev, ]
    y <- Surv(dd$left, dd$right, type = "interval2")
    st <- y[, 3]
    who <- (st == 3 & y[, 1] == y[, 2]); st[who] <- 1
    t0 <- Sys.time()
    res <- npmle_curve(y[, 1], y[, 2], st)
    message(k, " ", g, " ", lev, ": ", res$iter, " iterations, gap ", signif(res$gap, 3), ", ",
            round(as.numeric(Sys.time() - t0, units = "secs"), 1), " s")
    f <- res$km
    npm[[length(npm) + 1]] <- data.frame(case = k, grouping = g, group = lev, time = f$time,
      survival = f$surv, std_err = f$std.err, lower = f$lower, upper = f$upper,
      gap = res$gap, iterations = res$iter, loglik = res$loglik)
  }
}
put(do.call(rbind, npm), "turnbull_npmle.csv")

# ---------------------------------------------------------------- survreg
# survreg refuses a lower bound of 0 on the log scale: (0, R] is passed as left-censored
# (Surv(NA, R)); rows safe at time zero (right = 0) cannot be fitted and are left out.
models <- list(c("severity", "children", "prior_reports"), c("severity", "site"))
regs <- list(); fits <- list()
for (k in setdiff(cases, c("toy", "bundled_t0"))) for (dist in c("weibull", "lognormal")) {
  for (m in seq_along(models)) {
    if (m == 2 && !startsWith(k, "bundled_direct")) next
    d <- data[[k]]
    d <- d[d$right > 0, ]
    d$L <- ifelse(d$left == 0, NA, d$left)
    fml <- as.formula(paste("Surv(L, right, type = 'interval2') ~", paste(models[[m]], collapse = " + ")))
    f <- survreg(fml, data = d, dist = dist)
    est <- c(coef(f), "Log(scale)" = log(f$scale))
    regs[[length(regs) + 1]] <- data.frame(case = k, dist = dist, model = m, term = names(est),
      estimate = unname(est), se = unname(sqrt(diag(vcov(f)))))
    fits[[length(fits) + 1]] <- data.frame(case = k, dist = dist, model = m,
      loglik_null = f$loglik[1], loglik = f$loglik[2], scale = f$scale, iterations = f$iter,
      n = nrow(d) - length(f$na.action))
  }
}
put(do.call(rbind, regs), "survreg.csv")
put(do.call(rbind, fits), "survreg_fit.csv")

writeLines(c(R.version.string, paste("survival", packageVersion("survival"))),
           file.path(out, "VERSIONS.txt"))
