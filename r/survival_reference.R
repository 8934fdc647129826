# Reference values for the survival estimators (cohort.survival), computed with R's
# survival and cmprsk packages. Reads the input tables in tests/fixtures/survival/
# (written by r/export_survival_inputs.py) and writes one CSV per quantity into
# tests/fixtures/survival/r/. Run from the repository root:
#
#     python r/export_survival_inputs.py
#     Rscript r/survival_reference.R
#
# Every model uses R's defaults (Efron ties, conf.type = "log", cox.zph transform = "km")
# unless the file name says otherwise. Numbers are written with 17 significant digits.

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})

inp <- file.path("tests", "fixtures", "survival")
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

rd <- function(name) read.csv(file.path(inp, name), stringsAsFactors = FALSE)

rossi <- rd("rossi.csv")
tied <- rd("tied.csv")
cp <- rd("cp.csv")

# ---------------------------------------------------------------- Kaplan-Meier
km_table <- function(fit, label) {
  s <- summary(fit, censored = TRUE)
  strata <- if (is.null(s$strata)) rep("", length(s$time)) else sub(".*=", "", as.character(s$strata))
  data.frame(case = label, group = strata, time = s$time, n_risk = s$n.risk,
             n_event = s$n.event, survival = s$surv, std_err = s$std.err,
             ci_lower = s$lower, ci_upper = s$upper)
}
km_median <- function(fit, label) {
  q <- quantile(fit, 0.5)
  g <- if (is.null(fit$strata)) "" else sub(".*=", "", names(fit$strata))
  data.frame(case = label, group = g, median = as.vector(q$quantile),
             ci_lower = as.vector(q$lower), ci_upper = as.vector(q$upper))
}
km_at <- function(fit, label, times) {
  s <- summary(fit, times = times, extend = TRUE)
  strata <- if (is.null(s$strata)) rep("", length(s$time)) else sub(".*=", "", as.character(s$strata))
  data.frame(case = label, group = strata, time = s$time, n_risk = s$n.risk,
             n_event = s$n.event, survival = s$surv, ci_lower = s$lower, ci_upper = s$upper)
}

tabs <- list(); meds <- list(); ats <- list()
for (ct in c("log", "log-log", "plain")) {
  f1 <- survfit(Surv(week, arrest) ~ 1, data = rossi, conf.type = ct)
  f2 <- survfit(Surv(week, arrest) ~ fin, data = rossi, conf.type = ct)
  f3 <- survfit(Surv(time, event) ~ site, data = tied, conf.type = ct)
  f4 <- survfit(Surv(start, stop, event) ~ 1, data = cp, conf.type = ct)
  for (item in list(list(f1, paste0("rossi_", ct)), list(f2, paste0("rossi_fin_", ct)),
                    list(f3, paste0("tied_site_", ct)), list(f4, paste0("cp_entry_", ct)))) {
    tabs[[length(tabs) + 1]] <- km_table(item[[1]], item[[2]])
    meds[[length(meds) + 1]] <- km_median(item[[1]], item[[2]])
  }
  ats[[length(ats) + 1]] <- km_at(f2, paste0("rossi_fin_", ct), c(10, 26, 52, 60))
  ats[[length(ats) + 1]] <- km_at(f3, paste0("tied_site_", ct), c(3, 7.5, 12, 30))
}
put(do.call(rbind, tabs), "km.csv")
put(do.call(rbind, meds), "km_median.csv")
put(do.call(rbind, ats), "km_at.csv")

