"""Equation forms of the Urban Tree Database against values computed by hand.

Expected values are written out from the published TS6 coefficients with the TS4 /
corrected Table 3 formulas in scalar ``math`` (not the library's vectorised code),
and where the database lists "Apps min/max" predictions those are checked too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from greentwin.core import GreenModelError
from greentwin.green_model.allometry import EQUATION_FORMS, Curve, Relation, evaluate


def _ll(x: float) -> float:
    return math.log(math.log(x + 1.0))


# (form, coefficients (a, b, c, d), x, expected, source row)
CASES = [
    # InlVal Fraxinus excelsior 'Hessei' age -> dbh, age 20: 3.06926 + 1.12052 * 20
    ("lin", (3.06926, 1.12052, 0.0, 0.0), 20.0, 25.47966),
    # PacfNW Betula pendula age -> dbh, age 10: -0.91466 + 21.1608 - 2.273
    ("quad", (-0.91466, 2.11608, -0.02273, 0.0), 10.0, 17.97314),
    # MidWst Acer platanoides age -> dbh, age 50 (Apps max 93.26 cm)
    ("cub", (-7.94613, 3.80588, -0.09314, 0.00115), 50.0, 93.24787),
    # MidWst Acer platanoides dbh -> height at dbh 93.26 (Apps max 18.72 m)
    (
        "loglogw1",
        (0.22989, 1.78058, 0.01837, 0.0),
        93.26,
        math.exp(0.22989 + 1.78058 * math.log(math.log(94.26) + 0.01837 / 2)),
    ),
    # MidWst Tilia cordata dbh -> height at dbh 66.18 (Apps max 19.05 m)
    (
        "loglogw2",
        (0.11385, 1.96057, 0.004, 0.0),
        66.18,
        math.exp(0.11385 + 1.96057 * _ll(66.18) + math.sqrt(66.18) * 0.004 / 2),
    ),
    # CenFla Pinus elliottii dbh -> crown diameter at dbh 30
    (
        "loglogw3",
        (-1.20695, 2.52258, 0.00112, 0.0),
        30.0,
        math.exp(-1.20695 + 2.52258 * _ll(30.0) + 30.0 * 0.00112 / 2),
    ),
    # LoMidW Populus deltoides dbh -> age at dbh 40
    (
        "loglogw4",
        (0.20063, 2.38362, 0.00004, 0.0),
        40.0,
        math.exp(0.20063 + 2.38362 * _ll(40.0) + 40.0**2 * 0.00004 / 2),
    ),
    # InlEmp Eucalyptus sideroxylon dbh -> height at dbh 30
    ("expow1", (1.78929, 0.01692, 0.05577, 0.0), 30.0, math.exp(1.78929 + 0.5076 + 0.05577 / 2)),
    # NMtnPr Pinus ponderosa dbh -> crown height at dbh 25
    (
        "expow2",
        (0.73593, 0.03772, 0.01422, 0.0),
        25.0,
        math.exp(0.73593 + 0.03772 * 25 + 5.0 * 0.01422 / 2),
    ),
    # TpIntW Malus spp. age -> dbh at age 12
    (
        "expow3",
        (1.21063, 0.26692, 0.01147, 0.0),
        12.0,
        math.exp(1.21063 + 0.26692 * 12 + 12 * 0.01147 / 2),
    ),
    # InlVal Pinus thunbergiana dbh -> height at dbh 30
    (
        "expow4",
        (0.26305, 0.05754, 0.00007, 0.0),
        30.0,
        math.exp(0.26305 + 0.05754 * 30 + 900 * 0.00007 / 2),
    ),
]


@pytest.mark.parametrize(("form", "coef", "x", "expected"), CASES, ids=[c[0] for c in CASES])
def test_equation_form(form: str, coef: tuple[float, ...], x: float, expected: float) -> None:
    got = float(evaluate(form, np.array([x]), *coef)[0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_every_form_is_covered() -> None:
    assert {c[0] for c in CASES} | {"quart"} == set(EQUATION_FORMS)
    # quart: a + b x + c x^2 + d x^3 + e x^4
    assert float(evaluate("quart", np.array([2.0]), 1, 2, 3, 4, 5)[0]) == 1 + 4 + 12 + 32 + 80


def test_published_application_ranges() -> None:
    """The database's own Apps min/max follow from the forms as printed."""
    assert CASES[2][3] == pytest.approx(93.26, abs=0.02)  # ACPL age->dbh, age 50
    assert CASES[3][3] == pytest.approx(18.72, abs=0.005)  # ACPL dbh->height, dbh 93.26
    assert CASES[4][3] == pytest.approx(19.05, abs=0.005)  # TICO dbh->height, dbh 66.18
    low = float(evaluate("loglogw2", np.array([3.31]), 0.11385, 1.96057, 0.004)[0])
    assert low == pytest.approx(2.37, abs=0.01)  # TICO dbh->height Apps min at dbh 3.31


def test_errata_multiplier_not_addition() -> None:
    """loglogw2..4 / expow2..4 multiply mse/2 by the weight (errata to Table 3)."""
    x = 16.0
    got = float(evaluate("expow2", np.array([x]), 1.0, 0.1, 0.2)[0])
    assert got == pytest.approx(math.exp(1.0 + 1.6 + 4.0 * 0.1))
    assert got != pytest.approx(math.exp(1.0 + 1.6 + 4.0 + 0.1))


def test_unknown_form() -> None:
    with pytest.raises(GreenModelError):
        evaluate("poly7", np.array([1.0]), 1.0, 1.0)


def test_curve_clamps_and_is_monotone() -> None:
    # TICO age->dbh cub turns down before age 30: the curve must not
    rel = Relation("cub", (3.31492, 1.20157, 0.13063, -0.00336, 0.0), 1.0, 30.0)
    raw = rel(np.linspace(1, 30, 300))
    assert np.any(np.diff(raw) < 0)
    curve = Curve(rel)
    y = curve(np.linspace(-10, 200, 1000))
    assert np.all(np.diff(y) >= 0)
    assert y[0] == pytest.approx(float(rel(np.array([1.0]))[0]))
    assert y[-1] == pytest.approx(curve.y_max)


def test_curve_inverse_round_trip() -> None:
    rel = Relation("loglogw1", (0.22989, 1.78058, 0.01837, 0.0, 0.0), 2.66, 93.26)
    curve = Curve(rel)
    x = np.linspace(3.0, 90.0, 50)
    assert np.allclose(curve.inverse(curve(x)), x, atol=0.05)
    assert curve.inverse(np.array([1000.0]))[0] == pytest.approx(93.26)
    assert curve.inverse(np.array([0.0]))[0] == pytest.approx(2.66)
