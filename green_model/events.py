"""Management events of a plant: planting, pruning, removal, death.

A tree carries an ordered tuple of events; :meth:`Tree.state_at` applies those dated
on or before the requested date. Nursery stock is sold by stem girth at 1 m
(European nursery standard, e.g. the FLL/ENA quality standards: "16-18" means a
girth of 16 to 18 cm), so the planted dbh is ``mean girth / pi``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from greentwin.core import GreenModelError

__all__ = ["Death", "Event", "Plant", "Prune", "Remove", "nursery_dbh_cm", "sort_events"]

_GIRTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-/–]\s*(\d+(?:\.\d+)?)\s*(?:cm)?\s*$")


def nursery_dbh_cm(girth_class: str | float) -> float:
    """Stem diameter (cm) of nursery stock of a girth class ("16-18") or girth (cm).

    ``dbh = (g_min + g_max) / 2 / pi``; a single number is a girth in cm.

    Raises
    ------
    GreenModelError
        If the class cannot be parsed (expected e.g. ``"16-18"``).
    """
    if isinstance(girth_class, int | float):
        girth = float(girth_class)
    else:
        m = _GIRTH.match(girth_class)
        if not m:
            raise GreenModelError(
                f"nursery girth class {girth_class!r} not understood; write it like '16-18'"
            )
        girth = (float(m.group(1)) + float(m.group(2))) / 2.0
    if not 1.0 <= girth <= 200.0:
        raise GreenModelError(f"nursery girth {girth} cm is outside 1..200 cm")
    return girth / math.pi


@dataclass(frozen=True, slots=True)
class Plant:
    """Planting: the tree exists from ``date`` with nursery stock of ``girth_class``."""

    date: dt.date
    girth_class: str = "16-18"

    @property
    def dbh_cm(self) -> float:
        """Stem diameter at planting (cm)."""
        return nursery_dbh_cm(self.girth_class)


@dataclass(frozen=True, slots=True)
class Prune:
    """Crown reduction pruning.

    Attributes
    ----------
    crown_reduction : fraction of crown diameter removed (0..0.8); leaf area falls by
        ``1 - (1 - r)^2`` (crown projection area).
    height_reduction : fraction of height removed (0..0.5), e.g. a crown lift or topping.
    recovery_years : years over which the crown grows back linearly to the unpruned size.
    """

    date: dt.date
    crown_reduction: float = 0.2
    height_reduction: float = 0.0
    recovery_years: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.crown_reduction <= 0.8:
            raise GreenModelError("crown_reduction must be within 0..0.8")
        if not 0.0 <= self.height_reduction <= 0.5:
            raise GreenModelError("height_reduction must be within 0..0.5")
        if self.recovery_years <= 0:
            raise GreenModelError("recovery_years must be positive")


@dataclass(frozen=True, slots=True)
class Remove:
    """Removal (felling): the tree is absent from ``date`` on."""

    date: dt.date
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Death:
    """Death: the tree stands dead from ``date`` (no leaves, no growth) until removed."""

    date: dt.date
    cause: str = ""


Event = Plant | Prune | Remove | Death


def sort_events(events: tuple[Event, ...] | list[Event]) -> tuple[Event, ...]:
    """Events in date order (stable for events on the same day)."""
    return tuple(sorted(events, key=lambda e: e.date))