# ---------------------------------------------------------------- log-rank
lr <- function(fit, label) {
  g <- sub(".*=", "", names(fit$n))
  # with strata, obs and exp are per group x stratum: the test uses their sums
  obs <- if (is.matrix(fit$obs)) rowSums(fit$obs) else fit$obs
  ex <- if (is.matrix(fit$exp)) rowSums(fit$exp) else fit$exp
  data.frame(case = label, group = g, n = as.vector(fit$n), observed = as.vector(obs),
             expected = as.vector(ex), chisq = fit$chisq,
             df = length(fit$n) - 1)
}
put(rbind(
  lr(survdiff(Surv(week, arrest) ~ fin, data = rossi), "rossi_fin"),
  lr(survdiff(Surv(week, arrest) ~ prio, data = transform(rossi, prio = pmin(prio, 4))), "rossi_prio"),
  lr(survdiff(Surv(time, event) ~ site, data = tied), "tied_site"),
  lr(survdiff(Surv(time, event) ~ x1 + strata(site), data = tied), "tied_x1_strata_site")
), "logrank.csv")

# ---------------------------------------------------------------- Aalen-Johansen
mg <- mgus2
mg$etime <- ifelse(mg$pstat == 0, mg$futime, mg$ptime)
mg$status <- ifelse(mg$pstat == 0, 2 * mg$death, 1)
mg <- mg[, c("id", "sex", "age", "etime", "status")]
write.csv(mg, file.path(inp, "mgus2.csv"), row.names = FALSE, quote = FALSE)

aj_table <- function(fit, label) {
  nst <- ncol(fit$pstate)
  strata <- if (is.null(fit$strata)) rep("", length(fit$time)) else
    rep(sub(".*=", "", names(fit$strata)), fit$strata)
  rows <- list()
  for (k in 2:nst) {
    rows[[k - 1]] <- data.frame(case = label, group = strata, cause = k - 1, time = fit$time,
                                n_risk = fit$n.risk[, 1], cif = fit$pstate[, k],
                                se = fit$std.err[, k], ci_lower = fit$lower[, k],
                                ci_upper = fit$upper[, k])
  }
  do.call(rbind, rows)
}
aj <- rbind(
  aj_table(survfit(Surv(etime, factor(status)) ~ 1, data = mg), "mgus2"),
  aj_table(survfit(Surv(etime, factor(status)) ~ sex, data = mg), "mgus2_sex"),
  aj_table(survfit(Surv(time, factor(status)) ~ 1, data = tied), "tied"),
  aj_table(survfit(Surv(time, factor(status)) ~ site, data = tied), "tied_site"),
  aj_table(survfit(Surv(time, factor(status)) ~ 1, data = tied, conf.type = "log-log"),
           "tied_loglog"),
  aj_table(survfit(Surv(time, factor(status)) ~ 1, data = tied, conf.type = "plain"),
           "tied_plain")
)
put(aj, "aalen_johansen.csv")

# cmprsk::cuminc gives the same estimates; its variance is a different (delta-method)
# estimator, stored for reference only.
ci <- cuminc(mg$etime, mg$status, cencode = 0)
put(rbind(
  data.frame(case = "mgus2", cause = 1, time = ci[["1 1"]]$time, est = ci[["1 1"]]$est, var = ci[["1 1"]]$var),
  data.frame(case = "mgus2", cause = 2, time = ci[["1 2"]]$time, est = ci[["1 2"]]$est, var = ci[["1 2"]]$var)
), "cuminc.csv")

# ---------------------------------------------------------------- Fine-Gray (cmprsk::crr)
fg_out <- list()
add_fg <- function(fit, label) {
  fg_out[[length(fg_out) + 1]] <<- data.frame(case = label, term = names(fit$coef),
                                              coef = fit$coef, se = sqrt(diag(fit$var)),
                                              loglik = fit$loglik, converged = fit$converged)
}
add_fg(crr(tied$time, tied$status, as.matrix(tied[, c("x1", "x2", "x3")])), "tied_cause1")
add_fg(crr(tied$time, tied$status, as.matrix(tied[, c("x1", "x2", "x3")]), failcode = 2),
       "tied_cause2")
mgx <- cbind(age = mg$age, male = as.numeric(mg$sex == "M"))
add_fg(crr(mg$etime, mg$status, mgx), "mgus2_cause1")

