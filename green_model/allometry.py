"""USDA Urban Tree Database equation forms and monotone, clamped growth curves.

Source: McPherson, van Doorn & Peper (2016), *Urban tree database and allometric
equations*, Gen. Tech. Rep. PSW-GTR-253, Table 3 (equation forms, also the data set's
TS4) with the January 2020 errata: the weighted forms loglogw2..4 and expow2..4
*multiply* the bias correction ``mse / 2`` by ``sqrt(x)``, ``x`` or ``x^2`` instead of
adding it. For the coefficients (TS6) ``c`` holds the mean squared error (``mse``) of
the log-log and exp forms; ``d`` is unused by them.

``loglogw1`` is evaluated exactly as printed in TS4 and the corrected Table 3,
``exp(a + b ln(ln(x + 1) + mse / 2))``: this reproduces the database's own
"Apps min"/"Apps max" columns (e.g. MidWst *Acer platanoides* dbh -> height,
dbh 2.66 .. 93.26 cm -> 2.03 .. 18.72 m), whereas moving ``mse / 2`` out of the inner
logarithm does not (18.83 m).

The fitted relations are polynomials or exponentials that may turn down or explode
outside their data; :class:`Curve` clamps the input to the fitted range, tabulates
the relation, and enforces monotone growth with a running maximum, which also makes
it invertible (survey height or crown diameter -> dbh -> age).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from greentwin.core import GreenModelError

__all__ = ["EQUATION_FORMS", "Curve", "EquationForm", "Relation", "evaluate"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

EquationForm = Literal[
    "lin",
    "quad",
    "cub",
    "quart",
    "loglogw1",
    "loglogw2",
    "loglogw3",
    "loglogw4",
    "expow1",
    "expow2",
    "expow3",
    "expow4",
]
EQUATION_FORMS: tuple[str, ...] = get_args(EquationForm)

#: Smallest input of the log-log forms (ln(ln(x + 1)) diverges at x = 0).
_X_EPS = 1e-6


def _weight(form: str, x: F64) -> F64 | float:
    """The multiplier of ``mse / 2`` in the weighted forms (errata to Table 3)."""
    tail = form[-1]
    if tail == "2":
        return np.sqrt(x)
    if tail == "3":
        return x
    if tail == "4":
        return x * x
    return 1.0


def evaluate(
    form: str,
    x: npt.ArrayLike,
    a: float,
    b: float,
    c: float = 0.0,
    d: float = 0.0,
    e: float = 0.0,
) -> F64:
    """Evaluate one Urban Tree Database equation form (GTR-253 Table 3 + errata).

    Parameters
    ----------
    form : one of :data:`EQUATION_FORMS`.
    x : (n,) float, the independent variable (age in years, dbh in cm or crown
        diameter in m), unclamped.
    a, b, c, d, e : coefficients from TS6; for ``loglogw*`` and ``expow*`` ``c`` is the
        mean squared error ``mse`` of the fit.

    Returns
    -------
    (n,) float64 prediction in the predicted variable's units (cm, m, m^2 or years).

    Notes
    -----
    - lin: ``a + b x``; quad: ``+ c x^2``; cub: ``+ d x^3``; quart: ``+ e x^4``
    - loglogw1: ``exp(a + b ln(ln(x + 1) + mse/2))``
    - loglogw2..4: ``exp(a + b ln(ln(x + 1)) + w(x) mse/2)``, ``w = sqrt(x), x, x^2``
    - expow1: ``exp(a + b x + mse/2)``; expow2..4: ``exp(a + b x + w(x) mse/2)``
    """
    xv = np.asarray(x, dtype=np.float64)
    if form == "lin":
        return a + b * xv
    if form == "quad":
        return a + xv * (b + c * xv)
    if form == "cub":
        return a + xv * (b + xv * (c + d * xv))
    if form == "quart":
        return a + xv * (b + xv * (c + xv * (d + e * xv)))
    mse = c
    if form == "loglogw1":
        xs = np.maximum(xv, 0.0)
        return np.exp(a + b * np.log(np.log(xs + 1.0) + mse / 2.0))
    if form in ("loglogw2", "loglogw3", "loglogw4"):
        xs = np.maximum(xv, _X_EPS)
        return np.exp(a + b * np.log(np.log(xs + 1.0)) + _weight(form, xs) * mse / 2.0)
    if form == "expow1":
        return np.exp(a + b * xv + mse / 2.0)
    if form in ("expow2", "expow3", "expow4"):
        xs = np.maximum(xv, 0.0)
        return np.exp(a + b * xs + _weight(form, xs) * mse / 2.0)
    raise GreenModelError(f"unknown equation form {form!r}; expected one of {EQUATION_FORMS}")


@dataclass(frozen=True, slots=True)
class Relation:
    """One fitted relation of the Urban Tree Database (a TS6 row).

    Attributes
    ----------
    form : equation form (TS4 name).
    coef : (a, b, c, d, e).
    x_min, x_max : the input range the relation is applied over (clamped to it).
    """

    form: str
    coef: tuple[float, float, float, float, float]
    x_min: float
    x_max: float

    def __call__(self, x: npt.ArrayLike) -> F64:
        """Evaluate with the input clamped to ``[x_min, x_max]``; shape as ``x``."""
        xc = np.clip(np.asarray(x, dtype=np.float64), self.x_min, self.x_max)
        return evaluate(self.form, xc, *self.coef)


class Curve:
    """A relation tabulated on its clamped range, made monotone non-decreasing.

    Evaluation and inversion are piecewise linear on ``n`` knots (``np.interp``), so
    whole arrays of trees are evaluated at once.

    Parameters
    ----------
    relation : the fitted relation.
    n : number of knots (default 513).
    floor : lower bound of the output (e.g. 0 for sizes).
    y_range : (min, max) of the predicted variable over the fitted range (TS6 "Apps
        min"/"Apps max"); predictions are clamped to it, since some polynomials leave
        the published range inside their input range.
    """

    __slots__ = ("relation", "x", "y")

    def __init__(
        self,
        relation: Relation,
        n: int = 513,
        floor: float = 0.0,
        y_range: tuple[float, float] | None = None,
    ) -> None:
        if not relation.x_max > relation.x_min:
            raise GreenModelError(f"empty fitted range [{relation.x_min}, {relation.x_max}]")
        self.relation = relation
        self.x: F64 = np.linspace(relation.x_min, relation.x_max, n)
        y = relation(self.x)
        if y_range is not None:
            y = np.clip(y, y_range[0], y_range[1])
        y = np.maximum(y, floor)
        y = np.maximum.accumulate(np.nan_to_num(y, nan=floor))
        self.y: F64 = y

    @property
    def y_min(self) -> float:
        """Smallest output (at the lower end of the range)."""
        return float(self.y[0])

    @property
    def y_max(self) -> float:
        """Largest output (at the upper end of the range)."""
        return float(self.y[-1])

    def __call__(self, x: npt.ArrayLike) -> F64:
        """Monotone, clamped prediction; (n,) float64 like ``x``."""
        return np.interp(np.asarray(x, dtype=np.float64), self.x, self.y)

    def inverse(self, y: npt.ArrayLike) -> F64:
        """The smallest input whose prediction reaches ``y`` (clamped to the range).

        Parameters
        ----------
        y : (n,) float, values of the predicted variable.

        Returns
        -------
        (n,) float64 inputs in ``[x_min, x_max]``.
        """
        yv = np.asarray(y, dtype=np.float64)
        # plateaus (from the running maximum) map to their first knot
        idx = np.searchsorted(self.y, yv, side="left")
        idx = np.clip(idx, 1, self.x.size - 1)
        y0 = self.y[idx - 1]
        y1 = self.y[idx]
        x0 = self.x[idx - 1]
        x1 = self.x[idx]
        span = y1 - y0
        t = np.where(span > 0, (yv - y0) / np.where(span > 0, span, 1.0), 1.0)
        out = x0 + np.clip(t, 0.0, 1.0) * (x1 - x0)
        out = np.where(yv <= self.y[0], self.x[0], out)
        return np.where(yv >= self.y[-1], self.x[int(np.argmax(self.y >= self.y[-1]))], out)
