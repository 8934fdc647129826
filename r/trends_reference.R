# Reference values for the trend and safety analyses (cohort.stats: poisson, logistic,
# negative_binomial, segmented, percent_change, intervals, safety, mixed, gee), computed with R on the inputs written by r/export_trends_inputs.py.
#
# Run from the repository root:
#   python r/export_trends_inputs.py
#   Rscript r/trends_reference.R
# Writes tests/fixtures/trends/r/*.csv; the unit tests compare the Python results with them.
# Packages: lme4, MASS, geepack, survival (all on CRAN).

suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
  library(geepack)
  library(survival)
})

inp <- "tests/fixtures/trends"
out <- file.path(inp, "r")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

write_ref <- function(df, name) {
  num <- vapply(df, is.numeric, logical(1))
  df[num] <- lapply(df[num], function(x) trimws(formatC(x, digits = 15, format = "g")))
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
}
coefs <- function(est, se) data.frame(term = names(est), estimate = unname(est), se = unname(se))

safety <- read.csv(file.path(inp, "safety_long.csv"), stringsAsFactors = FALSE)
safety$site <- factor(safety$site)
safety$severity <- factor(safety$severity)
prof <- safety[safety$respondent == "professional", ]
prof <- prof[order(prof$household, prof$assessment_date), ]

# ---- linear mixed model: random intercept and slope per household, REML ----
fit <- lmer(score ~ years + severity + site + (1 + years | household), data = prof, REML = TRUE)
write_ref(coefs(fixef(fit), sqrt(diag(as.matrix(vcov(fit))))), "lmer_fixed")
vc <- as.data.frame(VarCorr(fit))
write_ref(data.frame(
  quantity = c("var_intercept", "var_slope", "cov_intercept_slope", "corr_intercept_slope",
               "sigma2", "theta1", "theta2", "theta3", "REMLcrit", "n_obs", "n_groups"),
  value = c(vc$vcov[1], vc$vcov[2], vc$vcov[3], vc$sdcor[3], sigma(fit)^2,
            getME(fit, "theta"), REMLcrit(fit), nobs(fit), ngrps(fit)[["household"]])),
  "lmer_varcomp")

# maximum likelihood (REML = FALSE)
fml <- lmer(score ~ years + severity + site + (1 + years | household), data = prof, REML = FALSE)
write_ref(cbind(coefs(fixef(fml), sqrt(diag(as.matrix(vcov(fml))))), deviance = deviance(fml),
                sigma2 = sigma(fml)^2), "lmer_ml")

# ---- GEE, exchangeable working correlation, robust (sandwich) SEs ----
gee <- geeglm(score ~ years + severity + site, id = household, data = prof, family = gaussian,
              corstr = "exchangeable", std.err = "san.se")
sg <- summary(gee)
write_ref(coefs(coef(gee), sg$coefficients[, "Std.err"]), "geeglm")
write_ref(data.frame(quantity = c("alpha", "scale"),
                     value = c(sg$corr$Estimate[1], sg$dispersion$Estimate[1])), "geeglm_params")

# ---- count models on the quarterly series ----
q <- read.csv(file.path(inp, "quarterly.csv"), stringsAsFactors = FALSE)
q$site <- factor(q$site)
pois <- glm(measures ~ quarter + site, offset = log(person_years), family = poisson, data = q)
write_ref(coefs(coef(pois), sqrt(diag(vcov(pois)))), "poisson")

# reports about households per person-year of involvement: overdispersed (legal measures
# per site and quarter are not, and glm.nb's theta then runs off to infinity)
lg <- glm(cbind(registrations_without_children, registrations - registrations_without_children) ~
            quarter + site, family = binomial, data = q[q$registrations > 0, ])
write_ref(coefs(coef(lg), sqrt(diag(vcov(lg)))), "logistic")

nb <- glm.nb(referrals ~ quarter + site + offset(log(person_years)), data = q)
write_ref(coefs(coef(nb), sqrt(diag(vcov(nb)))), "negbin")
write_ref(data.frame(quantity = c("theta", "theta_se", "twologlik"),
                     value = c(nb$theta, nb$SE.theta, nb$twologlik)), "negbin_theta")

# ---- segmented regression (ITS), quasi-Poisson, change 2024-07-01 (quarter 7) ----
tot <- aggregate(cbind(measures, person_years, registrations) ~ quarter, data = q, FUN = sum)
tot <- tot[order(tot$quarter), ]
tot$time <- tot$quarter - min(tot$quarter)
tot$post <- as.integer(tot$quarter >= 7)
tot$tsc <- ifelse(tot$post == 1, tot$time - min(tot$time[tot$post == 1]), 0)
its <- glm(measures ~ time + post + tsc, offset = log(person_years), family = quasipoisson, data = tot)
est <- coef(its)
names(est) <- c("Intercept", "time", "level_change", "slope_change")
se <- sqrt(diag(vcov(its)))
write_ref(cbind(coefs(est, se), dispersion = summary(its)$dispersion), "segmented")

# with quarter-of-year indicators for season
tot$season <- factor((tot$quarter - 1) %% 4 + 1)
its_s <- glm(measures ~ time + post + tsc + season, offset = log(person_years),
             family = quasipoisson, data = tot)
est <- coef(its_s)
names(est) <- c("Intercept", "time", "level_change", "slope_change", "season_Q2", "season_Q3", "season_Q4")
write_ref(cbind(coefs(est, sqrt(diag(vcov(its_s)))), dispersion = summary(its_s)$dispersion),
          "segmented_seasonal")

