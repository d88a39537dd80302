"""``bs.fit``: the thin driver from a table to a :class:`~bayescale._src.fit.results.Fit`.

It checks the arguments, validates the data, builds the model spec, plans the
units of work (chunks of independent curves, or one pooled table), runs the
engine from the registry (:mod:`bayescale._src.engines`) on each and wraps the
draws with :meth:`Fit.from_draws <bayescale._src.fit.results.Fit.from_draws>`.
"""

from __future__ import annotations

import functools
import warnings
import zlib
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayescale import laws
from bayescale.priors import merge as priors_mod
from bayescale._src.model import batch as batch_mod
from bayescale._src import engines
from bayescale._src.model import pooling as pooling_mod
from bayescale._src import progress as progress_mod
from bayescale._src.model import runs as runs_mod
from bayescale._src.model.data import (COLLINEAR_TOLERANCE, CurveBatch, collinear_compute, prepare, resolve_columns,
                                 run_codes)
from bayescale._src.fit.diagnostics import FitWarning
from bayescale._src.model.model import Likelihood, curve_problem, default_likelihood, make_likelihood
from bayescale._src.model.joint_prior import spec_priors
from bayescale._src.model.problem import Problem, to_device
from bayescale._src.fit.results import Fit
from bayescale._src.precision import float64

POOLING = ("none", "partial")


