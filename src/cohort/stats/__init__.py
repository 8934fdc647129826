"""Estimators and intervals, one module per estimator on a shared base.

======================  ==============================================================
module                  what it holds
======================  ==============================================================
``base``                :class:`~cohort.stats.base.Estimator`, ``RegressionModel``,
                        ``HypothesisTest``, ``wald_table``, ``newton_raphson``,
                        ``term_support``, ``check_alpha``, ``ConvergenceWarning``,
                        ``StatisticalWarning``, ``fit_by_group``
``design``              the one design-matrix builder (R or patsy names), log offsets
``intervals``           curve transforms, proportion (``proportion_ci``), Poisson intervals
``kaplan_meier``        ``KaplanMeier``
``logrank``             ``LogRankTest`` (``logrank_test``)
``aalen_johansen``      ``AalenJohansen`` (competing risks)
``cox``                 ``CoxPH``
``cox_zph``             ``ProportionalHazardsTest`` (``cox_zph``)
``fine_gray``           ``FineGray``
``mcf``                 ``MeanCumulativeFunction`` (``mean_cumulative_function``)
``mixed``               ``MixedModel``, ``fitted_mean_trajectory``
``gee``                 ``GEE``
``poisson``             ``PoissonModel`` (and quasi-Poisson)
``negative_binomial``   ``NegativeBinomialModel``
``logistic``            ``LogisticModel``
``segmented``           ``SegmentedRegression`` (interrupted time series)
``percent_change``      ``percent_change`` (APC, AAPC)
``safety``              descriptive safety tables (by wave, change from T0, agreement)
======================  ==============================================================

Adding an estimator: subclass :class:`~cohort.stats.base.RegressionModel` (or
``Estimator`` for a curve, ``HypothesisTest`` for a test); check options in ``__init__``
(``super().__init__(alpha)``); in ``fit`` check columns (``_check_columns``), build the
design with :func:`~cohort.stats.design.design_matrix`, maximise with
:func:`~cohort.stats.base.newton_raphson` when the likelihood is concave, and set
``params_``, ``variance_matrix_``, ``converged_``, ``n_iter_``, ``n_`` and
``term_support_``; add what ``describe()`` must say for the methods text; test it against
R in ``tests/unit/test_<module>.py``.
"""
