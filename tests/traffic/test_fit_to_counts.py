"""ME2 count fit: the OD pairs crossing each count, and the balancing they drive."""

from __future__ import annotations

import numpy as np
from greentwin.traffic.demand import fit_to_counts


def _reference(
    prior: np.ndarray,
    routes: list[list[np.ndarray]],
    counted: list[tuple[np.ndarray, float]],
    sweeps: int,
) -> np.ndarray:
    """ME2 as Van Zuylen and Willumsen (1980) state it for one route per pair: each count
    scales the trips of the pairs whose route crosses it by count / modelled, in turn."""
    t = prior.copy()
    z = t.shape[0]
    for _ in range(sweeps):
        for links, count in counted:
            cross = [(i, j) for i in range(z) for j in range(z) if set(routes[i][j]) & set(links)]
            if not cross:
                continue
            ii, jj = np.array(cross).T
            modelled = t[ii, jj].sum()
            if modelled > 0:
                t[ii, jj] *= count / modelled
    return t


def test_fit_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(7)
    z, n_links = 9, 40
    routes = [
        [
            np.array([], dtype=np.int64)
            if i == j
            else rng.choice(n_links, size=rng.integers(1, 6), replace=False).astype(np.int64)
            for j in range(z)
        ]
        for i in range(z)
    ]
    prior = rng.uniform(1.0, 50.0, (z, z))
    np.fill_diagonal(prior, 0.0)
    counted = [
        (np.array([3, 17], dtype=np.int64), 120.0),
        (np.array([5], dtype=np.int64), 80.0),
        (np.array([22, 23, 24], dtype=np.int64), 300.0),
        (np.array([39], dtype=np.int64), 10.0),
        (np.array([n_links + 5], dtype=np.int64), 50.0),  # on no route: ignored
    ]
    got = fit_to_counts(prior, routes, counted, sweeps=20)
    want = _reference(prior, routes, counted, 20)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    # the last count with crossing pairs is met exactly after its own turn
    cross = [(i, j) for i in range(z) for j in range(z) if 39 in set(routes[i][j].tolist())]
    assert cross
    ii, jj = np.array(cross).T
    assert abs(got[ii, jj].sum() - 10.0) < 1e-9
