"""Small-matrix Cholesky and triangular solves in plain XLA operations (no LAPACK calls that can deadlock)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescale._src.engines import small_linalg
from bayescale._src.engines import importance
from bayescale._src.engines.base import Modes


@pytest.mark.parametrize("dim", [1, 3, 7])
def test_cholesky_and_solve_match_numpy(dim):
    rng = np.random.default_rng(dim)
    m = rng.normal(size=(4, dim, dim))
    a = m @ np.swapaxes(m, -1, -2) + 0.1 * np.eye(dim)
    chol = small_linalg.cholesky(jnp.asarray(a))
    np.testing.assert_allclose(chol, np.linalg.cholesky(a), rtol=1e-10, atol=1e-12)
    assert bool(jnp.all(small_linalg.is_factor(chol)))
    b = rng.normal(size=(5, dim))
    x = small_linalg.solve_lower(chol[0], jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(x) @ np.asarray(chol[0]).T, b, rtol=1e-10, atol=1e-12)


def test_not_positive_definite_is_flagged():
    indefinite = jnp.asarray(np.diag([1.0, -1.0, 2.0]))
    singular = jnp.zeros((2, 2))
    assert not bool(small_linalg.is_factor(small_linalg.cholesky(indefinite)))
    assert not bool(small_linalg.is_factor(small_linalg.cholesky(singular)))


def test_importance_proposal_step_calls_no_batched_lapack_kernel():
    """Two batched LAPACK kernels running at once deadlocked XLA's CPU pool (see small_linalg's docstring)."""
    dim, n = 3, 8
    loc = jnp.zeros((4, dim))
    cov = jnp.broadcast_to(jnp.eye(dim), (4, dim, dim))
    z = jnp.ones((4, n, dim))

    def step(loc, cov, z):
        # two local modes: a mixture proposal, moved by one mixture-PMC step
        modes = Modes(jnp.stack([loc, loc + 1.0]), jnp.array([0.0, 1.0]), jnp.stack([cov, cov]), jnp.array([True, True]))
        first = importance._at_modes(modes, jnp.stack([cov, cov]), jnp.array([True, True]), 5)
        first_logs = first.component_log_probs(z)
        second = importance._moments(z, -jnp.sum(z**2, axis=-1), first, first_logs)
        return importance._mixture_log_prob([first_logs, second.component_log_probs(z)])

    text = jax.jit(jax.vmap(step)).lower(loc, cov, z).as_text()
    assert "lapack" not in text.lower()
    assert "custom_call" not in text