@float64
def fit(
    data: Any,
    law: str | laws.Law = "power_law",
    *,
    y: str = "loss",
    x: str | None = None,
    columns: Mapping[str, str] | None = None,
    group: str | None = None,
    run: str | None = None,
    method: str | None = None,
    priors: priors_mod.PriorSpec = None,
    likelihood: str | None = None,
    seed: int = 0,
    chains: int | None = None,
    draws: int | None = None,
    warmup: int | None = None,
    target_accept_prob: float | None = None,
    dense_mass: bool | None = None,
    num_starts: int | None = None,
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
    run
        Column naming the training run of each row, when rows are checkpoints
        (``x`` = tokens seen, or steps) of a few runs: e.g. ``group="family",
        run="model_name"`` for LLM families of several sizes with many
        checkpoints each. The residuals of one run's checkpoints are then
        correlated, as an Ornstein-Uhlenbeck process in ``log10 x``
        (``Cov = run_sd^2 exp(-|dlog10 x| / run_length)``) plus the independent
        nugget ``sigma``, and different runs are independent; the exact
        Gaussian likelihood is a Kalman filter along each run
        (:mod:`bayescale._src.model.runs`). So 100 checkpoints of one run count for
        about what they are worth, and the bands of the law widen accordingly.
        The posterior gains ``run_sd`` and ``run_length`` (decades; priors
        ``LogNormal(log 0.02, 1)`` and ``LogNormal(log 0.3, 1)``, replaceable
        through ``priors``). A run must lie inside one group. Needs a Gaussian
        likelihood (the default with ``run=``) and ``pooling="none"``.
        Predictions of ``kind="observation"`` are checkpoints of a *new* run
        (sd ``sqrt(sigma^2 + run_sd^2)``). The mode search runs its
        ``num_starts`` starts on the checkpoints as independent points, then
        damped Newton on the run-aware model from the two best of those modes
        lifted over a grid of noise values
        (:func:`~bayescale._src.engines.base.piloted_mode`): a fit with
        ``run=`` takes 1.1-2.3x the time of one without (``bench_runs.py``).
    method
        The inference engine: ``"auto"`` (the default; importance-corrected
        Laplace per curve, Pareto-smoothed, with NUTS for the curves whose
        Pareto k stays above 0.7, or the law's ``max_pareto_k``; tempered SMC
        from the prior for every curve of a law whose ``sampler`` is ``"smc"``,
        ``janoschek`` and ``mmf``: calibrated in SBC on every law
        (benchmarks/README.md), at close to the cost of a point fit where
        importance sampling serves; see
        :mod:`bayescale._src.engines.auto`), ``"nuts"`` (NumPyro
        NUTS for every curve; the default with ``pooling="partial"``, whose
        joint posterior is high-dimensional), ``"smc"`` (tempered SMC from
        the prior, blackjax: every basin the prior reaches, several times
        slower; independent curves without ``run=``), ``"importance"``
        (``auto`` without the NUTS fallback), ``"chees"`` (ChEES-HMC: 16 short chains per curve sharing one
        adapted trajectory length; more effective draws per second on wide
        batches, less robust on hard curves; benchmarks/bench_samplers.py),
        ``"laplace"`` (Gaussian at the mode in the unconstrained space; its
        ``pareto_k``, of its own draws' importance ratios, warns where the
        Gaussian misses the posterior) or ``"map"`` (the mode alone).
    priors
        A named prior (``bs.priors.names()``: literature presets and shipped population priors), or per-parameter
        NumPyro distributions (natural units) replacing the defaults, e.g. from
        ``bs.priors.from_fit``.
    likelihood
        ``"student_t"`` (4 degrees of freedom, robust; the default without
        ``run=``) or ``"normal"`` (the default with ``run=``), on log loss;
        ``"logit_student_t"`` or ``"logit_normal"`` on logit(y), for bounded
        metrics ``0 < y < 1`` such as error rates (with ``law="m4"``); or a
        :class:`bayescale.Likelihood`.
    seed
        Seed of every random choice: the same seed gives bitwise-identical
        draws on the same machine. Each curve's stream is derived from the
        seed and its group label (:func:`curve_id`), so a curve's draws do not
        depend on the other curves in the batch: fitting the one-group table
        alone gives the same draws, given the same ``chunk_size`` (which fixes
        the compiled shapes; the default size depends on the number of curves).
    chains, draws, warmup, target_accept_prob
        Sampler settings; ``None`` takes the method's default: 4 chains x
        (1000 warmup + 1000 draws), acceptance 0.8 for NUTS; 16 chains x
        (500 + 250), harmonic-mean acceptance 0.651 for ChEES (whose adaptation
        pools the chains of a curve, so it wants many). ``draws`` is also the
        number of Laplace draws (default 1000).
    dense_mass
        Adapt a dense mass matrix (initialized at the Laplace covariance), which
        absorbs the linear correlations between exponents and scales (default
        True where the engine adapts one).
    num_starts
        Optimizer starts per curve for the mode (default 16); with ``run=``,
        starts of the search on the checkpoints as independent points.

    The engine settings (``chains``, ``draws``, ``warmup``,
    ``target_accept_prob``, ``dense_mass``, ``num_starts``) are explicit: one
    that the chosen method does not use raises a ``ValueError`` naming the
    method's settings (``bs.methods.table()`` lists them).
    chunk_size
        Curves per compiled call; by default as many as fit in a quarter of the
        device's memory (see :mod:`bayescale._src.model.batch`). Given explicitly, every
        chunk is padded to exactly this many curves, which makes each curve's
        draws independent of the batch it is in (see ``seed``).
    dtype
        ``jnp.float64`` (default when x64 is enabled) or ``jnp.float32``.
    pooling
        ``"none"``: every curve (group) has its own independent posterior.
        ``"partial"``: the ``pooled`` parameters are shared across the groups
        through a hierarchical prior (see :mod:`bayescale._src.model.pooling`),
        so curves with few points borrow strength from the others; the
        population parameters are in ``Fit.hyper``.
    pooled
        Parameters to pool (default: the law's exponents). ``E`` may be added, and
        ``"sigma"`` (the noise scale), which regularizes curves with as few
        points as parameters (see :mod:`bayescale._src.model.pooling`).
    progress
        Show a progress bar: ``None`` (default) shows one for long runs (NUTS,
        several chunks) in a terminal or notebook, unless silenced with
        ``bs.set_progress(False)`` or ``BAYESCALE_PROGRESS=0``.
    """
    options = FitOptions(law=law, y=y, x=x, columns=columns, group=group, run=run, method=method, priors=priors,
                         likelihood=likelihood, seed=seed, chains=chains, draws=draws, warmup=warmup,
                         target_accept_prob=target_accept_prob, dense_mass=dense_mass, num_starts=num_starts,
                         chunk_size=chunk_size, dtype=dtype, pooling=pooling, pooled=pooled)
    return run_fit(data, options, progress)


class FitOptions(NamedTuple):
    """Every keyword of ``bs.fit`` but ``data`` and ``progress``: what ``bs.fit``, ``bs.fit_stream`` and
    ``bs.evaluate`` pass to :func:`setup` (see :func:`fit` for each field)."""

    law: Any = "power_law"
    y: str = "loss"
    x: str | None = None
    columns: Mapping[str, str] | None = None
    group: str | None = None
    run: str | None = None
    method: str | None = None
    priors: Any = None
    likelihood: Any = None
    seed: int = 0
    chains: int | None = None
    draws: int | None = None
    warmup: int | None = None
    target_accept_prob: float | None = None
    dense_mass: bool | None = None
    num_starts: int | None = None
    chunk_size: int | None = None
    dtype: Any = None
    pooling: str = "none"
    pooled: Sequence[str] | None = None

    @classmethod
    def from_keywords(cls, caller: str, **keywords: Any) -> "FitOptions":
        """The options from ``bs.fit``'s keywords; an unknown keyword is a ``TypeError`` naming ``caller``."""
        unknown = sorted(set(keywords) - set(cls._fields))
        if unknown:
            raise TypeError(f"{caller} got unexpected keyword(s) {', '.join(map(repr, unknown))}; it takes bs.fit's "
                            f"keywords: {', '.join(cls._fields)}")
        return cls(**keywords)


ENGINE_OPTIONS = ("chains", "draws", "warmup", "target_accept_prob", "dense_mass", "num_starts")


def options_of(fit: Fit) -> FitOptions:
    """The options that reproduce ``fit`` on other data: its law, priors, likelihood, columns, method, seed and
    the settings its method uses."""
    engine = engines.get(fit.method)
    own = {k: fit.settings[k] for k in ENGINE_OPTIONS if k in engine.Settings._fields and k in fit.settings}
    return FitOptions(law=fit.law, y=fit.columns.y, columns=fit.columns.inputs, group=fit.columns.group,
                      run=fit.columns.run, method=fit.method, priors=spec_priors(fit.spec.priors, fit.spec.joint),
                      likelihood=fit.spec.likelihood, seed=fit.settings.get("seed", 0),
                      pooling=fit.settings.get("pooling", "none"), **own)


def run_fit(data: Any, options: FitOptions, progress: bool | None, **setup_options: Any) -> Fit:
    """``bs.fit``'s body: :func:`setup` (with ``setup_options``: ``memory=``, ``one_width=``), then
    :func:`execute`, then the :class:`Fit`."""
    job = setup(data, options, **setup_options)
    fields = execute(job.plan, job.engine, job.settings, job.dtype, progress, job.desc)
    fields["curve_stats"] = with_markov(job.engine, fields["curve_stats"], len(job.record["groups"]))
    return Fit.from_draws(**job.record, **fields)


def with_markov(engine, curve_stats: Mapping[str, np.ndarray], num_curves: int) -> dict:
    """``curve_stats`` with ``markov``: per curve, True where Markov chains made its draws (the engine's own
    property, or for ``auto`` the property of the engine that served the curve)."""
    out = dict(curve_stats)
    served = out.get("engine")
    if served is None:
        out["markov"] = np.full(num_curves, engine.markov)
    else:
        out["markov"] = np.array([engines.get(str(e)).markov for e in served], bool)
    return out


class Job(NamedTuple):
    """What ``bs.fit`` runs: the engine, its settings, the plan of calls, the dtype, the progress bar's
    description, and ``record``: the fields of the :class:`Fit` other than the draws."""

    engine: engines.Engine
    settings: Any
    plan: "Plan"
    dtype: Any
    desc: str
    record: dict


def setup(data: Any, options: FitOptions, memory: int | None = None, one_width: int = 0) -> Job:
    """Check ``bs.fit``'s arguments, validate the data and plan the calls (nothing is run).

    ``memory`` (bytes) replaces the default chunk size's share of device memory
    by a bound on one chunk's draws on the host (``bs.fit_stream``); ``one_width``
    (points) pads every curve of a small batch to the widest curve's bucket (one
    compiled program, see :func:`bayescale._src.model.batch.plan`; ``bs.evaluate``).
    """
    (law, y, x, columns, group, run, method, priors, likelihood, seed, chains, draws, warmup, target_accept_prob,
     dense_mass, num_starts, chunk_size, dtype, pooling, pooled) = options
    engine = engines.get(default_method(pooling) if method is None else method)
    check_engine_options(engine, options)
    chains, draws, warmup, target_accept_prob = engine_defaults(engine, chains, draws, warmup, target_accept_prob)
    num_starts = engine.Settings._field_defaults["num_starts"] if num_starts is None else num_starts
    check_settings(engine, seed, chains, draws, warmup, target_accept_prob, num_starts, chunk_size)
    check_pooling(pooling, group, pooled)
    if run is not None and pooling != "none":
        raise ValueError(f"run={run!r} is not supported with pooling={pooling!r} yet; fit with pooling='none'")
    law_obj = laws.get(law)
    if pooling != "none" and priors_mod.joint_of(law_obj, priors) is not None:
        raise ValueError("a joint (population) prior is for fitting curves on their own: use pooling='none'")
    cols = resolve_columns(law_obj, y, x, columns, group, run)
    likelihood = likelihood_for(likelihood, run, law_obj)
    batch, groups, rows = prepare(data, law_obj, cols)
    warn_collinear_compute(law_obj, batch, cols, groups)
    check_bounded(likelihood, batch, cols.y)
    check_value_range(law_obj, batch, cols.y)
    spec = priors_mod.model_spec(law_obj, priors, likelihood)
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    given = dict(chains=chains, draws=draws, warmup=warmup, target_accept_prob=target_accept_prob,
                 dense_mass=dense_mass, num_starts=num_starts)
    settings = engine.settings(**{k: v for k, v in given.items() if k in engine.Settings._fields and v is not None})
    if law_obj.max_pareto_k is not None and "max_pareto_k" in settings._fields:
        settings = settings._replace(max_pareto_k=min(settings.max_pareto_k, law_obj.max_pareto_k))
    if law_obj.sampler != "nuts" and "sampler" in settings._fields:
        settings = settings._replace(sampler=law_obj.sampler)
    keys = curve_keys(seed, groups)
    if pooling == "partial":
        plan = pooled_plan(spec, batch, keys, pooled)
    else:
        plan = independent_plan(spec, batch, keys, engine, settings, chunk_size, dtype, memory, one_width)
    record = dict(
        spec=spec,
        method=engine.name,
        columns=cols,
        groups=groups,
        rows=rows,
        inputs={k: _column(data, c) for k, c in cols.inputs.items()},
        y=_column(data, cols.y),
        runs=run_codes(data, cols),
        settings={"seed": seed, "chains": chains, "draws": draws, "warmup": warmup, "dtype": str(np.dtype(dtype)),
                  "pooling": pooling, "posterior": engine.posterior},
    )
    return Job(engine, settings, plan, dtype, f"{engine.name} {len(groups)} curve(s)", record)


# ---------------------------------------------------------------- arguments
def default_method(pooling: str = "none") -> str:
    """The engine ``bs.fit`` uses when ``method`` is not given: ``"auto"``, or ``"nuts"`` with partial pooling
    (one joint posterior over every curve, where importance sampling would rarely serve)."""
    return "nuts" if pooling == "partial" else "auto"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


DEFAULTS = {"chains": 4, "draws": 1000, "warmup": 1000, "target_accept_prob": 0.8}


def check_engine_options(engine, options: FitOptions) -> None:
    """A ``ValueError`` for an engine setting given to a method that does not use it (it would do nothing)."""
    unused = [k for k in ENGINE_OPTIONS if getattr(options, k) is not None and k not in engine.Settings._fields]
    if unused:
        own = [k for k in ENGINE_OPTIONS if k in engine.Settings._fields]
        raise ValueError(
            f"method {engine.name!r} does not use {', '.join(f'{k}={getattr(options, k)!r}' for k in unused)}; "
            f"its settings are {', '.join(own)} (see bs.methods.table())")


def engine_defaults(engine, chains, draws, warmup, target_accept_prob) -> tuple:
    """The sampler settings with every ``None`` replaced by the engine's default (else :data:`DEFAULTS`)."""
    given = {"chains": chains, "draws": draws, "warmup": warmup, "target_accept_prob": target_accept_prob}
    own = engine.Settings._field_defaults
    return tuple(v if v is not None else own.get(k, DEFAULTS[k]) for k, v in given.items())


def check_settings(engine, seed, chains, draws, warmup, target_accept_prob, num_starts, chunk_size=None) -> None:
    """Reject invalid engine settings with a message naming the argument (``ValueError``/``TypeError``)."""
    if not _is_int(seed):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed!r}")
    for name, value in (("chains", chains), ("draws", draws), ("num_starts", num_starts), ("warmup", warmup)):
        if not _is_int(value):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if value < (0 if name == "warmup" else 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if engine.markov and warmup < 20:
        raise ValueError(f"warmup must be at least 20 {engine.name} steps, got {warmup!r}")
    if isinstance(target_accept_prob, bool) or not isinstance(target_accept_prob, (int, float, np.floating)):
        raise TypeError(f"target_accept_prob must be a number, got {target_accept_prob!r}")
    if not 0 < target_accept_prob < 1:
        raise ValueError(f"target_accept_prob must be strictly between 0 and 1, got {target_accept_prob!r}")
    if chunk_size is not None and (not _is_int(chunk_size) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def check_pooling(pooling: str, group: str | None, pooled) -> None:
    if pooling not in POOLING:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING)}")
    if pooling == "partial" and group is None:
        raise ValueError("pooling='partial' shares parameters across groups: give the group column with group=")
    if pooled is not None and pooling != "partial":
        raise ValueError("pooled= names the parameters of pooling='partial'")


def likelihood_for(likelihood: Any, run: str | None, law: laws.Law) -> Likelihood:
    """The likelihood of a fit: the one given, else the law's own default, else ``"student_t"``, or
    ``"normal"`` with correlated runs (``run=``), whose Kalman filter needs Gaussian innovations (see
    :mod:`bayescale._src.model.runs` and :func:`~bayescale._src.model.model.default_likelihood`)."""
    lik = make_likelihood(default_likelihood(law, likelihood, runs=run is not None))
    if run is None:
        if lik.runs:
            raise ValueError("a likelihood with runs=True models correlated checkpoints: give the run column with run=")
        return lik
    runs_mod.check_likelihood(lik.kind, run)
    return lik._replace(runs=True)


def check_bounded(likelihood: Likelihood, batch: CurveBatch, column: str = "loss") -> None:
    """A bounded likelihood (on logit y) needs every loss below 1: a ``ValueError`` naming the column otherwise."""
    if not likelihood.bounded:
        return
    bad = batch.mask & (batch.log_y >= 0)
    if bad.any():
        raise ValueError(
            f"likelihood {likelihood.kind!r} models a metric strictly between 0 and 1, but column {column!r} has "
            f"{int(bad.sum())} value(s) >= 1 (first: {np.exp(batch.log_y[bad][0])!r}); use an error rate or "
            "1 - accuracy as a fraction, or a log-loss likelihood"
        )


def check_value_range(law: laws.Law, batch: CurveBatch, column: str = "loss") -> None:
    """Observations outside the range of a law of a bounded quantity (:attr:`~bayescale.laws.Law.value_range`,
    e.g. ``m4``'s error rates in (0, 1)).

    The law's value stays inside; a noise model on the log scale can still put a few observations of a value
    near the edge outside (simulated m4 curves reach 1.3), so those get a :class:`FitWarning`. When the median
    observation is itself outside, the column is not that quantity (losses in nats fitted with m4): no
    parameter value fits it and a fit would forecast nonsense, so it is a ``ValueError`` naming the column, the
    law, its range and the values.
    """
    if law.value_range is None:
        return
    lower, upper = law.value_range
    mask = np.asarray(batch.mask)
    y = np.exp(np.asarray(batch.log_y))
    bad = mask & ((y > upper * (1 + 1e-12)) | (y < lower * (1 - 1e-12)))
    if not bad.any():
        return
    values = np.unique(y[bad])
    shown = ", ".join(f"{v:.6g}" for v in values[-5:][::-1])
    median = float(np.median(y[mask]))
    message = (f"law {law.name!r} models a quantity in ({lower:g}, {upper:g}), but column {column!r} has "
               f"{int(bad.sum())} value(s) outside it (largest: {shown}; median of the column {median:.6g})")
    if not lower <= median <= upper:
        raise ValueError(f"{message}; fit a law of unbounded losses (e.g. 'power_law'), or give the column as a "
                         f"fraction in ({lower:g}, {upper:g})")
    warnings.warn(f"{message}: the law's value stays inside, so only the noise model explains them; if the "
                  f"column is not such a fraction, fit a law of unbounded losses", FitWarning, stacklevel=4)


def warn_collinear_compute(law: laws.Law, batch: CurveBatch, cols, groups) -> None:
    """A :class:`FitWarning` when the compute column is 6 N D to within noise (see :func:`collinear_compute`)."""
    bad = collinear_compute(law, batch)
    if not bad.any():
        return
    where = "the table" if groups == [None] else f"{int(bad.sum())} of {len(groups)} curve(s)"
    warnings.warn(
        f"column {cols.inputs['C']!r} (input C of law {law.name!r}) is 6*N*D to within noise in {where} "
        f"(the sd of log(C / (N D)) is below {COLLINEAR_TOLERANCE:g} times the range of log C), so the compute "
        f"term is not identified apart from the N and D terms: its parameters follow their priors. "
        f"Fit the law without C, or give C with its real scatter around 6*N*D",
        FitWarning,
        stacklevel=3,
    )


def curve_id(label: Any) -> int:
    """A stable 31-bit id of a group label (0 for an ungrouped fit): the data of a curve's random stream."""
    if label is None:
        return 0
    return zlib.crc32(str(label).encode()) & 0x7FFFFFFF


def curve_keys(seed: int, labels: Sequence[Any]) -> np.ndarray:
    """One PRNG key per curve.

    Keys fold in the group label, not the position, so a curve gets the same
    draws whether it is fitted alone (as a one-group table) or inside any
    batch; ``chunk_size`` fixes the compiled shapes.
    """
    root = jax.random.PRNGKey(seed)
    ids = jnp.asarray([curve_id(label) for label in labels], dtype=jnp.uint32)
    return np.asarray(jax.vmap(lambda i: jax.random.fold_in(root, i))(ids))


# ---------------------------------------------------------------- plans
class Unit(NamedTuple):
    """One compiled call: a batch of units (host arrays), a key per unit, how many are real (not padding),
    whether to shard it, and (independent curves) the positions of its real curves in the table."""

    data: CurveBatch
    keys: np.ndarray
    real: int
    shard: bool
    index: np.ndarray | None = None


class Plan(NamedTuple):
    """The problem, its calls, ``collect(outputs) -> Fit fields`` that assembles their results, and what a
    unit is called (for the progress bar)."""

    problem: Problem
    calls: list[Unit]
    collect: Callable[[list], dict]
    unit: str


def independent_plan(spec, batch, keys, engine, settings, chunk_size, dtype, memory=None, one_width=0) -> Plan:
    """Every curve its own unit, in chunks of equal bucket width (see :mod:`bayescale._src.model.batch`).

    ``memory``, ``one_width``: see :func:`setup`."""
    problem = curve_problem(spec)
    fixed = chunk_size is not None
    if chunk_size is None:
        per_curve = (getattr(settings, "chains", 1) * getattr(settings, "draws", 1) * (3 * problem.dim + 6)
                     * np.dtype(dtype).itemsize)
        chunk_size = batch_mod.auto_chunk_size(per_curve, cpu_cap=engine.cpu_chunk, host_bytes=memory)
    chunks = list(batch_mod.plan(batch, int(chunk_size), fixed=fixed, one_width=one_width))
    calls = [Unit(batch_mod.take(batch, c), batch_mod.take(keys, c), len(c.index), True, c.index) for c in chunks]
    num_curves = batch.log_y.shape[0]

    def collect(outputs):
        posterior, stats, mode, mode_ok, curve_stats = _scatter(list(zip(chunks, outputs)), num_curves)
        return dict(posterior=posterior, sample_stats=stats, mode=mode, mode_ok=mode_ok, curve_stats=curve_stats)

    return Plan(problem, calls, collect, "curve")


def pooled_plan(spec, batch, keys, pooled) -> Plan:
    """The whole table as one unit of the partially pooled model (:mod:`bayescale._src.model.pooling`)."""
    num_curves = batch.log_y.shape[0]
    if num_curves < 2:
        raise ValueError("pooling='partial' needs a group column with at least 2 curves")
    names = tuple(pooled) if pooled is not None else pooling_mod.default_pooled(spec)
    problem = pooling_mod.pooled_problem(spec, names, num_curves)
    one = jax.tree_util.tree_map(lambda a: np.asarray(a)[None], batch)
    key = np.asarray(jax.random.fold_in(keys[0], num_curves))[None]

    def collect(outputs):
        values, stats, mode, mode_ok, unit_stats = outputs[0]
        posterior, hyper = pooling_mod.unpack(values, num_curves)
        mode, _ = pooling_mod.unpack(mode, num_curves, lead=0)
        # sampler statistics are those of the joint chain, repeated per curve
        stats = {k: np.broadcast_to(v, (num_curves, *v.shape[1:])).copy() for k, v in stats.items()}
        curve_stats = {k: np.repeat(v, num_curves) for k, v in unit_stats.items()}
        return dict(posterior=posterior, sample_stats=stats, mode=mode, curve_stats=curve_stats,
                    mode_ok=np.full(num_curves, bool(mode_ok[0])), hyper=hyper)

    return Plan(problem, [Unit(one, key, 1, False)], collect, "table")


# ---------------------------------------------------------------- execution
def execute(plan: Plan, engine, settings, dtype, progress: bool | None, desc: str) -> dict:
    """Run the engine on every call of the plan (with a progress bar) and collect the fields of the fit."""
    calls = plan.calls
    show = progress_mod.resolve(progress, long=engine.markov or len(calls) > 1)
    if show and "progress" in settings._fields:
        settings = settings._replace(progress=True)
    steps = settings.warmup + settings.draws if engine.markov else 0  # Markov engines report steps
    total, unit = (len(calls) * steps, "step") if steps else (sum(c.real for c in calls), plan.unit)
    mesh = batch_mod.mesh()
    outputs = []
    with progress_mod.bar(show, total, desc, unit) as bar:
        for i, call in enumerate(calls):
            where = mesh if call.shard else None
            data = batch_mod.shard(to_device(call.data, dtype), where)
            if bar is not None:
                bar.offset = i * steps
            draws = engine.run(plan.problem, settings, data, batch_mod.shard(call.keys, where))
            values = constrain(plan.problem, data, draws.z)
            mode = {k: v[:, 0, 0] for k, v in constrain(plan.problem, data, draws.mode[:, None, None]).items()}
            outputs.append(batch_mod.gather((values, draws.stats, mode, draws.mode_ok, draws.unit_stats)))
            if bar is not None:
                bar.reach((i + 1) * steps if steps else sum(c.real for c in calls[: i + 1]))
        if bar is not None:
            bar.reach(total)
    return plan.collect(outputs)


@functools.partial(jax.jit, static_argnums=0)
def constrain(problem: Problem, batch, z):
    """Every site in natural units for draws ``z [units, chains, draws, dim]``: leaves ``[units, chains, draws, ...]``."""
    over_draws = jax.vmap(jax.vmap(problem.constrain, in_axes=(0, None)), in_axes=(0, None))
    return jax.vmap(over_draws)(z, batch)


def _scatter(outputs, num_curves: int):
    """Reassemble per-chunk outputs (dropping chunk padding) into arrays over all curves.

    A statistic that only some chunks have (``auto`` reports sampler statistics
    only for chunks where it ran the sampler) is False, 0 or NaN elsewhere.
    """
    merged = []
    for part in range(len(outputs[0][1])):
        first = outputs[0][1][part]
        if isinstance(first, dict):
            examples = {k: v for _, out in outputs for k, v in out[part].items()}
            full = {k: np.full((num_curves, *v.shape[1:]), engines.missing(v.dtype), v.dtype) for k, v in examples.items()}
            for chunk, out in outputs:
                for k, v in out[part].items():
                    full[k][chunk.index] = v[: len(chunk.index)]
        else:
            full = np.empty((num_curves, *first.shape[1:]), first.dtype)
            for chunk, out in outputs:
                full[chunk.index] = out[part][: len(chunk.index)]
        merged.append(full)
    return merged


def _column(data, col) -> np.ndarray:
    return np.asarray(data[col], dtype=np.float64)
