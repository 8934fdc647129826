# Reference values for reduced and refused fits: what R does where the data cannot support
# the full model (a subset of sites, a far reference date). Writes the inputs it builds and
# R's results into tests/fixtures/reduced/; tests/unit/test_reduced_fits.py compares the
# workbench's estimators with them. Run from the repository root:
#
#     Rscript r/reduced_fits_reference.R
#
# Cases:
#   cox_*      survival::coxph: a covariate constant within every stratum and one collinear
#              with earlier columns (coefficient NA), no events (every coefficient NA,
#              log-likelihood 0), a term separating the outcome (warning "coefficient may
#              be infinite"); cox.zph of the reduced fit (the NA term left out) and with
#              every event at the same time (cox.zph stops: the matrix is singular).
#   segmented  glm(quasipoisson) with missing quarterly counts (na.action = na.omit).
#   lmer_*     lme4::lmer at the boundary of check.nobs.vs.nRE (and check.nobs.vs.nlev):
#              just enough and one too few observations for a random intercept and slope,
#              and for a random intercept only.
# Numbers are written with 17 significant digits; "NA" where R gives NA.

suppressPackageStartupMessages({
  library(survival)
  library(lme4)
})

out <- file.path("tests", "fixtures", "reduced")
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

# what a call warns, and its value (or the error it stops with)
caught <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(conditionMessage(e), class = "r_error")),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(value = value, warnings = warns)
}
flat <- function(x) gsub("[\r\n,]+", " ", trimws(paste(x, collapse = " | ")))

rossi <- read.csv(file.path("tests", "fixtures", "survival", "rossi.csv"))

# ------------------------------------------------------------------------------ Cox
# wexp_same is constant within each stratum of wexp; lin = age + prio is collinear with them
cox_in <- transform(rossi, wexp_same = wexp, lin = age + prio, none = 0L,
                    separates = arrest, id = seq_len(nrow(rossi)))
write.csv(cox_in, file.path(out, "cox_input.csv"), row.names = FALSE, quote = FALSE)

coefs <- list()
fits <- list()
# Finite fits are iterated to full convergence (eps 1e-14: coxph's default 1e-9 stops a
# few digits short, and the tests compare to 1e-9); the infinite case keeps R's default,
# whose stopping rule is what finds the infinite coefficient.
full <- coxph.control(eps = 1e-14, toler.chol = 1e-15, iter.max = 100)
cox_case <- function(label, formula, data, robust = FALSE, control = full) {
  r <- caught(if (robust) coxph(formula, data = data, cluster = id, x = TRUE, y = TRUE, control = control)
              else coxph(formula, data = data, x = TRUE, y = TRUE, control = control))
  fit <- r$value
  cf <- coef(fit)
  se_model <- if (robust) sqrt(diag(fit$naive.var)) else sqrt(diag(fit$var))
  se <- sqrt(diag(fit$var))
  if (length(cf)) {
    coefs[[label]] <<- data.frame(case = label, term = names(cf), coef = unname(cf),
                                  se = unname(se), se_model = unname(se_model))
  }
  fits[[label]] <<- data.frame(
    case = label, n = fit$n, nevent = fit$nevent,
    loglik_null = fit$loglik[1], loglik = fit$loglik[length(fit$loglik)],
    df = sum(!is.na(cf)), iter = fit$iter, warning = flat(r$warnings)
  )
  invisible(fit)
}

f_strata <- cox_case("constant_within_strata",
                     Surv(week, arrest) ~ fin + wexp_same + age + prio + lin + strata(wexp),
                     cox_in)
f_robust <- cox_case("constant_within_strata_robust",
                     Surv(week, arrest) ~ fin + wexp_same + age + prio + lin + strata(wexp),
                     cox_in, robust = TRUE)
cox_case("constant", Surv(week, arrest) ~ fin + none + age, cox_in)
cox_case("no_events", Surv(week, 0 * arrest) ~ fin + age, cox_in)
cox_case("infinite", Surv(week, arrest) ~ fin + age + separates, cox_in, control = coxph.control())
put(do.call(rbind, coefs), "cox_coef.csv")
put(do.call(rbind, fits), "cox_fit.csv")

# cox.zph of the reduced fit: the NA term has no row
zph <- cox.zph(f_strata)
put(data.frame(term = rownames(zph$table), chisq = zph$table[, "chisq"], df = zph$table[, "df"],
               p = zph$table[, "p"]), "cox_zph_reduced.csv")

# every event at the same time (week 20): cox.zph stops with a singular matrix
tied <- transform(cox_in, week = ifelse(arrest == 1, 20L, pmax(week, 21L)))
write.csv(tied[, c("week", "arrest", "fin", "age")], file.path(out, "cox_tied_input.csv"),
          row.names = FALSE, quote = FALSE)
