"""Reports: parameter sets, the notebook API, running the notebooks, building the report.
"""
