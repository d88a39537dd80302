"""``bs.fit``: the thin driver from a table to a :class:`~bayescale.results.Fit`.

It validates the data, builds the model spec, runs the engine (MAP always, to
start NUTS and Laplace from each curve's mode) and wraps the draws.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayescale import diagnostics, laws
from bayescale import priors as priors_mod
from bayescale.data import prepare, resolve_columns
from bayescale.inference import laplace, map as map_engine, nuts
from bayescale.inference.problem import make_problem, to_device
from bayescale.model import ModelSpec, make_likelihood
from bayescale.results import Fit

METHODS = ("nuts", "laplace", "map")


def fit(
    data: Any,
    law: str | laws.Law = "power_law",
    *,
    y: str = "loss",
    x: str | None = None,
    columns: Mapping[str, str] | None = None,
    group: str | None = None,
    method: str = "nuts",
    priors: Mapping[str, Any] | None = None,
    likelihood: str = "student_t",
    seed: int = 0,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    target_accept_prob: float = 0.8,
    dense_mass: bool = True,
    num_starts: int = 16,
    dtype: Any = None,
) -> Fit:
    """Fit a scaling law to one curve, or to every group of a table in one batched call.

    Parameters
    ----------
    data
        DataFrame (or dict of columns) with the law's inputs and the loss.
    law
        A law name (``bs.laws.names()``) or a :class:`~bayescale.laws.Law`.
    y
        Loss column (positive).
    x, columns
        Column of a one-input law's ``x``; ``columns`` maps any law input to a
        column name (e.g. ``{"N": "params", "D": "tokens"}``).
    group
        Column whose values split the table into independent curves.
    method
        ``"nuts"`` (NumPyro NUTS), ``"laplace"`` (Gaussian at the mode in the
        unconstrained space) or ``"map"`` (the mode alone).
    priors
        Per-parameter NumPyro distributions (natural units) replacing the defaults.
    likelihood
        ``"student_t"`` (4 degrees of freedom, robust) or ``"normal"``, on log loss.
    seed
        Seed of every random choice: the same seed gives the same draws.
    chains, draws, warmup
        NUTS settings (``draws`` is also the number of Laplace draws).
    dense_mass
        Adapt a dense mass matrix (initialized at the Laplace covariance), which
        absorbs the linear correlations between exponents and scales.
    num_starts
        Optimizer starts per curve for the mode.
    dtype
        ``jnp.float64`` (default when x64 is enabled) or ``jnp.float32``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    for name, value in (("chains", chains), ("draws", draws), ("num_starts", num_starts)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if method == "nuts" and warmup < 20:
        raise ValueError(f"warmup must be at least 20 NUTS steps, got {warmup!r}")
    law_obj = laws.get(law)
    cols = resolve_columns(law_obj, y, x, columns, group)
    batch, groups, rows = prepare(data, law_obj, cols)
    spec = ModelSpec(law_obj, priors_mod.resolve(law_obj, priors), make_likelihood(likelihood))
    problem = make_problem(spec)
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    device_batch = to_device(batch, dtype)

    curve_keys = _curve_keys(seed, len(groups))
    map_keys, draw_keys = curve_keys[:, 0], curve_keys[:, 1]
    mode = map_engine.fit(problem, map_keys, device_batch, num_starts)
    cov, positive = laplace.covariance(mode.hessian)
    stats = {}
    if method == "map":
        z = mode.z[:, None, None, :]
    elif method == "laplace":
        z = jax.vmap(lambda k, m, c: laplace.sample(k, m, c, draws))(draw_keys, mode.z, cov)[:, None]
    else:
        settings = nuts.NutsSettings(warmup, draws, chains, target_accept_prob, dense_mass=dense_mass)
        init_keys = jax.vmap(lambda k: jax.random.split(k, 2 * chains).reshape(2, chains, -1))(draw_keys)
        z0 = jax.vmap(lambda k, m, c: laplace.sample(k, m, c, chains))(init_keys[:, 0, 0], mode.z, cov)
        imm = cov if dense_mass else jnp.diagonal(cov, axis1=-2, axis2=-1)
        out = nuts.sample(problem, settings, device_batch, z0, init_keys[:, 1], imm)
        z = out.z
        stats = {
            "diverging": out.diverging,
            "n_steps": out.num_steps,
            "acceptance_rate": out.accept_prob,
            "step_size": out.step_size,
        }
    posterior = _constrain(problem, device_batch, z)
    flat_inputs = {k: _column(data, c) for k, c in cols.inputs.items()}
    result = Fit(
        spec=spec,
        method=method,
        columns=cols,
        groups=groups,
        rows=rows,
        inputs=flat_inputs,
        y=_column(data, cols.y),
        posterior=posterior,
        sample_stats={k: np.asarray(v) for k, v in stats.items()},
        settings={"seed": seed, "chains": chains, "draws": draws, "warmup": warmup, "dtype": str(np.dtype(dtype))},
    )
    result.mode = {k: v[:, 0, 0] for k, v in _constrain(problem, device_batch, mode.z[:, None, None, :]).items()}
    result.mode_ok = np.asarray(positive)
    if method == "nuts":
        divergences = np.asarray(stats["diverging"]).reshape(len(groups), -1).sum(axis=1)
        result.problems = diagnostics.check(result.summary(), divergences, groups if cols.group else [None])
    return result


def _curve_keys(seed: int, num_curves: int):
    # fold_in by position keeps each curve's stream independent of the batch it sits in
    root = jax.random.PRNGKey(seed)
    return jax.vmap(lambda i: jax.random.split(jax.random.fold_in(root, i), 2))(jnp.arange(num_curves))


@functools.partial(jax.jit, static_argnums=0)
def _constrain_batch(problem, batch, z):
    over_draws = jax.vmap(jax.vmap(problem.constrain, in_axes=(0, None)), in_axes=(0, None))
    return jax.vmap(over_draws)(z, batch)


def _constrain(problem, batch, z) -> dict[str, np.ndarray]:
    """Every site in natural units, ``[curves, chains, draws]``, from unconstrained ``z``."""
    return {k: np.asarray(v) for k, v in _constrain_batch(problem, batch, z).items()}


def _column(data, col) -> np.ndarray:
    return np.asarray(data[col], dtype=np.float64)
