"""Road traffic: network from road lines, demand fitted to counts, equilibrium assignment.

Imports ``greentwin.core`` only. See ``docs/traffic.md``.
"""

from greentwin.traffic.assign import BPR_ALPHA, BPR_BETA, LinkGraph, Solution, assign, bpr_time
from greentwin.traffic.network import (
    CLOSED_TIME_S,
    ROAD_CLASSES,
    Network,
    RoadClass,
    RoadRecord,
    TrafficError,
    build_network,
    infer_class,
)

__all__ = [
    "BPR_ALPHA",
    "BPR_BETA",
    "CLOSED_TIME_S",
    "ROAD_CLASSES",
    "LinkGraph",
    "Network",
    "RoadClass",
    "RoadRecord",
    "Solution",
    "TrafficError",
    "assign",
    "bpr_time",
    "build_network",
    "infer_class",
]
