"""UTCI (Universal Thermal Climate Index) and its heat-stress classes.

UTCI from air temperature, mean radiant temperature, wind speed at 10 m and relative
humidity by the operational polynomial of Broede et al. (2012, Int. J. Biometeorol. 56:
481-494), as implemented by ``pythermalcomfort.models.utci``. The polynomial is valid
for wind 0.5-17 m/s and Tmrt - Ta between -30 and 70 K; wind is clipped to its range,
other values outside it give NaN (pythermalcomfort's ``limit_inputs``).

Assessment classes (Broede et al. 2012, Table 1; degC):
> 46 extreme heat stress, 38-46 very strong, 32-38 strong, 26-32 moderate heat stress,
9-26 no thermal stress, 0-9 slight cold stress, -13-0 moderate, -27--13 strong,
-40--27 very strong, < -40 extreme cold stress.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["UTCI_CLASSES", "stress_class", "utci"]

F64 = npt.NDArray[np.float64]

#: (lower bound degC or None, label) from the coldest class to the hottest.
UTCI_CLASSES: tuple[tuple[float | None, str], ...] = (
    (None, "extreme cold stress"),
    (-40.0, "very strong cold stress"),
    (-27.0, "strong cold stress"),
    (-13.0, "moderate cold stress"),
    (0.0, "slight cold stress"),
    (9.0, "no thermal stress"),
    (26.0, "moderate heat stress"),
    (32.0, "strong heat stress"),
    (38.0, "very strong heat stress"),
    (46.0, "extreme heat stress"),
)


def utci(ta_c: Any, tmrt_c: Any, wind_10m: Any, rh: Any) -> F64:
    """UTCI, degC (arrays broadcast together; NaN where the polynomial is not valid)."""
    from pythermalcomfort.models import utci as _utci

    ta, tr, v, h = np.broadcast_arrays(
        np.asarray(ta_c, dtype=np.float64),
        np.asarray(tmrt_c, dtype=np.float64),
        np.clip(np.asarray(wind_10m, dtype=np.float64), 0.5, 17.0),
        np.asarray(rh, dtype=np.float64),
    )
    shape = ta.shape
    ok = np.isfinite(ta) & np.isfinite(tr) & np.isfinite(h)
    out = np.full(shape, np.nan)
    if ok.any():
        res = _utci(tdb=ta[ok], tr=tr[ok], v=v[ok], rh=h[ok], limit_inputs=True, round_output=False)
        out[ok] = np.asarray(res.utci, dtype=np.float64)
    return out


def stress_class(value: float) -> str:
    """The heat-stress class of a UTCI value (Broede et al. 2012, Table 1)."""
    label = UTCI_CLASSES[0][1]
    for lower, name in UTCI_CLASSES[1:]:
        assert lower is not None
        if value >= lower:
            label = name
    return label
