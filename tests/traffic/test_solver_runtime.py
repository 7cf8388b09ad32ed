"""How the AequilibraE solver is run: OpenMP waits, one thread without a thread pool."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from greentwin.traffic import assign

from tests.traffic.test_invariants import _grid


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
