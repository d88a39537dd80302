"""``bs.fit(..., pooling="partial")``: one hierarchical posterior over all the curves of a table.

The curves are first fitted independently (MAP, vmapped), which gives a start
for the joint mode of the hierarchical model (:mod:`bayescale._src.engines.pooled`);
Newton's method finds that mode, the Laplace approximation at it gives draws or
the start and mass matrix of NUTS, exactly as for a single curve. The batch is
one program: it is not chunked or sharded over devices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from bayescale._src.data import CurveBatch
from bayescale._src.engines import laplace, newton, nuts
from bayescale._src.engines import map as map_engine
from bayescale._src.engines import pooled as pooled_model
from bayescale._src.engines.problem import make_problem, to_device
from bayescale._src.model import ModelSpec, NOISE

NEWTON_STEPS = 100


def default_pooled(spec: ModelSpec) -> tuple[str, ...]:
    """The law's exponents: the parameters that rescale an amplitude (``alpha``, ``beta``, ...)."""
    names = []
    for p in spec.law.params:
        for _, exponent in p.scale_by:
            if exponent is not None and exponent not in names:
                names.append(exponent)
    if not names:
        raise ValueError(
            f"law {spec.law.name!r} has no exponent that rescales an amplitude; name the parameters to pool "
            f"with pooled=[...] (it has {list(spec.law.param_names)})"
        )
    return tuple(names)


def run(spec: ModelSpec, batch: CurveBatch, keys, method: str, settings: nuts.NutsSettings, num_starts: int,
        pooled: tuple[str, ...], dtype):
    """Fit the pooled model; returns ``(posterior, stats, mode, mode_ok, hyper)`` as numpy arrays.

    ``posterior`` and ``stats`` leaves are ``[curves, chains, draws]`` (sampler
    statistics are those of the joint chain, repeated per curve); ``hyper``
    leaves are ``[chains, draws]``.
    """
    num_curves = batch.log_y.shape[0]
    if num_curves < 2:
        raise ValueError("pooling='partial' needs a group column with at least 2 curves")
    device_batch = to_device(batch, dtype)
    independent = make_problem(spec)
    keys = jnp.asarray(keys)
    modes = map_engine.fit(independent, keys, device_batch, num_starts)
    curve_modes = {site: modes.z[:, i] for i, site in enumerate(independent.sites)}
    problem = pooled_model.make_problem(spec, pooled, num_curves)
    z0 = pooled_model.initial_point(problem, curve_modes).astype(device_batch.log_y.dtype)
    key = jax.random.fold_in(keys[0], num_curves)
    draws, stats, mode, ok = _run(problem, method, settings, device_batch, z0, key)
    curve_sites = {name for name, size in problem.sites if size > 1} | set(spec.law.param_names) | {NOISE}
    posterior, hyper = {}, {}
    for name, value in draws.items():
        value = np.asarray(value)
        if name in curve_sites:
            posterior[name] = np.moveaxis(value.reshape(*value.shape[:2], num_curves), -1, 0)
        else:
            hyper[name] = value
    stats = {k: np.broadcast_to(np.asarray(v), (num_curves, *v.shape)).copy() for k, v in stats.items()}
    mode = {k: np.asarray(v).reshape(num_curves) for k, v in mode.items() if k in curve_sites}
    return posterior, stats, mode, np.full(num_curves, bool(ok)), hyper


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _run(problem: pooled_model.PooledProblem, method: str, settings: nuts.NutsSettings, batch: CurveBatch, z0, key):
    info = newton.minimize(lambda z: problem.potential(z, batch), z0, NEWTON_STEPS)
    cov, ok = laplace.covariance(info.hessian)
    k_draws, k_chains = jax.random.split(key)
    stats = {}
    if method == "map":
        z = info.z[None, None]
    elif method == "laplace":
        z = laplace.sample(k_draws, info.z, cov, settings.num_samples)[None]
    else:
        z0_chains = laplace.sample(k_draws, info.z, cov, settings.num_chains)
        chain_keys = jax.random.split(k_chains, settings.num_chains)
        imm = cov if settings.dense_mass else jnp.diagonal(cov)
        one = jax.tree.map(lambda a: a[None], batch)
        out = nuts.sample(problem, settings, one, z0_chains[None], chain_keys[None], imm[None])
        z = out.z[0]
        stats = {
            "diverging": out.diverging[0],
            "n_steps": out.num_steps[0],
            "acceptance_rate": out.accept_prob[0],
            "step_size": out.step_size[0],
        }
    draws = jax.vmap(jax.vmap(lambda zz: problem.constrain(zz, batch)))(z)
    mode = problem.constrain(info.z, batch)
    return draws, stats, mode, ok
