"""``bs.fit``: the thin driver from a table to a :class:`~bayescale._src.results.Fit`.

It validates the data, builds the model spec, runs the engine (MAP always, to
start NUTS and Laplace from each curve's mode) and wraps the draws.
"""

from __future__ import annotations

import difflib
import functools
import zlib
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayescale._src import batch as batch_mod
from bayescale import laws
from bayescale._src import diagnostics
from bayescale._src import pooling as pooling_mod
from bayescale._src import progress as progress_mod
from bayescale import priors as priors_mod
from bayescale._src.data import CurveBatch, prepare, resolve_columns
from bayescale._src.engines import laplace, nuts
from bayescale._src.engines import map as map_engine
from bayescale._src.engines.problem import Problem, make_problem, to_device
from bayescale._src.model import ModelSpec, make_likelihood
from bayescale._src.results import Fit

METHODS = ("nuts", "laplace", "map")
POOLING = ("none", "partial")


def fit(
    data: Any,
    law: str | laws.Law = "power_law",
    *,
    y: str = "loss",
    x: str | None = None,
    columns: Mapping[str, str] | None = None,
    group: str | None = None,
    method: str = "nuts",
    priors: priors_mod.PriorSpec = None,
    likelihood: str = "student_t",
    seed: int = 0,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    target_accept_prob: float = 0.8,
    dense_mass: bool = True,
    num_starts: int = 16,
    chunk_size: int | None = None,
    dtype: Any = None,
    pooling: str = "none",
    pooled: Sequence[str] | None = None,
    progress: bool | None = None,
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
        A literature preset name (``bs.priors.presets()``), or per-parameter
        NumPyro distributions (natural units) replacing the defaults, e.g. from
        ``bs.priors.from_fit``.
    likelihood
        ``"student_t"`` (4 degrees of freedom, robust) or ``"normal"``, on log loss;
        ``"logit_student_t"`` or ``"logit_normal"`` on logit(y), for bounded
        metrics ``0 < y < 1`` such as error rates (with ``law="m4"``); or a
        :class:`~bayescale._src.model.Likelihood`.
    seed
        Seed of every random choice: the same seed gives bitwise-identical
        draws on the same machine. Each curve's stream is derived from the
        seed and its group label (:func:`curve_id`), so a curve's draws do not
        depend on the other curves in the batch: fitting the one-group table
        alone gives the same draws, given the same ``chunk_size`` (which fixes
        the compiled shapes; the default size depends on the number of curves).
    chains, draws, warmup
        NUTS settings (``draws`` is also the number of Laplace draws).
    dense_mass
        Adapt a dense mass matrix (initialized at the Laplace covariance), which
        absorbs the linear correlations between exponents and scales.
    num_starts
        Optimizer starts per curve for the mode.
    chunk_size
        Curves per compiled call; by default as many as fit in a quarter of the
        device's memory (see :mod:`bayescale._src.batch`). Given explicitly, every
        chunk is padded to exactly this many curves, which makes each curve's
        draws independent of the batch it is in (see ``seed``).
    dtype
        ``jnp.float64`` (default when x64 is enabled) or ``jnp.float32``.
    pooling
        ``"none"``: every curve (group) has its own independent posterior.
        ``"partial"``: the ``pooled`` parameters are shared across the groups
        through a hierarchical prior (see :mod:`bayescale._src.engines.pooled`),
        so curves with few points borrow strength from the others; the
        population parameters are in ``Fit.hyper``.
    pooled
        Parameters to pool (default: the law's exponents). ``E`` may be added.
    progress
        Show a progress bar: ``None`` (default) shows one for long runs (NUTS,
        several chunks) in a terminal or notebook, unless silenced with
        ``bs.set_progress(False)`` or ``BAYESCALE_PROGRESS=0`` (see
        :mod:`bayescale._src.progress`).
    """
    if pooling not in POOLING:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING)}")
    if pooling == "partial" and group is None:
        raise ValueError("pooling='partial' shares parameters across groups: give the group column with group=")
    if pooled is not None and pooling != "partial":
        raise ValueError("pooled= names the parameters of pooling='partial'")
    check_settings(method, seed, chains, draws, warmup, target_accept_prob, num_starts)
    law_obj = laws.get(law)
    cols = resolve_columns(law_obj, y, x, columns, group)
    batch, groups, rows = prepare(data, law_obj, cols)
    lik = make_likelihood(likelihood)
    if lik.bounded:
        _check_bounded(np.asarray(data[cols.y], dtype=np.float64), cols.y, lik.kind)
    spec = ModelSpec(law_obj, priors_mod.resolve(law_obj, priors), lik)
    problem = make_problem(spec)
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    settings = nuts.NutsSettings(warmup, draws, chains, target_accept_prob, dense_mass=dense_mass)
    if method != "nuts":
        settings = settings._replace(num_warmup=0, num_chains=1, num_samples=1 if method == "map" else draws)
    fixed_chunks = chunk_size is not None
    if chunk_size is None:
        sites = len(problem.sites)
        per_curve = settings.num_chains * settings.num_samples * (3 * sites + 6) * np.dtype(dtype).itemsize
        chunk_size = batch_mod.auto_chunk_size(per_curve, method=method)
    elif not _is_int(chunk_size) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")

    keys = np.asarray(_curve_keys(seed, groups))
    hyper = {}
    chunks = [None] if pooling == "partial" else list(batch_mod.plan(batch, int(chunk_size), fixed=fixed_chunks))
    show = progress_mod.resolve(progress, long=method == "nuts" or len(chunks) > 1)
    if show and method == "nuts":
        settings = settings._replace(progress=True)
    steps = warmup + draws if method == "nuts" else 0  # NUTS reports steps, other methods whole chunks
    total, unit = (len(chunks) * steps, "step") if steps else (len(groups), "curve")
    with progress_mod.bar(show, total, f"{method} {len(groups)} curve(s)", unit) as bar:
        if pooling == "partial":
            names = tuple(pooled) if pooled is not None else pooling_mod.default_pooled(spec)
            posterior, stats, mode, mode_ok, hyper = pooling_mod.run(
                spec, batch, keys, method, settings, num_starts, names, dtype
            )
        else:
            curve_mesh = batch_mod.mesh()
            outputs = []
            for i, chunk in enumerate(chunks):
                device_batch = batch_mod.shard(to_device(batch_mod.take(batch, chunk), dtype), curve_mesh)
                chunk_keys = batch_mod.shard(batch_mod.take(keys, chunk), curve_mesh)
                if bar is not None:
                    bar.offset = i * steps
                out = batch_mod.gather(run_chunk(problem, method, settings, num_starts, device_batch, chunk_keys))
                outputs.append((chunk, out))
                if bar is not None:
                    bar.reach((i + 1) * steps if steps else sum(len(c.index) for c, _ in outputs))
            posterior, stats, mode, mode_ok = _scatter(outputs, len(groups))
        if bar is not None:
            bar.reach(total)

    result = Fit(
        spec=spec,
        method=method,
        columns=cols,
        groups=groups,
        rows=rows,
        inputs={k: _column(data, c) for k, c in cols.inputs.items()},
        y=_column(data, cols.y),
        posterior=posterior,
        sample_stats=stats,
        settings={"seed": seed, "chains": chains, "draws": draws, "warmup": warmup, "dtype": str(np.dtype(dtype)),
                  "pooling": pooling},
        mode=mode,
        mode_ok=mode_ok,
        hyper=hyper,
    )
    if method == "nuts":
        divergences = stats["diverging"].reshape(len(groups), -1).sum(axis=1)
        result.problems = diagnostics.check(result.summary(), divergences, groups if cols.group else [None])
    else:
        result.problems = diagnostics.check_mode(mode_ok, groups if cols.group else [None])
    if method != "map" and pooling == "none":
        labels = groups if cols.group else [None]
        result.problems += diagnostics.check_prior(spec, posterior, [len(r) for r in rows], labels)
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_settings(method, seed, chains, draws, warmup, target_accept_prob, num_starts) -> None:
    """Reject invalid engine settings with a message naming the argument (``ValueError``/``TypeError``)."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {', '.join(METHODS)}; got {method!r}")
    if method not in METHODS:
        close = difflib.get_close_matches(method, METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown method {method!r}{hint}; choose one of {', '.join(METHODS)}")
    if not _is_int(seed):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed!r}")
    for name, value in (("chains", chains), ("draws", draws), ("num_starts", num_starts), ("warmup", warmup)):
        if not _is_int(value):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if value < (0 if name == "warmup" else 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if method == "nuts" and warmup < 20:
        raise ValueError(f"warmup must be at least 20 NUTS steps, got {warmup!r}")
    if isinstance(target_accept_prob, bool) or not isinstance(target_accept_prob, (int, float, np.floating)):
        raise TypeError(f"target_accept_prob must be a number, got {target_accept_prob!r}")
    if not 0 < target_accept_prob < 1:
        raise ValueError(f"target_accept_prob must be strictly between 0 and 1, got {target_accept_prob!r}")


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def run_chunk(problem: Problem, method: str, settings: nuts.NutsSettings, num_starts: int, batch: CurveBatch, keys):
    """One compiled call: mode, then Laplace draws or NUTS, then natural units, for every curve of ``batch``.

    Returns ``(posterior, stats, mode, mode_ok)``; posterior leaves are
    ``[curves, chains, draws]``.
    """
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    mode = map_engine.fit(problem, split[:, 0], batch, num_starts)
    cov, positive = laplace.covariance(mode.hessian)
    stats = {}
    if method == "map":
        z = mode.z[:, None, None, :]
    elif method == "laplace":
        z = jax.vmap(lambda k, m, c: laplace.sample(k, m, c, settings.num_samples))(split[:, 1], mode.z, cov)[:, None]
    else:
        chains = settings.num_chains
        z0 = jax.vmap(lambda k, m, c: laplace.sample(k, m, c, chains))(split[:, 1], mode.z, cov)
        chain_keys = jax.vmap(lambda k: jax.random.split(k, chains))(split[:, 2])
        imm = cov if settings.dense_mass else jnp.diagonal(cov, axis1=-2, axis2=-1)
        out = nuts.sample(problem, settings, batch, z0, chain_keys, imm)
        z = out.z
        stats = {
            "diverging": out.diverging,
            "n_steps": out.num_steps,
            "acceptance_rate": out.accept_prob,
            "step_size": out.step_size,
        }
    posterior = _constrain_batch(problem, batch, z)
    mode_values = {k: v[:, 0, 0] for k, v in _constrain_batch(problem, batch, mode.z[:, None, None, :]).items()}
    return posterior, stats, mode_values, positive


def _scatter(outputs, num_curves: int):
    """Reassemble per-chunk outputs (dropping chunk padding) into arrays over all curves."""
    merged = []
    for part in range(4):
        first = outputs[0][1][part]
        if isinstance(first, dict):
            full = {k: np.empty((num_curves, *v.shape[1:]), v.dtype) for k, v in first.items()}
            for chunk, out in outputs:
                for k, v in out[part].items():
                    full[k][chunk.index] = v[: len(chunk.index)]
        else:
            full = np.empty((num_curves, *first.shape[1:]), first.dtype)
            for chunk, out in outputs:
                full[chunk.index] = out[part][: len(chunk.index)]
        merged.append(full)
    return merged


def _check_bounded(y: np.ndarray, column: str, kind: str) -> None:
    bad = y >= 1
    if bad.any():
        raise ValueError(
            f"likelihood {kind!r} models a metric strictly between 0 and 1, but column {column!r} has "
            f"{int(bad.sum())} value(s) >= 1 (first: {y[np.argmax(bad)]!r}); use an error rate or 1 - accuracy "
            "as a fraction, or a log-loss likelihood"
        )


def curve_id(label: Any) -> int:
    """A stable 31-bit id of a group label (0 for an ungrouped fit): the data of a curve's random stream."""
    if label is None:
        return 0
    return zlib.crc32(str(label).encode()) & 0x7FFFFFFF


def _curve_keys(seed: int, labels: Sequence[Any]):
    # keys fold in the group label, not the position, so a curve gets the same draws whether it is
    # fitted alone (as a one-group table) or inside any batch; chunk_size fixes the compiled shapes
    root = jax.random.PRNGKey(seed)
    ids = jnp.asarray([curve_id(label) for label in labels], dtype=jnp.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(root, i))(ids)


@functools.partial(jax.jit, static_argnums=0)
def _constrain_batch(problem, batch, z):
    over_draws = jax.vmap(jax.vmap(problem.constrain, in_axes=(0, None)), in_axes=(0, None))
    return jax.vmap(over_draws)(z, batch)


def _column(data, col) -> np.ndarray:
    return np.asarray(data[col], dtype=np.float64)
