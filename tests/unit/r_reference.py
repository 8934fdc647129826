"""Reading the R reference fixtures and comparing with them (shared by the stats tests).

``tests/fixtures/survival`` holds inputs and ``r/`` the outputs of ``r/survival_reference.R``
(survival 3.5-3, cmprsk); ``tests/fixtures/trends`` those of ``r/trends_reference.R``.
Coefficients and standard errors agree to a relative 1e-6; survival, incidence and
confidence limits to an absolute 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SURVIVAL = FIXTURES / "survival"
TRENDS = FIXTURES / "trends"
ABS = 1e-6
REL = 1e-6


def survival_input(name: str) -> pd.DataFrame:
    return pd.read_csv(SURVIVAL / name)


def survival_ref(name: str) -> pd.DataFrame:
    ref = pd.read_csv(SURVIVAL / "r" / name, keep_default_na=True, na_values=["NA"])
    return ref.fillna({"group": ""})


def trends_ref(name: str) -> pd.DataFrame:
    return pd.read_csv(TRENDS / "r" / f"{name}.csv")


def close(actual, expected, atol=0.0, rtol=0.0):
    """Equal shape, NaN in the same places, and allclose elsewhere."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(actual[ok], expected[ok], atol=atol, rtol=rtol)


def r_names(terms):
    """Our patsy names (``site[T.AMS]``, ``Intercept``) as R names them."""
    return ["(Intercept)" if t == "Intercept" else t.replace("[T.", "").replace("]", "")
            for t in terms]