# ---------------------------------------------------------------- Cox models
cox_out <- list(); zph_out <- list(); fit_out <- list(); sres_out <- list()
add_cox <- function(fit, label, zph = TRUE) {
  s <- summary(fit)$coefficients
  robust <- if ("robust se" %in% colnames(s)) s[, "robust se"] else NA
  ci <- summary(fit)$conf.int
  cox_out[[length(cox_out) + 1]] <<- data.frame(
    case = label, term = rownames(s), coef = s[, "coef"], se = s[, "se(coef)"],
    robust_se = robust, hr_lower = ci[, "lower .95"], hr_upper = ci[, "upper .95"],
    p = s[, ncol(s)])
  fit_out[[length(fit_out) + 1]] <<- data.frame(
    case = label, loglik_null = fit$loglik[1], loglik = fit$loglik[2],
    lr_test = 2 * diff(fit$loglik), n = fit$n, nevent = fit$nevent)
  if (zph) {
    z <- cox.zph(fit)
    zph_out[[length(zph_out) + 1]] <<- data.frame(
      case = label, term = rownames(z$table), chisq = z$table[, "chisq"],
      df = z$table[, "df"], p = z$table[, "p"])
  }
}

f <- coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)
add_cox(f, "rossi")
sr <- residuals(f, type = "score")
sres_out[[1]] <- data.frame(case = "rossi", row = seq_len(nrow(sr)), sr)
zt <- list()
for (tr in c("identity", "rank", "log")) {
  z <- cox.zph(f, transform = tr)
  zt[[tr]] <- data.frame(case = "rossi", transform = tr, term = rownames(z$table),
                         chisq = z$table[, "chisq"], df = z$table[, "df"])
}
put(do.call(rbind, zt), "cox_zph_transforms.csv")
add_cox(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi,
              ties = "breslow"), "rossi_breslow")
add_cox(coxph(Surv(week, arrest) ~ fin + age + prio + strata(wexp), data = rossi),
        "rossi_strata_wexp")
add_cox(coxph(Surv(week, arrest) ~ fin + age + prio, data = rossi, robust = TRUE),
        "rossi_robust")
add_cox(coxph(Surv(time, event) ~ x1 + x2 + x3, data = tied), "tied")
add_cox(coxph(Surv(time, event) ~ x1 + x2 + x3 + site, data = tied), "tied_site_factor")
add_cox(coxph(Surv(time, event) ~ x1 + x2 + x3, data = tied, cluster = cluster),
        "tied_cluster")
add_cox(coxph(Surv(time, event) ~ x1 + x2 + x3 + strata(site), data = tied, cluster = cluster),
        "tied_strata_cluster")
add_cox(coxph(Surv(time, event) ~ x1 + x2 + x3, data = tied, ties = "breslow",
              cluster = cluster), "tied_breslow_cluster")
f <- coxph(Surv(start, stop, event) ~ x1 + x2 + x3, data = cp, cluster = id)
add_cox(f, "cp_cluster")
sr <- residuals(f, type = "score")
sres_out[[2]] <- data.frame(case = "cp_cluster", row = seq_len(nrow(sr)), sr)
add_cox(coxph(Surv(start, stop, event) ~ x1 + x2 + x3 + strata(site), data = cp, cluster = id),
        "cp_strata_cluster")
add_cox(coxph(Surv(start, stop, event) ~ x1 + x2, data = cp), "cp_naive")
put(do.call(rbind, cox_out), "cox.csv")
put(do.call(rbind, zph_out), "cox_zph.csv")
put(do.call(rbind, fit_out), "cox_fit.csv")
sres <- do.call(rbind, lapply(sres_out, function(d) {
  cols <- setdiff(names(d), c("case", "row"))
  do.call(rbind, lapply(cols, function(cc) data.frame(case = d$case, row = d$row, term = cc,
                                                       score = d[[cc]])))
}))
put(sres, "cox_score_residuals.csv")

