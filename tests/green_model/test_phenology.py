"""Phenology against the published means (MODELS.md: Ahas et al. 2000; southern Finland)."""

from __future__ import annotations

import datetime as dt

import pytest
from greentwin.green_model import Climate, SpeciesLibrary, leaf_phase_at, phenology_year

LIB = SpeciesLibrary.default()


def doy(month: int, day: int) -> int:
    return dt.date(2021, month, day).timetuple().tm_yday


@pytest.mark.parametrize("city", ["Helsinki", "Tallinn"])
def test_leaf_out_within_published_ranges(city: str) -> None:
    clim = Climate.for_city(city)
    birch = phenology_year(LIB["Betula pendula"], clim).bud_burst
    oak = phenology_year(LIB["Quercus robur"], clim).bud_burst
    # Türi 1948-95: birch 10 May (22 Apr - 6 Jun), oak 22 May (6 May - 14 Jun)
    assert doy(4, 22) <= birch <= doy(6, 6)
    assert doy(5, 6) <= oak <= doy(6, 14)
    assert abs(birch - doy(5, 10)) <= 7
    assert abs(oak - doy(5, 22)) <= 7
    assert birch < oak


def test_helsinki_autumn() -> None:
    clim = Climate.for_city("Helsinki")
    for key in ("betula_pendula", "tilia_cordata", "acer_platanoides", "populus"):
        ph = phenology_year(LIB[key], clim)
        # colouring peaks (full colour at leaf-fall start) in weeks 39-41
        week = dt.date(2021, 1, 1) + dt.timedelta(days=ph.fall_start - 1)
        assert 39 <= week.isocalendar()[1] <= 41, key
        # leaf fall over by about 31 October
        assert ph.fall_end <= doy(11, 3), key


def test_warm_anomaly_shifts_dates() -> None:
    base = phenology_year(LIB["Betula pendula"], Climate.for_city("Tallinn"))
    warm = phenology_year(LIB["Betula pendula"], Climate.for_city("Tallinn", anomaly_c=2.0))
    assert warm.bud_burst < base.bud_burst - 3
    assert warm.fall_end == pytest.approx(base.fall_end + 2.0)
    berlin = phenology_year(LIB["Betula pendula"], Climate.for_city("Berlin"))
    assert berlin.bud_burst < base.bud_burst


def test_phases_and_colours_through_the_year() -> None:
    sp = LIB["Acer platanoides"]
    clim = Climate.for_city("Helsinki")
    seen = [leaf_phase_at(sp, clim, dt.date(2021, m, 15))[0] for m in range(1, 13)]
    assert seen[0] == "bare" and seen[6] == "full_leaf" and seen[11] == "bare"
    assert {"bud_burst", "autumn_colour"} <= {
        leaf_phase_at(sp, clim, dt.date(2021, 1, 1) + dt.timedelta(days=d))[0] for d in range(365)
    }
    _, frac, colour = leaf_phase_at(sp, clim, dt.date(2021, 10, 10))
    assert colour[0] > colour[1] * 0.9  # autumn yellow/orange, no longer green
    phase, frac, _ = leaf_phase_at(sp, clim, dt.date(2021, 1, 15))
    assert phase == "bare" and frac == 0.0


def test_evergreens_stay_green() -> None:
    for key in ("picea_abies", "pinus_sylvestris"):
        phase, frac, colour = leaf_phase_at(
            LIB[key], Climate.for_city("Helsinki"), dt.date(2021, 1, 15)
        )
        assert phase == "full_leaf" and frac == 1.0
        assert colour == LIB[key].colours["summer"]


def test_unknown_city() -> None:
    from greentwin.core import GreenModelError

    with pytest.raises(GreenModelError, match="Helsinki"):
        Climate.for_city("Atlantis")
