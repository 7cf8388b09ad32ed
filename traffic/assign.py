"""Static user-equilibrium assignment with BPR link costs, solved by AequilibraE.

The solver is AequilibraE's bi-conjugate Frank-Wolfe (Mitradjieva and Lindberg 2013) on
an in-memory graph (no AequilibraE project, no SpatiaLite). Link cost (Bureau of Public
Roads 1964): ``t = t0 (1 + alpha (V / C)^beta)``, alpha = 0.15, beta = 4. Convergence:
relative gap ``(sum_a t_a x_a - sum_od d_od SP_od) / sum_a t_a x_a`` (AequilibraE's
``rgap``).

Warm start
----------
AequilibraE starts from an all-or-nothing load. :func:`assign` can start from a previous
solution instead: its first all-or-nothing step is replaced by the given link flows (any
feasible flow is a valid Frank-Wolfe start; the convergence test begins at the second
iteration), through a subclass of AequilibraE's ``allOrNothing`` put in place for the
duration of the call. The flows must satisfy flow conservation for the same demand; keep
link numbering stable (closed links stay in the graph, :data:`~.network.CLOSED_TIME_S`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["BPR_ALPHA", "BPR_BETA", "LinkGraph", "Solution", "assign", "bpr_time"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: BPR parameters (Bureau of Public Roads 1964, Traffic Assignment Manual).
BPR_ALPHA = 0.15
BPR_BETA = 4.0

_LOCK = threading.Lock()


def bpr_time(free_time: F64, flow: F64, capacity: F64) -> F64:
    """BPR link travel time ``t0 (1 + 0.15 (V / C)^4)`` (same units as ``free_time``)."""
    return np.asarray(free_time * (1.0 + BPR_ALPHA * (flow / capacity) ** BPR_BETA))


@dataclass(frozen=True, slots=True, eq=False)
class LinkGraph:
    """A directed graph with zones for assignment.

    Attributes
    ----------
    n_zones : Z; nodes ``0 .. Z-1`` are the zones (centroids), no route passes through one.
    a, b : (L,) int64 from and to node.
    free_time : (L,) float64 free-flow time (any unit; results use the same).
    capacity : (L,) float64 veh/h (same unit as the demand).
    """

    n_zones: int
    a: I64
    b: I64
    free_time: F64
    capacity: F64

    @property
    def n_links(self) -> int:
        return len(self.a)


@dataclass(frozen=True, slots=True, eq=False)
class Solution:
    """An equilibrium link flow.

    Attributes
    ----------
    flow : (L,) float64, same unit as the demand.
    time : (L,) float64 congested travel time.
    rgap : relative gap reached.
    iterations : solver iterations.
    seconds : wall time of the solver call.
    warm : whether it started from a previous solution.
    """

    flow: F64
    time: F64
    rgap: float
    iterations: int
    seconds: float
    warm: bool


def _aequilibrae() -> Any:
    os.environ.setdefault("AEQ_SHOW_PROGRESS", "FALSE")
    # AequilibraE's compiled kernels bring their own OpenMP runtime, which reads its
    # settings once, when it is loaded. Its default lets idle threads spin after every
    # parallel loop; the solver runs many short loops per iteration, and the spinning
    # threads took the cores from the main thread (a warm 5,000-link re-assignment:
    # 2.0-2.4 s CPU with spinning, 0.6-0.8 s with passive waits; docs/traffic.md). So
    # the runtime is loaded with passive waits unless the environment says otherwise,
    # and the environment is left as it was.
    first = "aequilibrae.paths.cython.AoN" not in sys.modules
    policy = os.environ.get("OMP_WAIT_POLICY")
    if first and policy is None:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import aequilibrae.paths.linear_approximation as la
    finally:
        if first and policy is None:
            del os.environ["OMP_WAIT_POLICY"]
    import aequilibrae.utils.python_signal as signal

    # no progress bars, also when AequilibraE was imported before this module set the
    # variable (its signal objects read the flag when they are made, some at import)
    show = os.environ["AEQ_SHOW_PROGRESS"] == "TRUE"
    signal.show_status = show
    cls = la.LinearApproximation
    for sig in (cls.equilibration, cls.assignment, cls.signal, la.allOrNothing.signal):
        sig.deactivate = not show
    from aequilibrae.matrix import AequilibraeMatrix
    from aequilibrae.paths import Graph, TrafficAssignment, TrafficClass

    return la, AequilibraeMatrix, Graph, TrafficAssignment, TrafficClass


def assign(
    graph: LinkGraph,
    demand: F64,
    *,
    warm: F64 | None = None,
    rgap: float = 1e-4,
    max_iter: int = 1000,
    algorithm: str = "bfw",
    cores: int = 1,
    block_centroids: bool = True,
) -> Solution:
    """User equilibrium of ``demand`` on ``graph``.

    Parameters
    ----------
    graph : the network with zones.
    demand : (Z, Z) float64 trips per hour from zone i to zone j.
    warm : (L,) float64 link flows of a previous solution for the same demand (see module
        docstring), or None for a cold start.
    rgap : target relative gap.
    max_iter : iteration limit.
    algorithm : AequilibraE algorithm (``bfw``, ``cfw``, ``fw``, ``msa``).
    cores : solver threads.
    block_centroids : no route passes through a zone (False where zones are also
        network nodes, as in the Sioux Falls test network).

    Returns
    -------
    The :class:`Solution` (flows in input link order).
    """
    import pandas as pd

    z = graph.n_zones
    d = np.asarray(demand, dtype=np.float64)
    if d.shape != (z, z):
        raise ValueError(f"demand must be ({z}, {z}), got {d.shape}")
    n = graph.n_links
    net = pd.DataFrame(
        {
            "link_id": np.arange(1, n + 1, dtype=np.int64),
            "a_node": graph.a + 1,
            "b_node": graph.b + 1,
            "direction": np.ones(n, dtype=np.int8),
            "free_flow_time": graph.free_time.astype(np.float64),
            "capacity": graph.capacity.astype(np.float64),
            "alpha": np.full(n, BPR_ALPHA),
            "beta": np.full(n, BPR_BETA),
        }
    )
    net["id"] = net["link_id"]
    with warnings.catch_warnings():
        # pandas deprecations raised inside AequilibraE's graph building
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="aequilibrae")
        warnings.filterwarnings("ignore", category=FutureWarning, module="aequilibrae")
        return _solve(graph, net, d, warm, rgap, max_iter, algorithm, cores, block_centroids)


def _solve(
    graph: LinkGraph,
    net: Any,
    d: F64,
    warm: F64 | None,
    rgap: float,
    max_iter: int,
    algorithm: str,
    cores: int,
    block_centroids: bool,
) -> Solution:
    la, AequilibraeMatrix, Graph, TrafficAssignment, TrafficClass = _aequilibrae()
    z = graph.n_zones
    n = graph.n_links
    g = Graph()
    g.network = net
    g.prepare_graph(np.arange(1, z + 1, dtype=np.int64))
    g.set_graph("free_flow_time")
    g.set_blocked_centroid_flows(block_centroids)
    mat = AequilibraeMatrix()
    mat.create_empty(memory_only=True, zones=z, matrix_names=["demand"])
    mat.index[:] = np.arange(1, z + 1)
    mat.matrices[:, :, 0] = np.where(np.eye(z, dtype=bool), 0.0, d)
    mat.computational_view(["demand"])
    cls = TrafficClass("car", g, mat)
    ta = TrafficAssignment()
    ta.set_classes([cls])
    ta.set_vdf("BPR")
    ta.set_vdf_parameters({"alpha": "alpha", "beta": "beta"})
    ta.set_capacity_field("capacity")
    ta.set_time_field("free_flow_time")
    ta.set_algorithm(algorithm)
    ta.max_iter = max_iter
    ta.rgap_target = rgap
    ta.set_cores(cores)
    # graph row -> input link index (the solver's link order is its graph's)
    rows = g.graph
    sid = rows["__supernet_id__"].to_numpy()
    link_idx = rows["link_id"].to_numpy() - 1
    use_warm = warm is not None and np.asarray(warm).shape == (n,)
    t0 = time.perf_counter()
    with _LOCK:
        original = la.allOrNothing
        loads: F64 | None = None
        if use_warm:
            assert warm is not None
            loads = np.zeros(int(sid.max()) + 1 if len(sid) else 0)
            loads[sid] = np.asarray(warm, dtype=np.float64)[link_idx]
        la.allOrNothing = _warm_aon(original, loads)
        try:
            ta.execute(log_specification=False)
        finally:
            la.allOrNothing = original
    seconds = time.perf_counter() - t0
    total = np.asarray(ta.assignment.fw_total_flow, dtype=np.float64)
    congested = np.asarray(ta.congested_time, dtype=np.float64)
    flow = np.zeros(n)
    tt = graph.free_time.astype(np.float64).copy()
    flow[link_idx] = total[sid]
    tt[link_idx] = congested[sid]
    sol = Solution(
        flow=flow,
        time=tt,
        rgap=float(ta.assignment.rgap),
        iterations=int(ta.assignment.iter),
        seconds=seconds,
        warm=use_warm,
    )
    log.debug(
        "assignment: %d links, %d zones, %d iterations, gap %.2e, %.3f s%s",
        n,
        z,
        sol.iterations,
        sol.rgap,
        seconds,
        " (warm)" if use_warm else "",
    )
    return sol


def _warm_aon(base: Any, loads: F64 | None) -> Any:
    """AequilibraE's ``allOrNothing`` with a warm first load and no per-call thread pool.

    With ``loads`` given, the first run yields them (the warm start). Every other run
    does what AequilibraE's ``execute`` does (its ``one_to_all`` per origin with demand,
    then the per-thread loads summed onto the links); with one solver thread it calls
    ``one_to_all`` in a loop instead of through a new thread pool per iteration, whose
    start-up and hand-offs cost about as much as the shortest paths on a 5,000-link grid.
    """
    from aequilibrae.paths.cython.AoN import assign_link_loads, one_to_all

    class WarmStart(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._first = loads is not None

        def execute(self) -> None:
            if self._first:
                assert loads is not None
                self._first = False
                self.aux_res.prepare(self.graph, self.results)
                ll = self.results.link_loads
                ll[:, :] = 0.0
                m = min(len(loads), ll.shape[0])
                ll[:m, 0] = loads[:m]
                return
            if self.results.cores != 1:
                super().execute()
                return
            self.report = []
            self.cumulative = 0
            g, res = self.graph, self.results
            self.aux_res.prepare(g, res)
            self.matrix.matrix_view = self.matrix.matrix_view.reshape(
                (g.num_zones, g.num_zones, res.classes["number"])
            )
            mat = self.matrix.matrix_view
            for orig in self.matrix.index:
                i = int(g.nodes_to_indices[orig])
                if (np.nansum(mat[i, :, :]) > 0 or res.num_skims > 0) and g.fs[i] != g.fs[i + 1]:
                    x = one_to_all(orig, self.matrix, g, res, self.aux_res, 0)
                    self.cumulative += 1
                    if x != orig:
                        self.report.append(x)
            res.compact_link_loads = np.sum(self.aux_res.temp_link_loads, axis=0)
            assign_link_loads(res.link_loads, res.compact_link_loads, res.crosswalk, res.cores)

    return WarmStart