# ---------------------------------------------------------------- mean cumulative function
mcf <- survfit(Surv(start, stop, event) ~ 1, data = cp, id = id)
ev <- mcf$n.event > 0
put(data.frame(case = "cp", group = "", time = mcf$time[ev], n_risk = mcf$n.risk[ev],
               n_event = mcf$n.event[ev], mcf = mcf$cumhaz[ev], se = mcf$std.chaz[ev]),
    "mcf.csv")

# ---------------------------------------------------------------- synthetic follow-up tables
if (file.exists(file.path(inp, "followup_episodes.csv"))) {
  ep <- rd("followup_episodes.csv")
  rec <- rd("followup_recurrent.csv")
  lm <- rd("followup_measures.csv")
  tabs <- list(km_table(survfit(Surv(time, event) ~ 1, data = ep), "fu_ep"),
               km_table(survfit(Surv(time, event) ~ site, data = ep), "fu_ep_site"),
               km_table(survfit(Surv(time, event) ~ 1, data = lm), "fu_lm"))
  put(do.call(rbind, tabs), "fu_km.csv")
  put(rbind(km_median(survfit(Surv(time, event) ~ 1, data = ep), "fu_ep"),
            km_median(survfit(Surv(time, event) ~ 1, data = lm), "fu_lm")), "fu_km_median.csv")
  put(rbind(km_at(survfit(Surv(time, event) ~ site, data = ep), "fu_ep_site",
                  c(182.625, 365.25, 730.5))), "fu_km_at.csv")
  put(lr(survdiff(Surv(time, event) ~ site, data = ep), "fu_ep_site"), "fu_logrank.csv")
  put(rbind(aj_table(survfit(Surv(time, factor(status)) ~ 1, data = ep), "fu_ep"),
            aj_table(survfit(Surv(time, factor(status)) ~ 1, data = lm), "fu_lm")),
      "fu_aalen_johansen.csv")
  cox_out <- list(); zph_out <- list(); fit_out <- list()
  ep$site <- relevel(factor(ep$site), ref = "UTR")  # the generator's reference site
  add_cox(coxph(Surv(time, event) ~ no_children + severity_high + prior_reports + site,
                data = ep, cluster = cluster), "fu_ep_cluster")
  add_cox(coxph(Surv(time, event) ~ no_children + severity_high + prior_reports + strata(site),
                data = ep, cluster = cluster), "fu_ep_strata_cluster")
  add_cox(coxph(Surv(start, stop, event) ~ no_children + severity_high + prior_reports +
                  prior_events, data = rec, cluster = cluster), "fu_ag_cluster")
  add_cox(coxph(Surv(time, event) ~ no_children + severity_high + prior_reports + strata(site),
                data = lm, cluster = cluster), "fu_lm_strata_cluster")
  put(do.call(rbind, cox_out), "fu_cox.csv")
  put(do.call(rbind, zph_out), "fu_cox_zph.csv")
  put(do.call(rbind, fit_out), "fu_cox_fit.csv")
  add_fg(crr(ep$time, ep$status, as.matrix(ep[, c("no_children", "severity_high", "prior_reports")])),
         "fu_ep_cause1")
  m <- survfit(Surv(start, stop, event) ~ 1, data = rec, id = cluster)
  ev <- m$n.event > 0
  put(data.frame(case = "fu_rec", group = "", time = m$time[ev], n_risk = m$n.risk[ev],
                 n_event = m$n.event[ev], mcf = m$cumhaz[ev], se = m$std.chaz[ev]), "fu_mcf.csv")
}

put(do.call(rbind, fg_out), "fine_gray.csv")

writeLines(c(paste("R", R.version$major, R.version$minor, sep = "."),
             paste("survival", packageVersion("survival")),
             paste("cmprsk", packageVersion("cmprsk"))), file.path(out, "VERSIONS.txt"))
