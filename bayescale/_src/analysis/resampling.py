"""``bs.bootstrap``: Epoch AI's bootstrap of a point fit, as one batched call.

Besiroglu et al. (2024) put intervals on the Chinchilla parameters by
resampling the 240 points with replacement and refitting the Huber objective
each time. Here every resample is a vector of multinomial counts over the same
points, so all refits share one padded batch and one compiled program; they
start from the full-data optimum (itself found from many dispersed starts) and
run a fixed number of IRLS/Levenberg-Marquardt steps
(:mod:`bayescale._src.engines.huber`).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale import laws
from bayescale.priors import merge as priors_mod
from bayescale._src import progress as progress_mod
from bayescale._src.model.data import CurveBatch, prepare, resolve_columns
from bayescale._src.engines import huber
from bayescale._src.model.model import ModelSpec, curve_problem, natural_params, reference_coordinates
from bayescale._src.model.problem import to_device
from bayescale._src.precision import float64


def point_spec(law: laws.Law) -> ModelSpec:
    """The spec whose coordinates the point fit uses (priors only shape the starts)."""
    return reference_coordinates(priors_mod.model_spec(law, None, "normal"))


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def fit_full(spec: ModelSpec, key, curve: CurveBatch, num_starts: int, num_steps: int, delta: float):
    """Multi-start robust fit of one curve with unit weights: (z, objective)."""
    starts = curve_problem(spec).init(key, curve, num_starts)[:, :-1]  # drop sigma
    weights = curve.mask.astype(curve.log_y.dtype)
    zs, values = jax.vmap(lambda z0: huber.minimize(spec, curve, z0, weights, num_steps, delta))(starts)
    best = jnp.argmin(values)
    return zs[best], values[best]


@functools.partial(jax.jit, static_argnums=(0, 4))
def refit(spec: ModelSpec, curve: CurveBatch, z0, counts, num_steps: int, delta: float):
    """Robust refits for a batch of resample ``counts [resamples, points]`` from ``z0``."""
    zs, values = jax.vmap(lambda w: huber.minimize(spec, curve, z0, w, num_steps, delta))(counts)
    return natural_params(spec, zs, curve.log_refs), values


def resample_counts(key, mask: np.ndarray, n: int) -> jax.Array:
    """Multinomial counts ``[n, points]``: each resample draws the observed points with replacement."""
    observed = np.flatnonzero(mask)
    idx = jax.random.choice(key, jnp.asarray(observed), (n, observed.size), replace=True)
    return jax.vmap(lambda i: jnp.zeros(mask.size).at[i].add(1.0))(idx)


@float64
def bootstrap(
    data: Any,
    law: str | laws.Law = "chinchilla",
    n: int = 4000,
    seed: int = 0,
    *,
    y: str = "loss",
    x: str | None = None,
    columns: Mapping[str, str] | None = None,
    delta: float = huber.HUBER_DELTA,
    num_steps: int = 40,
    num_starts: int = 256,
    chunk_size: int = 256,
    dtype: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Bootstrap a robust (Huber) point fit of ``law`` over resamples of the rows of ``data``.

    Parameters
    ----------
    n
        Number of resamples.
    delta
        Huber threshold on log residuals (1e-3, as Hoffmann et al. and Epoch AI).
    num_steps
        IRLS/LM steps per refit (and per start of the full-data fit).
    num_starts
        Dispersed starts of the full-data fit, whose optimum starts every refit.
    chunk_size
        Resamples per compiled call. The refits are memory-bound: 256
        resamples of 240 points keep the working set in cache (measured on a
        2-core CPU: 0.36 ms per refit at 256, 1.6 ms at 4096).
    progress
        Show a progress bar over the resamples: ``None`` (default) when there
        is more than one chunk and a terminal or notebook is watching (see
        :mod:`bayescale._src.progress`).

    Returns
    -------
    DataFrame with one row per resample: the law's parameters in natural units
    and the Huber ``objective`` of the refit. ``.attrs["full_fit"]`` holds the
    full-data optimum and its objective.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = min(int(chunk_size), int(n))
    law_obj = laws.get(law)
    cols = resolve_columns(law_obj, y, x, columns, None)
    batch, _, _ = prepare(data, law_obj, cols)
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    curve = jax.tree_util.tree_map(lambda a: a[0], to_device(batch, dtype))
    spec = point_spec(law_obj)
    key_full, key_resample = jax.random.split(jax.random.PRNGKey(seed))
    z_full, value_full = fit_full(spec, key_full, curve, num_starts, num_steps * 2, delta)
    counts = resample_counts(key_resample, batch.mask[0], int(n)).astype(dtype)
    frames = []
    show = progress_mod.resolve(progress, long=n > chunk_size)
    with progress_mod.bar(show, int(n), "bootstrap", "resample") as bar:
        for start in range(0, int(n), chunk_size):
            frames.append(_refit_chunk(spec, curve, z_full, counts, start, chunk_size, num_steps, delta))
            if bar is not None:
                bar.reach(start + len(frames[-1]))
    out = pd.concat(frames, ignore_index=True)
    full = {k: float(v) for k, v in natural_params(spec, z_full, curve.log_refs).items()}
    out.attrs["full_fit"] = {**full, "objective": float(value_full)}
    return out


def _refit_chunk(spec, curve, z_full, counts, start, chunk_size, num_steps, delta) -> pd.DataFrame:
    """Refits of resamples ``start .. start + chunk_size`` as a table."""
    part = counts[start : start + chunk_size]
    short = chunk_size - part.shape[0]
    if short > 0:  # pad the last chunk so every call reuses one compiled program
        part = jnp.concatenate([part, jnp.repeat(part[-1:], short, axis=0)])
    params, values = refit(spec, curve, z_full, part, num_steps, delta)
    keep = chunk_size - short
    frame = pd.DataFrame({k: np.asarray(v)[:keep] for k, v in params.items()})[list(spec.law.param_names)]
    frame["objective"] = np.asarray(values)[:keep]
    return frame
