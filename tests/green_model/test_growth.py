"""Growth: monotone and bounded for every species, survey inversion, events, calibration."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
from greentwin.core import GreenModelError
from greentwin.green_model import (
    Climate,
    Death,
    Plant,
    Prune,
    Remove,
    SpeciesLibrary,
    Tree,
    TreeTable,
    nursery_dbh_cm,
)
from hypothesis import given
from hypothesis import strategies as st

LIB = SpeciesLibrary.default()
REQUIRED = [
    "Tilia cordata",
    "Tilia x europaea",
    "Acer platanoides",
    "Betula pendula",
    "Quercus robur",
    "Pinus sylvestris",
    "Picea abies",
    "Sorbus aucuparia",
    "Populus",
    "Fraxinus excelsior",
    "Ulmus glabra",
    "Aesculus hippocastanum",
]


def test_library_covers_the_required_species() -> None:
    for name in REQUIRED:
        assert name in LIB, name
    assert any(sp.kind == "shrub" for sp in LIB.species.values())
    assert {"lawn", "meadow"} <= set(LIB.covers)
    for sp in LIB.species.values():
        if sp.kind != "shrub":
            assert sp.region and sp.spcode, sp.key
            assert sp.proxy == (
                sp.key
                in {"quercus_robur", "picea_abies", "sorbus_aucuparia", "populus", "ulmus_glabra"}
            )


def test_name_resolution() -> None:
    assert LIB.resolve("Linde") == "tilia_cordata"
    assert LIB.resolve("Tilia platyphyllos 'Rubra'") == "tilia_cordata"  # genus fallback
    assert LIB.resolve("Betula pubescens") == "betula_pendula"
    assert LIB.resolve_or_default("Metasequoia glyptostroboides") == LIB.default_species
    with pytest.raises(GreenModelError):
        LIB.resolve("Metasequoia glyptostroboides")
    other = SpeciesLibrary.default("acer_platanoides")
    assert other.resolve_or_default(None) == "acer_platanoides"


@given(
    key=st.sampled_from(sorted(SpeciesLibrary.default().species)),
    ages=st.lists(st.floats(0.0, 150.0), min_size=2, max_size=30),
)
def test_growth_monotone_and_bounded(key: str, ages: list[float]) -> None:
    sp = LIB.species[key]
    a = np.sort(np.array(ages))
    sz = sp.sizes(a)
    for arr, upper in (
        (sz.dbh_cm, 250.0),
        (sz.height_m, 45.0),
        (sz.crown_diameter_m, 30.0),
        (sz.crown_height_m, 45.0),
        (sz.leaf_area_m2, 5000.0),
    ):
        assert np.all(np.isfinite(arr))
        assert np.all(np.diff(arr) >= -1e-9)
        assert np.all(arr >= 0.0) and np.all(arr <= upper)
    assert np.all(sz.crown_height_m <= sz.height_m + 1e-9)


@pytest.mark.parametrize("key", sorted(SpeciesLibrary.default().species))
def test_growth_over_150_years_of_a_tree(key: str) -> None:
    tree = Tree("t", key, 0.0, 0.0, 0.0, planted=dt.date(1900, 4, 1))
    clim = Climate.for_city("Helsinki")
    heights = [tree.state_at(dt.date(1900 + y, 7, 1), clim).height_m for y in range(0, 151, 10)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(heights))
    assert heights[-1] <= 45.0


@pytest.mark.parametrize(
    "key",
    [
        k
        for k in sorted(SpeciesLibrary.default().species)
        if SpeciesLibrary.default().species[k].kind != "shrub"
    ],
)
def test_survey_inversion_round_trip(key: str) -> None:
    sp = LIB.species[key]
    ages = np.linspace(sp.min_age + 2, sp.max_age * 0.6, 5)
    sz = sp.sizes(ages)
    est = sp.age_from_survey(sz.height_m, sz.crown_diameter_m)
    back = sp.sizes(est)
    assert np.allclose(back.dbh_cm, sz.dbh_cm, rtol=0.15, atol=1.5)
    # age -> dbh -> age: the same dbh again (ages on a clamped plateau map to its start)
    assert np.allclose(sp.sizes(sp.age_from_dbh(sz.dbh_cm)).dbh_cm, sz.dbh_cm, rtol=1e-3)


def test_survey_tree_reproduces_survey_and_grows() -> None:
    d = dt.date(2014, 6, 1)
    t = Tree.from_survey(
        "b1", "Tilia", 396800.0, 5819400.0, 43.0, 9.5, 6.0, d, lib=LIB, city="Berlin"
    )
    s0 = t.state_at(d, Climate.for_city("Berlin"))
    assert s0.height_m == pytest.approx(9.5)
    assert s0.crown_diameter_m == pytest.approx(6.0)
    assert 5.0 < s0.dbh_cm < 60.0
    s1 = t.state_at(dt.date(2024, 6, 1), Climate.for_city("Berlin"))
    assert s1.height_m > s0.height_m and s1.dbh_cm > s0.dbh_cm
    table = TreeTable.from_survey(["b1"], ["Tilia"], [[396800.0, 5819400.0, 43.0]], [9.5], [6.0], d)
    s_vec = table.states(dt.date(2024, 6, 1), Climate.for_city("Berlin"))
    assert s_vec.height_m[0] == pytest.approx(s1.height_m)
    assert s_vec.dbh_cm[0] == pytest.approx(s1.dbh_cm)


def test_nordic_calibration_slows_growth() -> None:
    t = Tree("t", "Acer platanoides", 0, 0, 0, planted=dt.date(2000, 5, 1))
    d = dt.date(2020, 8, 1)
    hel = t.state_at(d, Climate.for_city("Helsinki"))
    ber = t.state_at(d, Climate.for_city("Berlin"))
    assert hel.dbh_cm < ber.dbh_cm
    f = Climate.for_city("Helsinki").growth_factor_for("MidWst")
    assert 0.4 < f < 0.9
    fixed = Climate.for_city("Helsinki", growth_factor=1.0)
    assert fixed.growth_factor_for("MidWst") == 1.0
    # growth age = calendar age x factor
    assert hel.growth_age == pytest.approx(hel.age_years * f, rel=1e-6)


def test_nursery_sizes() -> None:
    assert nursery_dbh_cm("16-18") == pytest.approx(17.0 / np.pi)
    assert nursery_dbh_cm(20.0) == pytest.approx(20.0 / np.pi)
    with pytest.raises(GreenModelError):
        nursery_dbh_cm("big")
    t = Tree("n", "Tilia", 0, 0, 0, events=(Plant(dt.date(2020, 4, 15), "18-20"),))
    s = t.state_at(dt.date(2020, 4, 15))
    assert s.present
    sp = LIB["tilia_cordata"]
    assert s.dbh_cm == pytest.approx(max(19.0 / np.pi, sp.curve("age_dbh").y_min), rel=0.02)
    assert not t.state_at(dt.date(2020, 4, 14)).present


def test_events_prune_remove_death() -> None:
    base = Tree("e", "Acer platanoides", 0, 0, 0, age_at=(dt.date(2010, 1, 1), 20.0))
    d = dt.date(2015, 7, 1)
    full = base.state_at(d)
    pruned = base.with_event(Prune(dt.date(2015, 3, 1), crown_reduction=0.3)).state_at(d)
    assert pruned.crown_diameter_m < full.crown_diameter_m
    assert pruned.leaf_area_m2 < full.leaf_area_m2
    recovered = base.with_event(Prune(dt.date(2015, 3, 1), 0.3, recovery_years=2.0))
    later = dt.date(2018, 7, 1)
    assert recovered.state_at(later).crown_diameter_m == pytest.approx(
        base.state_at(later).crown_diameter_m
    )
    dead = base.with_event(Death(dt.date(2014, 1, 1)))
    sd = dead.state_at(d)
    assert sd.present and not sd.alive and sd.leaf_area_m2 == 0.0
    assert sd.dbh_cm == pytest.approx(base.state_at(dt.date(2014, 1, 1)).dbh_cm)
    gone = base.with_event(Remove(dt.date(2015, 1, 1)))
    assert not gone.state_at(d).present
    assert gone.state_at(dt.date(2014, 12, 31)).present
    with pytest.raises(GreenModelError):
        Prune(d, crown_reduction=0.95)


def test_tree_needs_a_reference() -> None:
    with pytest.raises(GreenModelError):
        Tree("x", "Tilia", 0, 0, 0)
    with pytest.raises(GreenModelError):
        Tree("x", "Tilia", 0, 0, 0, height_m=5.0)


def test_library_grown_from_the_urban_tree_database() -> None:
    """Every TS6 broadleaf-deciduous or conifer species with all seven relations is in the
    library with its coefficients copied verbatim; the European street species map to
    their documented closest fitted species."""
    import csv
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "data" / "species"
    with open(data / "TS2_Regional_species_and_counts.csv", encoding="utf-8-sig") as fh:
        types = {r["Scientific Name"].strip(): r["Tree Type"] for r in csv.DictReader(fh)}
    wanted = {("age", "dbh"), ("dbh", "tree ht"), ("dbh", "crown dia"), ("dbh", "crown ht")}
    wanted |= {("dbh", "leaf area"), ("dbh", "age"), ("cdia", "dbh")}
    have: dict[tuple[str, str], set[tuple[str, str]]] = {}
    rows: dict[tuple[str, str, str, str], dict[str, str]] = {}
    with open(data / "TS6_Growth_coefficients.csv", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            rel = (r["Independent variable"].strip(), r["Predicts component "].strip())
            key = (r["Scientific Name"].strip(), r["Region"].strip())
            have.setdefault(key, set()).add(rel)
            rows[(*key, *rel)] = r
    from greentwin.green_model.climate import REGION_NORMALS

    fitted = {
        name
        for (name, region), rels in have.items()
        if region in REGION_NORMALS
        if wanted <= rels and types.get(name, "")[:2] in ("BD", "CE", "CD", "CS", "CL", "CM")
    }
    scientific = {LIB[k].scientific_name for k in LIB.keys}
    assert fitted <= scientific, sorted(fitted - scientific)
    assert len(LIB.keys) > 60
    assert all(LIB[k].region in REGION_NORMALS for k in LIB.keys if LIB[k].kind != "shrub")
    plane = LIB["platanus_x_acerifolia"]
    r = rows[("Platanus x acerifolia", plane.region, "dbh", "tree ht")]
    rel = plane.raw["relations"]["dbh_height"]
    assert rel["form"] == r["EqName"].strip()
    assert rel["coef"][:2] == [float(r["a"]), float(r["b"])]
    for name, key in (
        ("Platanus x hispanica", "platanus_x_acerifolia"),
        ("Sophora japonica", "robinia_pseudoacacia"),
        ("Styphnolobium japonicum", "robinia_pseudoacacia"),
        ("Tilia x vulgaris", "tilia_cordata"),
        ("Sorbus intermedia", "sorbus_aucuparia"),
    ):
        assert LIB.match(name) == (key, "name"), name
        assert name in LIB[key].raw["european_proxies"]
    assert LIB.match("Tilia cordata 'Greenspire'") == ("tilia_cordata", "name")
    assert LIB.match("Magnolia kobus") == (None, "none")  # Magnolia: only an evergreen
    assert LIB.match("Fraxinus ornus") == ("fraxinus_excelsior", "genus")
