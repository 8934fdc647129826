"""Deliveries: read, type, guard against identifiers, validate, pseudonymise and load.

A delivery is a folder of tables (CSV, Parquet or Excel) from the pilot sites. Every row
read is accepted or set aside with the rule it broke (``validate``); identifiers never get
through (``identifiers``); ``load`` returns a :class:`~cohort.delivery.load.Delivery`.
"""
