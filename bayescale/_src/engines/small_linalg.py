"""Cholesky factor and triangular solves of small matrices, in plain XLA operations.

Why not ``jnp.linalg``: on the CPU, jaxlib's batched LAPACK kernels (``lapack_dtrsm_ffi``,
``potrf``, ``syevd``) split their batch over XLA's intra-op thread pool and block a pool
worker until the pieces finish (``jax::ParallelBatchMap``). XLA's CPU runtime runs
independent operations of one program at the same time, so two such kernels can
occupy every worker of a small pool while each waits for work that no free worker
can take: the program never finishes. Measured (jax/jaxlib 0.10.2, 2 cores):
``bs.design.replay(method="importance")`` hung in 4 of 4 runs, and ``gdb`` showed
both ``tf_XLAEigen`` workers in ``ParallelBatchMap -> BlockingCounter::Wait`` under
two ``lapack_dtrsm_ffi`` calls (the two proposals' densities of one importance
stage). ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` avoids it for the whole
process, which a library should not decide for its users.

The matrices here are posterior covariances of a law's few parameters (at most a
dozen), so the loops below unroll into a few dozen elementwise operations that XLA
fuses; they are no slower than the LAPACK calls at these sizes and never block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cholesky(a: jax.Array) -> jax.Array:
    """Lower Cholesky factor ``L [..., n, n]`` with ``L L^T = a`` (Cholesky-Banachiewicz, row by row).

    Like ``jnp.linalg.cholesky``, a matrix that is not positive-definite gives NaN
    entries (the square root of a non-positive pivot), which callers test with
    :func:`is_factor`.
    """
    n = a.shape[-1]
    rows = []
    for i in range(n):
        row = []
        for j in range(i + 1):
            other = row if i == j else rows[j]
            s = a[..., i, j] - sum((row[k] * other[k] for k in range(j)), jnp.zeros_like(a[..., i, j]))
            if i == j:
                row.append(jnp.sqrt(jnp.where(s > 0, s, jnp.nan)))
            else:
                row.append(s / rows[j][j])
        rows.append(row + [jnp.zeros_like(a[..., i, 0])] * (n - i - 1))
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def is_factor(chol: jax.Array) -> jax.Array:
    """True where ``chol`` is a valid Cholesky factor (finite, positive diagonal): the matrix was positive-definite."""
    diag = jnp.diagonal(chol, axis1=-2, axis2=-1)
    return jnp.all(jnp.isfinite(chol), axis=(-2, -1)) & jnp.all(diag > 0, axis=-1)


def solve_lower(chol: jax.Array, b: jax.Array) -> jax.Array:
    """``x [m, n]`` with ``chol @ x[i] = b[i]`` for each row of ``b [m, n]`` (forward substitution; ``chol`` lower-triangular)."""
    n = chol.shape[-1]
    x = []
    for i in range(n):
        s = b[..., i] - sum((chol[i, k] * x[k] for k in range(i)), jnp.zeros_like(b[..., i]))
        x.append(s / chol[i, i])
    return jnp.stack(x, axis=-1)