# ---- percent change: log-linear, with and without a joinpoint at quarter 6 ----
pos <- tot[tot$registrations > 0, ]
l1 <- lm(log(registrations) ~ quarter, data = pos)
b <- coef(l1)[["quarter"]]; s <- sqrt(vcov(l1)["quarter", "quarter"]); d <- df.residual(l1)
apc <- data.frame(measure = "APC", slope = b, slope_se = s,
                  percent_change = 100 * (exp(b) - 1),
                  ci_lower = 100 * (exp(b - qt(0.975, d) * s) - 1),
                  ci_upper = 100 * (exp(b + qt(0.975, d) * s) - 1))
pos$h <- pmax(pos$quarter - 6, 0)
l2 <- lm(log(registrations) ~ quarter + h, data = pos)
V <- vcov(l2); cf <- coef(l2); d2 <- df.residual(l2)
lo <- min(pos$quarter); hi <- max(pos$quarter)
w <- c(6 - lo, hi - 6) / (hi - lo)
cc <- c(0, 1, w[2])  # AAPC contrast: slope1 + w2 * hinge
bb <- sum(cc * cf); ss <- sqrt(drop(t(cc) %*% V %*% cc))
seg2 <- cf[["quarter"]] + cf[["h"]]; seg2se <- sqrt(drop(t(c(0, 1, 1)) %*% V %*% c(0, 1, 1)))
jp <- data.frame(measure = c("APC1", "APC2", "AAPC"),
                 slope = c(cf[["quarter"]], seg2, bb),
                 slope_se = c(sqrt(V["quarter", "quarter"]), seg2se, ss))
jp$percent_change <- 100 * (exp(jp$slope) - 1)
jp$ci_lower <- 100 * (exp(jp$slope - qt(0.975, d2) * jp$slope_se) - 1)
jp$ci_upper <- 100 * (exp(jp$slope + qt(0.975, d2) * jp$slope_se) - 1)
write_ref(rbind(apc, jp), "percent_change")

# ---- intervals: exact Poisson rates, Wilson and Clopper-Pearson proportions ----
ci <- cipoisson(q$measures, q$person_years)
write_ref(data.frame(site = q$site, quarter = q$quarter, lower = ci[, 1], upper = ci[, 2]),
          "cipoisson")
pr <- q[q$registrations > 0, ]
wil <- t(mapply(function(x, n) prop.test(x, n, correct = FALSE)$conf.int,
                pr$registrations_without_children, pr$registrations))
cp <- t(mapply(function(x, n) binom.test(x, n)$conf.int,
               pr$registrations_without_children, pr$registrations))
write_ref(data.frame(site = pr$site, quarter = pr$quarter, wilson_lower = wil[, 1],
                     wilson_upper = wil[, 2], cp_lower = cp[, 1], cp_upper = cp[, 2]),
          "proportions")

# ---- change from T0 (paired t, complete case), professional scores ----
one <- prof[order(prof$household, prof$episode, prof$wave, prof$assessment_date), ]
one <- one[!duplicated(one[, c("household", "episode", "wave")], fromLast = TRUE), ]
base <- one[one$wave == "T0", c("household", "episode", "score")]
res <- NULL
for (w in sort(setdiff(unique(one$wave), "T0"))) {
  later <- one[one$wave == w, c("household", "episode", "score")]
  m <- merge(later, base, by = c("household", "episode"), suffixes = c("", "_base"))
  tt <- t.test(m$score, m$score_base, paired = TRUE)
  res <- rbind(res, data.frame(wave = w, n_pairs = nrow(m), mean_change = unname(tt$estimate),
                               ci_lower = tt$conf.int[1], ci_upper = tt$conf.int[2],
                               p = tt$p.value))
}
write_ref(res, "change_from_baseline")

# ---- agreement professional vs parent per wave: Bland-Altman mean difference, Pearson ----
latest <- function(d) {
  d <- d[order(d$household, d$episode, d$wave, d$assessment_date), ]
  d[!duplicated(d[, c("household", "episode", "wave")], fromLast = TRUE),
    c("household", "episode", "wave", "score")]
}
pa <- merge(latest(safety[safety$respondent == "professional", ]),
            latest(safety[safety$respondent == "parent", ]),
            by = c("household", "episode", "wave"), suffixes = c("_a", "_b"))
ag <- NULL
for (w in sort(unique(pa$wave))) {
  m <- pa[pa$wave == w, ]
  d <- m$score_a - m$score_b
  tt <- t.test(d)
  ct <- cor.test(m$score_a, m$score_b)
  ag <- rbind(ag, data.frame(wave = w, n_pairs = nrow(m), mean_difference = mean(d),
                             md_ci_lower = tt$conf.int[1], md_ci_upper = tt$conf.int[2],
                             sd_difference = sd(d), pearson_r = unname(ct$estimate),
                             r_ci_lower = ct$conf.int[1], r_ci_upper = ct$conf.int[2]))
}
write_ref(ag, "agreement")

writeLines(c(R.version.string,
             paste("lme4", packageVersion("lme4")), paste("MASS", packageVersion("MASS")),
             paste("geepack", packageVersion("geepack")),
             paste("survival", packageVersion("survival"))),
           file.path(out, "versions.txt"))