f_tied <- coxph(Surv(week, arrest) ~ fin + age, data = tied, control = full)
z_tied <- caught(cox.zph(f_tied))
put(data.frame(case = "all_events_tied",
               result = if (inherits(z_tied$value, "r_error")) "error" else "table",
               message = flat(if (inherits(z_tied$value, "r_error")) unclass(z_tied$value) else ""),
               coef_fin = unname(coef(f_tied)["fin"]), coef_age = unname(coef(f_tied)["age"])),
    "cox_zph_tied.csv")

# ------------------------------------------------------------------ segmented regression
q <- data.frame(
  interval_start = format(seq(as.Date("2023-01-01"), by = "quarter", length.out = 12)),
  numerator = c(NA, 10, NA, 10, 12, 12, 13, 18, 15, NA, 21, 19)
)
write.csv(q, file.path(out, "segmented_input.csv"), row.names = FALSE, quote = FALSE, na = "")
q$time <- seq_len(nrow(q)) - 1
q$post <- as.integer(as.Date(q$interval_start) >= as.Date("2024-01-01"))
q$tsc <- ifelse(q$post == 1, q$time - min(q$time[q$post == 1]), 0)
its <- glm(numerator ~ time + post + tsc, family = quasipoisson, data = q)  # na.omit
est <- coef(its)
put(data.frame(term = c("Intercept", "time", "level_change", "slope_change"), estimate = unname(est),
               se = unname(sqrt(diag(vcov(its)))), dispersion = summary(its)$dispersion,
               n_used = nobs(its), n_omitted = length(its$na.action)),
    "segmented.csv")

# ------------------------------------------------------------------------------- lmer
# Households with scores over time. n_obs against the random effects: 2 per household with
# a random intercept and slope, 1 with a random intercept only. lme4 stops when n_obs <=
# the number of random effects (check.nobs.vs.nRE) or <= the number of households
# (check.nobs.vs.nlev).
set.seed(20230101)
G <- 40
b0 <- rnorm(G, 0, 1.2)
b1 <- rnorm(G, 0, 0.6)
make <- function(per_household, label) {
  hh <- rep(seq_len(G), times = per_household)
  t <- unlist(lapply(per_household, function(k) seq(0, by = 0.5, length.out = k))) + runif(length(hh), 0, 0.2)
  data.frame(case = label, household_id = hh, t = t,
             score = 5 + 0.8 * t + b0[hh] + b1[hh] * t + rnorm(length(hh), 0, 0.7))
}
k2 <- rep(2L, G)
cases <- list(
  make(replace(k2, 1, 3L), "slope_just_enough"),        # 2G + 1 observations
  make(k2, "slope_one_too_few"),                          # 2G
  make(replace(rep(1L, G), 1, 2L), "intercept_just_enough"),  # G + 1
  make(rep(1L, G), "intercept_one_too_few")               # G
)
lmer_in <- do.call(rbind, cases)
write.csv(lmer_in, file.path(out, "lmer_input.csv"), row.names = FALSE, quote = FALSE)

decisions <- list(); fixed <- list(); varcomp <- list()
for (label in unique(lmer_in$case)) {
  d <- lmer_in[lmer_in$case == label, ]
  for (re in c("slope", "intercept")) {
    formula <- if (re == "slope") score ~ t + (1 + t | household_id) else score ~ t + (1 | household_id)
    r <- caught(lmer(formula, data = d, REML = TRUE))
    ok <- !inherits(r$value, "r_error")
    decisions[[paste(label, re)]] <- data.frame(
      case = label, random_effects = re, n_obs = nrow(d), n_households = length(unique(d$household_id)),
      fitted = ok, message = flat(if (ok) r$warnings else unclass(r$value)))
    if (ok) {
      fit <- r$value
      fe <- fixef(fit)
      fixed[[paste(label, re)]] <- data.frame(case = label, random_effects = re, term = names(fe),
                                              estimate = unname(fe), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
                                              reml = REMLcrit(fit))
      vc <- as.data.frame(VarCorr(fit))
      varcomp[[paste(label, re)]] <- data.frame(case = label, random_effects = re,
                                                var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor)
    }
  }
}
put(do.call(rbind, decisions), "lmer_decisions.csv")
put(do.call(rbind, fixed), "lmer_fixed.csv")
put(do.call(rbind, varcomp), "lmer_varcomp.csv")

writeLines(c(paste("R", R.version$major, R.version$minor, sep = "."),
             paste("survival", packageVersion("survival")),
             paste("lme4", packageVersion("lme4"))),
           file.path(out, "VERSIONS.txt"))
