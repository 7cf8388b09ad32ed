"""The hub's area-wide noise and air figures of a proposal, from its indicator summary.

A proposal's card and page show two figures beside "today" (the baseline):

- ``noise_lden_db``: the mean over the district's dwellings of L_den at their building's
  most exposed facade, the level by which Directive 2002/49/EC (END), Annex VI, counts
  a building's exposure (:mod:`greentwin.twin.indicators` computes it per building);
- ``no2_ug_m3``: the dwelling-weighted mean of the annual NO2 concentration in front of
  the facades (the ``dwelling_weighted_mean`` of the indicator summary).

Both come from :func:`~greentwin.twin.indicators.district_indicators` over the
proposal's maps and the baseline's, the same figures as the scenario's summary export.
Without maps (a server that does not run the district model), both are None: the hub
then says "not computed yet" and never shows an invented number.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from greentwin.twin.indicators import Indicators

__all__ = ["AreaEffects", "area_effects", "dwelling_mean"]


class AreaEffects(TypedDict):
    """The proposal's figures and today's (None: not computed)."""

    noise_lden_db: float | None
    noise_lden_db_today: float | None
    no2_ug_m3: float | None
    no2_ug_m3_today: float | None
    # where traffic goes: the most changed roads (name, baseline, scenario, change_pct)
    traffic: NotRequired[list[dict[str, Any]]]


def dwelling_mean(ind: Indicators, name: str) -> float | None:
    """Mean of the facade level ``name`` over the dwellings (buildings weighted by their
    dwellings; buildings without a level or without dwellings are left out)."""
    total = 0.0
    weight = 0
    for b in ind.buildings:
        level = b.levels.get(name)
        if level is None or b.dwellings <= 0:
            continue
        total += b.dwellings * level
        weight += b.dwellings
    return round(total / weight, 1) if weight else None


def _air(ind: Indicators, name: str) -> float | None:
    value = ind.air.get(name, {}).get("dwelling_weighted_mean")
    return None if value is None else round(float(value), 1)


def area_effects(scenario: Indicators, today: Indicators) -> AreaEffects:
    """The hub's figures of a proposal (``scenario``) beside the baseline's (``today``)."""
    return {
        "noise_lden_db": dwelling_mean(scenario, "noise_lden"),
        "noise_lden_db_today": dwelling_mean(today, "noise_lden"),
        "no2_ug_m3": _air(scenario, "no2"),
        "no2_ug_m3_today": _air(today, "no2"),
        "traffic": _traffic_moves(scenario, today),
    }


def _traffic_moves(scenario: Indicators, today: Indicators) -> list[dict[str, Any]]:
    """The roads whose day flow a proposal changes most (indicator summary's list)."""
    from greentwin.twin.indicators import traffic_summary

    moved = traffic_summary(scenario.traffic, today.traffic).get("most_changed", [])
    return [{k: r[k] for k in ("id", "name", "baseline", "scenario", "change_pct")} for r in moved]
