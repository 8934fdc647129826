"""Estimators that agree with R, one module each, on the shared base of :mod:`cohort.stats.base`.
"""
