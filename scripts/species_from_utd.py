"""Grow the species library from the USDA Urban Tree Database (data/species/).

Usage: ``python scripts/species_from_utd.py`` rewrites ``green_model/species.json``: the
hand-curated entries stay first and unchanged (except for the European aliases below);
every other broadleaf-deciduous and conifer species of TS6 with all seven growth relations
is appended, from the region where it was measured on the most trees (TS6 ``n``) among
the regions whose reference-city climate the library holds (``REGION_NORMALS``: the Nordic
growth calibration needs it; species measured only elsewhere are left out). Run it
again after changing the data or the mapping; it is deterministic.

- Growth: TS6 coefficients copied verbatim (form, a-e, application range, n, adj. R2).
- Kind: TS2 tree type (``BD*`` broadleaf deciduous, ``C*`` conifer); broadleaf evergreens
  and palms are left out (the library's phenology drops leaves in autumn; none of them is
  a street tree of Nordic or Central European cities).
- Biomass: TS9 names each species' wood density and matched equation species; the TS7
  (urban) volume equation ``a dbh^b ht^c`` of that species, else of "Urb Gen Broadleaf" /
  "Urb Gen Conifer" (McPherson et al. 2016, section on biomass).
- Looks (colours, crown form, leaf-out): the curated entry of the same genus, else of the
  same kind (Tilia cordata, Pinus sylvestris); marked ``looks_from`` in the source.
- European street species without a fitted curve map to the closest fitted species
  (:data:`EUROPEAN`, each with the reason); the names become aliases of that species.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from greentwin.green_model.climate import REGION_NORMALS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "species"
LIBRARY = ROOT / "green_model" / "species.json"
DATABASE = "McPherson, van Doorn & Peper 2016, Urban Tree Database (RDS-2016-0005, Jan 2020)"

#: TS6 (independent variable, predicted component) -> library relation name.
RELATIONS = {
    ("age", "dbh"): "age_dbh",
    ("dbh", "tree ht"): "dbh_height",
    ("dbh", "crown dia"): "dbh_crown_diameter",
    ("dbh", "crown ht"): "dbh_crown_height",
    ("dbh", "leaf area"): "dbh_leaf_area",
    ("dbh", "age"): "dbh_age",
    ("cdia", "dbh"): "cdia_dbh",
}

#: European street species -> (library key of the closest fitted species, why). The
#: reasons name family and form; they are modelling choices, documented in
#: docs/green_model.md.
EUROPEAN: dict[str, tuple[str, str]] = {
    "Platanus x hispanica": (
        "platanus_x_acerifolia",
        "the same hybrid (P. x hispanica = P. x acerifolia, London plane)",
    ),
    "Platanus hybrida": ("platanus_x_acerifolia", "a synonym of P. x acerifolia"),
    "Platanus orientalis": ("platanus_x_acerifolia", "a parent of the hybrid, same form"),
    "Platanus": ("platanus_x_acerifolia", "the plane of European streets is the hybrid"),
    "Styphnolobium japonicum": (
        "robinia_pseudoacacia",
        "Fabaceae with pinnate leaves and a rounded crown of the same size",
    ),
    "Sophora japonica": ("robinia_pseudoacacia", "synonym of Styphnolobium japonicum"),
    "Tilia x vulgaris": ("tilia_cordata", "a hybrid of T. cordata (T. x europaea)"),
    "Tilia tomentosa": ("tilia_tomentosa", "fitted in the database"),
    "Sorbus intermedia": (
        "sorbus_aucuparia",
        "same genus; the library's Sorbus is itself a Malus proxy (Rosaceae pome trees)",
    ),
    "Sorbus aria": ("sorbus_aucuparia", "same genus (whitebeam), Malus proxy"),
    "Acer pseudoplatanus": ("acer_platanoides", "a large European maple of the same form"),
    "Acer campestre": ("acer_platanoides", "same genus, a smaller European maple"),
    "Aesculus x carnea": ("aesculus_hippocastanum", "a hybrid of A. hippocastanum"),
    "Carpinus betulus": (
        "carpinus_betulus_fastigiata",
        "the species' fastigiate cultivar, the form planted in streets",
    ),
    "Corylus colurna": (
        "carpinus_betulus_fastigiata",
        "Betulaceae street tree with a narrow, upright crown",
    ),
    "Alnus glutinosa": ("betula_pendula", "Betulaceae, a pioneer tree of the same size"),
    "Alnus incana": ("betula_pendula", "Betulaceae, a pioneer tree of the same size"),
    "Salix alba": ("populus", "Salicaceae, fast-growing and large like the poplars"),
    "Salix": ("populus", "Salicaceae, fast-growing like the poplars"),
    "Prunus avium": ("prunus_cerasifera", "a Prunus tree of the same size"),
    "Prunus padus": ("prunus_cerasifera", "a Prunus tree of the same size"),
    "Quercus rubra": ("quercus_rubra", "fitted in the database"),
    "Ulmus x hollandica": ("ulmus_glabra", "a hybrid of U. glabra"),
    "Fagus sylvatica": ("fagus_sylvatica", "fitted in the database"),
    "Pinus nigra": ("pinus_nigra", "fitted in the database"),
    "Larix decidua": (
        "pinus_sylvestris",
        "a conifer of the same height; needles shed (not modelled)",
    ),
    "Ginkgo biloba": ("ginkgo_biloba", "fitted in the database"),
}

#: Library kind and the curated entry whose looks a new species borrows, by TS2 type.
_TEMPLATE = {"deciduous": "tilia_cordata", "conifer": "pinus_sylvestris"}


def _key(name: str) -> str:
    name = name.replace("'", "").replace("subsp.", "").replace("var.", "").replace(" x ", " x ")
    name = re.sub(r"\bspp\.?", "spp", name)
    return "_".join(re.sub(r"[^a-z0-9 ]", " ", name.lower()).split())


def _float(v: str) -> float:
    return float(v) if v.strip() else 0.0


def _types() -> dict[str, str]:
    out: dict[str, str] = {}
    with open(DATA / "TS2_Regional_species_and_counts.csv", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            out[r["Scientific Name"].strip()] = r["Tree Type"].strip()
    return out


def _relations() -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """species -> region -> relation -> entry."""
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    with open(DATA / "TS6_Growth_coefficients.csv", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            rel = RELATIONS.get(
                (r["Independent variable"].strip(), r["Predicts component "].strip())
            )
            if rel is None:
                continue
            out[r["Scientific Name"].strip()][r["Region"].strip()][rel] = {
                "form": r["EqName"].strip(),
                "coef": [_float(r[c]) for c in "abcde"],
                "apps_min": _float(r["Apps min"]),
                "apps_max": _float(r["Apps max"]),
                "n": int(_float(r["n"])),
                "adj_r2": _float(r["adj R2"]),
                "spcode": r["SpCode"].strip(),
            }
    return out


def _biomass() -> tuple[dict[str, tuple[float, str]], dict[str, tuple[float, float, float]]]:
    """TS9 (species -> density, equation species) and TS7 (species -> a, b, c)."""
    density: dict[str, tuple[float, str]] = {}
    with open(DATA / "TS9_Biomass_density_factors.csv", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            if r["DW Density"].strip():
                density[r["Scientific Name"].strip()] = (
                    float(r["DW Density"]),
                    r["Matched Equation Species"].strip(),
                )
    eqs: dict[str, tuple[float, float, float]] = {}
    pattern = re.compile(r"=\s*([0-9.]+)\*dbhcm\^([0-9.-]+)\*htm(?:et)?\^([0-9.-]+)")
    with open(DATA / "TS7_Volume_eqns_from_urban.csv", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            m = pattern.search(r["Equation"].replace(" ", ""))
            if m and r["Predicts"].strip() == "Volume":
                eqs[r["Equation Species"].strip()] = (
                    float(m.group(1)),
                    float(m.group(2)),
                    float(m.group(3)),
                )
    return density, eqs


def main() -> None:
    doc = json.loads(LIBRARY.read_text(encoding="utf-8"))
    curated = [t for t in doc["trees"] if not t.get("source", {}).get("generated")]
    by_key = {t["key"]: t for t in curated}
    known = {t["scientific_name"].lower() for t in curated}
    types = _types()
    rels = _relations()
    density, eqs = _biomass()
    genus_template = {t["scientific_name"].split()[0]: t for t in curated}
    generated: list[dict[str, Any]] = []
    genus_alias: set[str] = {t["scientific_name"].split()[0].lower() for t in curated}
    for t in curated:
        genus_alias.update(a.lower() for a in t.get("aliases", []))
    best_of_genus: dict[str, str] = {}
    for name in sorted(rels):
        n = max((r.get("age_dbh", {}).get("n", 0) for r in rels[name].values()), default=0)
        genus = name.split()[0]
        if n > max(
            (
                r.get("age_dbh", {}).get("n", 0)
                for r in rels.get(best_of_genus.get(genus, ""), {}).values()
            ),
            default=-1,
        ):
            best_of_genus[genus] = name
    for name in sorted(rels):
        ttype = types.get(name, "")
        kind = "conifer" if ttype.startswith("C") else "deciduous" if ttype.startswith("BD") else ""
        if not kind or name.lower() in known:
            continue
        regions = [
            (reg, r)
            for reg, r in rels[name].items()
            if reg in REGION_NORMALS and all(k in r for k in RELATIONS.values())
        ]
        if not regions:
            continue
        region, rel = max(regions, key=lambda t: (t[1]["age_dbh"]["n"], t[0]))
        genus = name.split()[0]
        looks = genus_template.get(genus) or by_key[_TEMPLATE[kind]]
        dens, eq_species = density.get(name, (0.0, ""))
        general = "Urb Gen Conifer" if kind == "conifer" else "Urb Gen Broadleaf"
        eq_name = eq_species if eq_species in eqs else general
        a, b, c = eqs[eq_name]
        if not dens:
            dens = float(looks.get("biomass", {}).get("density_kg_m3", 500))
        key = _key(name)
        aliases = []
        if genus.lower() not in genus_alias and best_of_genus.get(genus) == name:
            aliases.append(genus)  # the genus resolves to its best-measured species
            genus_alias.add(genus.lower())
        entry = {
            "key": key,
            "scientific_name": name,
            "aliases": aliases,
            "common_names": {},
            "kind": kind,
            "habit": looks["habit"],
            "source": {
                "database": f"{DATABASE}, TS6",
                "region": region,
                "spcode": rel["age_dbh"]["spcode"],
                "proxy": False,
                "generated": True,
                "looks_from": looks["key"],
                "note": f"{name} measured in region {region} (n = {rel['age_dbh']['n']})",
            },
            "relations": {
                k: {f: v for f, v in rel[k].items() if f != "spcode"} for k in RELATIONS.values()
            },
            "biomass": {
                "kind": "volume",
                "a": a,
                "b": b,
                "c": c,
                "density_kg_m3": dens,
                "open_grown_factor": 1.0,
                "dbh_range_cm": [rel["age_dbh"]["apps_min"], rel["age_dbh"]["apps_max"]],
                "source": f"TS7 {eq_name} volume (urban), TS9 density",
            },
            "colours": looks["colours"],
            "phenology": looks["phenology"],
            "shape": looks["shape"],
        }
        generated.append(entry)
    keys = {t["key"] for t in curated} | {t["key"] for t in generated}
    for t in [*curated, *generated]:
        t["aliases"] = [a for a in t["aliases"] if a not in EUROPEAN or EUROPEAN[a][0] == t["key"]]
    for name, (target, why) in EUROPEAN.items():
        if target not in keys:
            raise SystemExit(f"mapping {name} -> {target}: no such library species")
        entry = next(t for t in [*curated, *generated] if t["key"] == target)
        if name.lower() != entry["scientific_name"].lower() and name not in entry["aliases"]:
            entry["aliases"].append(name)
        entry.setdefault("european_proxies", {})[name] = why
    doc["trees"] = [*curated, *generated]
    LIBRARY.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(curated)} curated + {len(generated)} generated species -> {LIBRARY.name}")


if __name__ == "__main__":
    main()
