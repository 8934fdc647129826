"""The quarterly monitor: indicators, measures over quarters and groups, headline figures.

Nothing here applies disclosure control: the monitor counts, :mod:`cohort.disclosure` releases.
"""
