"""Colour scales of the heat overlays: UTCI classes of Broede et al. (2012, Table 1)."""

from __future__ import annotations

import numpy as np
from greentwin.kernels.heat.utci import UTCI_CLASSES
from greentwin.tiles.colormaps import difference_scale, get_scale


def test_utci_legend_uses_the_heat_stress_limits() -> None:
    scale = get_scale("utci")
    # the heat side of Table 1: 9, 26, 32, 38, 46 degC; below 9 one "cold stress" class
    heat_limits = [lo for lo, _ in UTCI_CLASSES if lo is not None and lo >= 9.0]
    assert list(scale.edges) == heat_limits == [9.0, 26.0, 32.0, 38.0, 46.0]
    idx = scale.classify(np.array([5.0, 20.0, 30.0, 35.0, 40.0, 50.0, np.nan]))
    assert idx.tolist() == [0, 1, 2, 3, 4, 5, -1]
    labels = [c["label"] for c in scale.legend()["classes"]]
    assert "strong heat stress" in labels[3] and "extreme" in labels[5]


def test_more_shade_is_drawn_as_better() -> None:
    shade = get_scale("diff_shade_hours")
    noise = get_scale("diff_lden")
    # blue (b > r) for a gain in shade hours, red for a gain in noise
    gain = shade.colorize(np.array([3.0]))[0]
    louder = noise.colorize(np.array([3.0]))[0]
    assert gain[2] > gain[0] and louder[0] > louder[2]
    assert difference_scale("x", "h", (1.0,), higher_is_better=True).note.startswith(
        "blue = higher"
    )
    for name in ("tmrt", "shade_hours", "diff_utci", "diff_tmrt"):
        assert get_scale(name).legend()["classes"]
