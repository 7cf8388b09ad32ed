"""How the AequilibraE solver is run: OpenMP waits, one thread without a thread pool."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from greentwin.traffic import LinkGraph, assign


def _grid(n: int) -> tuple[LinkGraph, np.ndarray]:
    """An n x n grid of two-way 100 m links (800 veh/h) with a zone at each corner."""
    z = 4
    a: list[int] = []
    b: list[int] = []
    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < n and j + dj < n:
                    u, v = z + i * n + j, z + (i + di) * n + j + dj
                    a += [u, v]
                    b += [v, u]
    for k, c in enumerate((z, z + n - 1, z + n * (n - 1), z + n * n - 1)):
        a += [k, c]
        b += [c, k]
    m = len(a)
    t0 = np.full(m, 7.2)
    t0[-2 * z :] = 1.0
    cap = np.full(m, 800.0)
    cap[-2 * z :] = 1e6
    graph = LinkGraph(z, np.asarray(a, np.int64), np.asarray(b, np.int64), t0, cap)
    demand = np.array(
        [[0, 600, 400, 900], [500, 0, 700, 300], [400, 800, 0, 500], [1000, 300, 600, 0]],
        dtype=np.float64,
    )
    return graph, demand


def test_openmp_runtime_is_loaded_with_passive_waits() -> None:
    """AequilibraE's OpenMP runtime must not spin (libgomp: GOMP_SPINCOUNT 0 when passive).

    libgomp prints its settings at load with ``OMP_DISPLAY_ENV``; without a wait policy
    its spin count is 300,000.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["OMP_DISPLAY_ENV"] = "VERBOSE"
    code = (
        "import os\n"
        "from greentwin.traffic.assign import _aequilibrae\n"
        "_aequilibrae()\n"
        "print('policy after:', os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "GOMP_SPINCOUNT = '0'" in out.stderr
    # the process environment is left as it was
    assert "policy after: None" in out.stdout


def test_one_thread_runs_without_a_thread_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one solver thread no pool is made per iteration, and the flows are AequilibraE's."""
    import aequilibrae.paths.all_or_nothing as aon

    graph, demand = _grid(5)
    pooled = assign(graph, demand, rgap=1e-5, cores=2)  # AequilibraE's own thread pool

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a thread pool was made")

    monkeypatch.setattr(aon, "ThreadPool", no_pool)
    single = assign(graph, demand, rgap=1e-5, cores=1)
    warm = assign(graph, demand, rgap=1e-5, cores=1, warm=single.flow)
    assert single.iterations == pooled.iterations
    assert np.allclose(single.flow, pooled.flow, rtol=1e-9, atol=1e-6)
    assert warm.warm and warm.rgap <= 1e-5
    assert np.allclose(warm.flow, single.flow, atol=0.01 * demand.sum() / graph.n_links)
