"""PageRank over the file graph's edge lists (numpy only), checked against the closed form on small graphs."""

import numpy as np
from hypothesis import given, strategies as st

from aiex_kernel.core.graph import FileGraph, pagerank


def graph(n, edges):
    src, dst, w = (np.array(v) for v in zip(*edges)) if edges else ([], [], [])
    return FileGraph(n, np.asarray(src, dtype=np.int32), np.asarray(dst, dtype=np.int32),
                     np.asarray(w, dtype=np.float32))


def closed_form(n, edges, personal=None, damping=0.85):
    """x = d (T x + dangling mass p) + (1 - d) p, solved exactly."""
    m = np.zeros((n, n))
    for s, d, w in edges:
        m[s, d] += w  # repeated pairs add up
    out = m.sum(axis=1)
    p = np.full(n, 1 / n) if personal is None else personal / personal.sum()
    t = np.divide(m, out[:, None], out=np.zeros_like(m), where=out[:, None] > 0).T
    dangling = np.outer(p, (out == 0).astype(float))
    return np.linalg.solve(np.eye(n) - damping * (t + dangling), (1 - damping) * p)


def test_a_cycle_is_uniform_and_a_hub_wins():
    assert np.allclose(pagerank(graph(3, [(0, 1, 1), (1, 2, 1), (2, 0, 1)])), 1 / 3)
    hub = pagerank(graph(4, [(1, 0, 1), (2, 0, 1), (3, 0, 1)]))
    assert hub.argmax() == 0 and np.isclose(hub.sum(), 1)
    assert pagerank(FileGraph.empty(0)).shape == (0,)


@given(st.integers(1, 7).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.1, 5)), max_size=20),
    st.lists(st.floats(0, 1), min_size=n, max_size=n))))
def test_matches_the_closed_form(case):
    n, edges, weights = case
    edges = [(s, d, w) for s, d, w in edges if s != d]
    personal = np.array(weights) if sum(weights) > 0 else None
    got = pagerank(graph(n, edges), personal, iterations=500, tol=1e-13)
    assert np.allclose(got, closed_form(n, edges, personal), atol=1e-6)


def test_canonical_edges_are_unique_sorted_and_rank_the_same():
    g = graph(4, [(2, 1, 1.0), (0, 1, 2.0), (2, 1, 0.5), (3, 0, 1.0), (1, 3, 1.0)])
    c = g.canonical()
    assert c.is_canonical() and not g.is_canonical()
    assert list(zip(c.src.tolist(), c.dst.tolist())) == [(3, 0), (0, 1), (2, 1), (1, 3)]
    assert c.weight_of(2, 1) == 1.5
    assert np.allclose(pagerank(g), pagerank(c))
