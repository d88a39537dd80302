"""The result of a fit: posterior draws in natural units, their diagnostics and predictions.

A :class:`Fit` holds one posterior per curve. Without a group column there is
one curve and every table is indexed by parameter; with one, tables gain the
group level and ``fit[label]`` is that curve's own :class:`Fit`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Mapping, Sequence

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from bayescale._src.fit import chain_stats, diagnostics, discrepancy as discrepancy_mod, predictive


from bayescale._src.fit import netcdf as io
from bayescale._src.model.data import Columns, as_inputs, bucket_size, check_new_inputs
from bayescale._src.model import runs as runs_mod
from bayescale._src.model.model import NOISE, ModelSpec, pointwise_log_likelihood, run_pointwise_log_likelihood
from bayescale._src.precision import float64_methods


@float64_methods
@dataclasses.dataclass(eq=False, repr=False)
class Fit:
    """Posterior of a law given one or many curves.

    Attributes
    ----------
    spec
        The full model spec: law, priors, likelihood (``law`` is ``spec.law``).
    method
        The engine's name (``"nuts"``, ``"laplace"``, ``"map"``).
    columns
        Which table columns fed the law's inputs, the loss and the groups.
    groups
        Label of each curve (``[None]`` for an ungrouped fit).
    rows
        For each curve, the positions of its rows in ``inputs`` and ``y``.
    inputs, y
        The law's inputs and the loss, one entry per row of the table.
    runs
        With ``run=``: the integer code of each row's training run (see
        :mod:`bayescale._src.model.runs`); ``None`` otherwise.
    posterior
        ``{site: array [curves, chains, draws]}``: every law parameter under its
        public name in natural units, ``sigma``, and the sampler's
        coordinates (``log_<name>_ref``, or a law's end-point coordinates,
        :mod:`bayescale._src.model.coordinates.ends`, :mod:`bayescale._src.model.coordinates.saturation_ends`,
        :mod:`bayescale._src.model.coordinates.two_term_ends`, :mod:`bayescale._src.model.coordinates.repetition_ends`,
        :mod:`bayescale._src.model.coordinates.shared_exponent`,
        :mod:`bayescale._src.model.coordinates.ratio_ends`, :mod:`bayescale._src.model.coordinates.bounded_ends`).
    sample_stats
        Sampler statistics with the same leading axes (engines with Markov chains).
    settings
        The seed and engine settings the fit ran with.
    mode
        ``{site: array [curves]}``: the posterior mode (the centre of the
        Laplace approximation, where NUTS starts).
    mode_ok
        Per curve, False where the Hessian at the mode was not positive-definite.
    curve_stats
        ``{name: array [curves]}``: per-curve statistics of the engine, e.g.
        ``pareto_k`` and ``ess_importance`` of importance sampling (Laplace:
        ``pareto_k`` of its own draws, and ``nonfinite_share``), and for
        ``method="auto"`` the ``engine`` that served each curve
        (``"importance"`` or ``"nuts"``) and ``importance_stages`` (8, or 12
        where the longer second importance pass ran).
    hyper
        ``{site: array [chains, draws]}``: the population parameters of a
        partially pooled fit (``<name>_mu``, ``<name>_tau``,
        ``<name>_population``); empty otherwise.
    problems
        Messages of the diagnostics that failed (see :meth:`diagnostics`).
    """

    spec: ModelSpec
    method: str
    columns: Columns
    groups: list[Any]
    rows: list[np.ndarray]
    inputs: Mapping[str, np.ndarray]
    y: np.ndarray
    posterior: Mapping[str, np.ndarray]
    sample_stats: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    mode: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    mode_ok: np.ndarray | None = None
    curve_stats: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    hyper: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    runs: np.ndarray | None = None

    def __post_init__(self):
        self.groups = list(self.groups)
        self.rows = [np.asarray(r) for r in self.rows]
        self.inputs = {k: np.asarray(v) for k, v in self.inputs.items()}
        self.y = np.asarray(self.y)
        self.posterior = {k: np.asarray(v) for k, v in self.posterior.items()}
        self.sample_stats = {k: np.asarray(v) for k, v in (self.sample_stats or {}).items()}
        self.settings = dict(self.settings or {})
        self.mode = {k: np.asarray(v) for k, v in (self.mode or {}).items()}
        self.mode_ok = np.ones(len(self.groups), bool) if self.mode_ok is None else np.asarray(self.mode_ok)
        self.curve_stats = {k: np.asarray(v) for k, v in (self.curve_stats or {}).items()}
        self.hyper = {k: np.asarray(v) for k, v in (self.hyper or {}).items()}
        self.problems = list(self.problems)

    @classmethod
    def from_draws(cls, **fields: Any) -> "Fit":
        """A fit from an engine's draws (in natural units), with its diagnostics run and warned about.

        Takes :class:`Fit`'s fields except ``problems``. Engines with Markov
        chains are checked for divergences, r_hat and ESS; the others for a
        positive-definite Hessian at the mode; posteriors of independent curves
        for domination by a default prior.
        """
        fit = cls(**fields)
        labels = np.asarray(fit.groups if fit.grouped else [None], dtype=object)
        markov = fit.chain_served
        problems = []
        if markov.any():
            divergences = fit.sample_stats["diverging"].reshape(len(fit.groups), -1).sum(axis=1)
            problems += diagnostics.check(fit._chain_summary(markov), divergences[markov], list(labels[markov]))
        tempered = fit.tempering_served
        around_mode = ~markov & ~tempered
        if around_mode.any():
            problems += diagnostics.check_mode(fit.mode_ok[around_mode], list(labels[around_mode]))
            if "nonfinite_share" in fit.curve_stats:
                problems += diagnostics.check_nonfinite(fit.curve_stats["nonfinite_share"][around_mode],
                                                        list(labels[around_mode]))
            if "pareto_k" in fit.curve_stats:
                problems += diagnostics.check_importance(fit.curve_stats["pareto_k"][around_mode],
                                                         list(labels[around_mode]), method=fit.method)
        if tempered.any():
            problems += diagnostics.check_tempering(fit.curve_stats["log_evidence"][tempered], list(labels[tempered]))
        if fit.is_posterior and not fit.hyper:
            problems += diagnostics.check_prior(fit.spec, fit.posterior, [len(r) for r in fit.rows], list(labels))
        fit.problems = problems
        return fit

    @property
    def served(self) -> np.ndarray:
        """The engine that made each curve's draws (``method``, except where ``auto`` escalated)."""
        if "engine" in self.curve_stats:
            return np.asarray(self.curve_stats["engine"], dtype=str)
        return np.full(len(self.groups), self.method)

    @property
    def chain_served(self) -> np.ndarray:
        """Which curves Markov chains (NUTS, ChEES) served: the curves r_hat and ESS apply to."""
        return np.asarray(self.curve_stats["markov"], bool)

    @property
    def tempering_served(self) -> np.ndarray:
        """Which curves tempered SMC served: draws moved from the prior, with no mode or proposal to check."""
        return self.served == "smc"

    @property
    def is_posterior(self) -> bool:
        """True when the draws represent a posterior, not only its mode (every method but ``map``)."""
        return bool(self.settings["posterior"])

    @property
    def law(self):
        return self.spec.law

    # ------------------------------------------------------------------ structure
    @property
    def grouped(self) -> bool:
        return self.columns.group is not None

    @property
    def param_names(self) -> list[str]:
        """Law parameters and the noise scale, in the law's order (then ``run_sd``, ``run_length`` with runs)."""
        return [*self.law.param_names, NOISE, *(runs_mod.SITES if self.spec.likelihood.runs else ())]

    @property
    def ok(self) -> bool:
        """True when every diagnostic passed (see ``problems`` and :meth:`diagnostics`)."""
        return not self.problems

    def curve_problems(self, label: Any) -> list[str]:
        """The messages of ``problems`` that concern curve ``label`` (every message for an ungrouped fit)."""
        if not self.grouped:
            return list(self.problems)
        prefix = f"curve {label!r}: "
        out = [p[len(prefix):] for p in self.problems if p.startswith(prefix)]
        i = self.groups.index(label)
        if not self.mode_ok[i] and not self.chain_served[i] and not self.tempering_served[i]:
            # check_mode reports the flat modes of a batch in one message; attribute it per curve
            out.append("the Hessian at the mode is not positive-definite: the Laplace approximation is "
                       "not to be trusted; use method='nuts'")
        return out

    def diagnostics(self) -> pd.DataFrame:
        """Convergence diagnostics per curve, one row per curve.

        Columns: ``divergences`` (divergent transitions of NUTS or ChEES after warmup),
        ``max_r_hat`` (rank-normalized split r_hat, worst parameter),
        ``min_ess_bulk`` and ``min_ess_tail`` (worst parameter; Vehtari et al.
        2021, "Rank-normalization, folding, and localization", Bayesian
        Analysis), ``mode_ok`` (positive-definite Hessian at the mode),
        ``problems`` (how many messages of ``problems`` concern the curve) and
        ``ok``. Statistics that a method does not define are NaN: divergences,
        r_hat and ESS need Markov chains, NUTS or ChEES (Laplace and MAP draws
        are independent by construction). Importance sampling (``"importance"``,
        ``"auto"``) adds ``pareto_k`` (PSIS shape; above 0.7 the draws are not
        to be trusted) and ``ess_importance`` (effective sample size of the
        smoothed weights); ``"laplace"`` adds ``pareto_k`` of the importance
        ratios of its own draws, posterior over Gaussian (above 0.7 the Gaussian
        misses part of the posterior: use ``"auto"``); ``"auto"`` adds ``engine``, the engine that served
        each curve, and ``importance_stages`` (12 where the first importance
        pass failed and the longer second one ran; ``pareto_k`` is then the
        second's where it served); tempered SMC (``"smc"``, or ``"auto"`` for
        a law whose ``sampler`` is ``"smc"``) adds
        ``smc_stages``, its number of tempering steps (such curves have no
        mode or proposal to check: a tempering that stopped short of the
        posterior is their problem).
        """
        n = len(self.groups)
        table = pd.DataFrame(index=pd.Index(self.groups if self.grouped else [0],
                                            name=self.columns.group if self.grouped else "curve"))
        if "diverging" in self.sample_stats:
            table["divergences"] = self.sample_stats["diverging"].reshape(n, -1).sum(axis=1)
        else:
            table["divergences"] = np.nan
        markov = self.chain_served
        summary = self._chain_summary(markov)
        for column, name, how in (("r_hat", "max_r_hat", "max"), ("ess_bulk", "min_ess_bulk", "min"),
                                  ("ess_tail", "min_ess_tail", "min")):
            if summary is None or column not in summary:
                table[name] = np.nan
            elif self.grouped:
                table[name] = getattr(summary[column].groupby(level=0, sort=False), how)().reindex(self.groups).values
            else:
                table[name] = getattr(summary[column], how)()
        # resampled importance draws look independent to arviz, whose r_hat and ESS then say nothing
        table.loc[~markov, ["divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail"]] = np.nan
        table["mode_ok"] = self.mode_ok.astype(bool)
        if "engine" in self.curve_stats:
            table["engine"] = self.served
        tempered = self.tempering_served
        for name in ("pareto_k", "ess_importance"):
            if name in self.curve_stats:
                table[name] = np.where(markov | tempered, np.nan, self.curve_stats[name])
        if "smc_stages" in self.curve_stats:
            table["smc_stages"] = np.where(tempered, self.curve_stats["smc_stages"], np.nan)
        if "importance_stages" in self.curve_stats:
            table["importance_stages"] = self.curve_stats["importance_stages"]
        counts = [len(self.curve_problems(label)) for label in self.groups]
        table["problems"] = counts
        table["ok"] = np.asarray(counts) == 0
        return table

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, label) -> "Fit":
        if not self.grouped:
            raise TypeError("this fit has no group column; index a grouped fit by group label")
        try:
            i = self.groups.index(label)
        except ValueError:
            raise KeyError(f"no group {label!r} in column {self.columns.group!r}") from None
        rows = self.rows[i]
        return dataclasses.replace(
            self,
            columns=self.columns._replace(group=None),
            groups=[None],
            rows=[np.arange(len(rows))],
            inputs={k: v[rows] for k, v in self.inputs.items()},
            y=self.y[rows],
            runs=None if self.runs is None else self.runs[rows],
            posterior={k: v[i : i + 1] for k, v in self.posterior.items()},
            sample_stats={k: v[i : i + 1] for k, v in self.sample_stats.items()},
            mode={k: v[i : i + 1] for k, v in self.mode.items()},
            mode_ok=self.mode_ok[i : i + 1],
            curve_stats={k: v[i : i + 1] for k, v in self.curve_stats.items()},
            problems=self.curve_problems(label),
        )

    def __repr__(self) -> str:
        chains, draws = next(iter(self.posterior.values())).shape[1:3]
        what = f"{len(self.groups)} curves" if self.grouped else f"{len(self.y)} points"
        return f"<Fit law={self.law.name} method={self.method} {what}, {chains} chains x {draws} draws>"

    def draws(self, name: str) -> np.ndarray:
        """Draws of one site, ``[curves, chains * draws]``."""
        if name not in self.posterior:
            raise KeyError(f"no parameter {name!r}; the posterior has {sorted(self.posterior)}")
        v = self.posterior[name]
        return v.reshape(v.shape[0], -1)

    def params(self) -> pd.DataFrame:
        """All draws of the law parameters and sigma, one row per draw (and group)."""
        frames = []
        for i, label in enumerate(self.groups):
            df = pd.DataFrame({k: self.draws(k)[i] for k in self.param_names})
            if self.grouped:
                df.insert(0, self.columns.group, label)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def save(self, path) -> Path:
        """Write the fit to one netCDF file; ``bs.load(path)`` restores it (see :mod:`bayescale._src.fit.netcdf`)."""
        return io.save(self, path)

    # ------------------------------------------------------------------ arviz
    @functools.cached_property
    def idata(self) -> az.InferenceData:
        """``arviz.InferenceData`` with posterior, log_likelihood, observed_data, constant_data (and sample_stats)."""
        dims, coords = {}, {"obs": np.arange(len(self.y))}
        posterior = {}
        for k, v in self.posterior.items():
            v = np.moveaxis(v, 0, -1)  # [chains, draws, curves]
            if self.grouped:
                posterior[k] = v
                dims[k] = [self.columns.group]
            else:
                posterior[k] = v[..., 0]
        posterior.update(self.hyper)
        if self.grouped:
            coords[self.columns.group] = np.asarray(self.groups)
        y_name = self.columns.y
        stats = {k: np.moveaxis(v, 0, -1) if self.grouped else v[0] for k, v in self.sample_stats.items()}
        if self.grouped:
            dims.update({k: [self.columns.group] for k in stats})
        dims[y_name] = ["obs"]
        constant = {self.columns.inputs[k]: v for k, v in self.inputs.items()}
        for c in constant:
            dims[c] = ["obs"]
        return az.from_dict(
            posterior=posterior,
            sample_stats=stats or None,
            log_likelihood={y_name: self.pointwise_log_likelihood()},
            observed_data={y_name: self.y},
            constant_data=constant,
            coords=coords,
            dims=dims,
        )

    def posterior_dataset(self) -> xr.Dataset:
        """The law parameters and ``sigma`` as ``idata.posterior`` holds them (dims chain, draw[, group]).

        Built without the rest of :attr:`idata` (the pointwise log-likelihood
        of every draw at every point, by far its largest part), so that
        summaries of many curves need not hold it.
        """
        if "idata" in self.__dict__:
            return self.idata.posterior[self.param_names]
        dims, coords, posterior = {}, {}, {}
        for k in self.param_names:
            v = np.moveaxis(self.posterior[k], 0, -1)  # [chains, draws, curves]
            posterior[k] = v if self.grouped else v[..., 0]
            if self.grouped:
                dims[k] = [self.columns.group]
        if self.grouped:
            coords[self.columns.group] = np.asarray(self.groups)
        return az.from_dict(posterior=posterior, coords=coords, dims=dims).posterior

    def pointwise_log_likelihood(self) -> np.ndarray:
        """Log density of each observed loss under each draw, ``[chains, draws, obs]``."""
        chains, draws = next(iter(self.posterior.values())).shape[1:3]
        out = np.empty((chains, draws, len(self.y)))
        for i, idx in enumerate(self.rows):
            values = {k: jnp.asarray(self.posterior[k][i])[..., None] for k in self.law.param_names}
            sigma = jnp.asarray(self.posterior[NOISE][i])[..., None]
            # pad to the bucket size so curves of similar length share one compiled program
            padded = np.pad(idx, (0, bucket_size(len(idx)) - len(idx)), mode="edge")
            x = {k: jnp.asarray(v[padded]) for k, v in self.inputs.items()}
            if self.spec.likelihood.runs:  # conditional on the run's earlier checkpoints: idx is in run order
                layout = runs_mod.layout(padded, self.runs, self.inputs)
                mask = np.arange(len(padded)) < len(idx)
                scales = [jnp.asarray(self.posterior[k][i]) for k in runs_mod.SITES]
                lik = run_pointwise_log_likelihood(self.spec, values, sigma[..., 0], *scales, x,
                                                   jnp.log(self.y[padded]), *layout, mask)
            else:
                lik = pointwise_log_likelihood(self.spec, values, sigma, x, jnp.log(self.y[padded]))
            out[..., idx] = np.asarray(lik)[..., : len(idx)]
        return out

    def summary(self, interval: float = 0.9) -> pd.DataFrame:
        """Posterior table in natural units: mean, sd, HDI, MCSE, r_hat, bulk and tail ESS.

        Rows are the law parameters and ``sigma`` (indexed by group then
        parameter for a grouped fit). arviz's formulas, computed for every curve at once
        (:mod:`bayescale._src.fit.chain_stats`).
        """
        _check_interval(interval)
        return self._summarize(self.posterior_dataset(), interval)

    def _chain_summary(self, markov: np.ndarray) -> pd.DataFrame | None:
        """:meth:`summary` of the curves that Markov chains served (``markov``, a mask over curves); None if none.

        r_hat and ESS say nothing of the others' draws, and computing them for
        every curve of an ``auto`` fit took as long as the fit (measured: 500
        curves, 10 of 21 s).
        """
        if not markov.any():
            return None
        ds = self.posterior_dataset()
        if self.grouped and not markov.all():
            ds = ds.isel({self.columns.group: np.flatnonzero(markov)})
        return self._summarize(ds, 0.9)

    def _summarize(self, ds: xr.Dataset, interval: float) -> pd.DataFrame:
        lo, hi = f"hdi_{50 * (1 - interval):g}%", f"hdi_{100 - 50 * (1 - interval):g}%"
        n_draws = ds.sizes["chain"] * ds.sizes["draw"]
        stats = {
            "mean": ds.mean(("chain", "draw")),
            "sd": ds.std(("chain", "draw"), ddof=1) if n_draws > 1 else ds.isel(chain=0, draw=0) * np.nan,
        }
        # arviz's HDI, MCSE, ESS and r_hat, computed for every curve at once (chain_stats: arviz works one
        # curve and parameter at a time, which took longer than fitting them with ``auto``)
        series = {k: ds[k].transpose(..., "chain", "draw") for k in self.param_names}
        shape = {k: v.shape[:-2] for k, v in series.items()}
        flat = np.concatenate([v.values.reshape(-1, *v.shape[-2:]) for v in series.values()])
        sizes = np.cumsum([int(np.prod(shape[k])) for k in series])[:-1]

        def per_name(values, like) -> xr.Dataset:
            return xr.Dataset({k: like[k].isel(chain=0, draw=0, drop=True).copy(data=part.reshape(shape[k]))
                               for k, part in zip(series, np.split(values, sizes))})

        low, high = chain_stats.hdi(flat.reshape(len(flat), -1), interval)
        stats[lo], stats[hi] = per_name(low, series), per_name(high, series)
        if ds.sizes["chain"] > 1 and ds.sizes["draw"] >= 4:
            for name, values in chain_stats.summary_stats(flat).items():
                stats[name] = per_name(values, series)
        stats = {name: stats[name] for name in ("mean", "sd", lo, hi, "mcse_mean", "ess_bulk", "ess_tail", "r_hat")
                 if name in stats}
        frames = {name: _to_frame(s, self.param_names, self.columns.group) for name, s in stats.items()}
        return pd.DataFrame(frames)

    def hyper_summary(self, interval: float = 0.9) -> pd.DataFrame:
        """Posterior table of the population parameters of a partially pooled fit (arviz summary)."""
        if not self.hyper:
            raise ValueError("this fit has no population parameters; fit with pooling='partial'")
        _check_interval(interval)
        chains = next(iter(self.hyper.values())).shape[0]
        # r_hat and ESS need several chains; Laplace draws are independent and have one
        kind = "all" if chains > 1 else "stats"
        return az.summary(self.idata, var_names=sorted(self.hyper), hdi_prob=interval, kind=kind)

    # ------------------------------------------------------------------ prediction
    def predict(
        self,
        new: Any,
        interval: float = 0.9,
        kind: str = "mean",
        seed: int = 0,
        columns: Mapping[str, str] | None = None,
        discrepancy: Any = "default",
    ) -> pd.DataFrame:
        """Posterior predictive at new inputs.

        Parameters
        ----------
        new
            Dict or DataFrame of input values, keyed by the law's input names
            (or by the column names the fit was given).
        interval
            Central (equal-tailed) probability of ``lower``..``upper``.
        kind
            ``"mean"``: the law's value, uncertain through the parameters and, beyond the fitted
            data, the law's own error (``discrepancy``). ``"observation"``: a new run's loss, adding
            the fitted noise.
        discrepancy
            The law's own error, growing with the distance from the fitted data
            (:mod:`bayescale._src.fit.discrepancy`, Kennedy & O'Hagan 2001):
            ``"default"`` (the prior calibrated on real held-out curves,
            ``bs.Discrepancy()``), a :class:`~bayescale.Discrepancy`, or
            ``None`` for the law assumed exactly true (the bands of the
            parameters alone). It is zero inside each curve's fitted range.

        Returns
        -------
        DataFrame with the inputs (under the fit's column names), ``mean``,
        ``median``, ``lower``, ``upper`` (and the group column for a grouped fit).
        """
        _check_interval(interval)
        if kind not in ("mean", "observation"):
            raise ValueError(f"kind must be 'mean' or 'observation', got {kind!r}")
        mapping = {k: c for k, c in self.columns.inputs.items()}
        mapping.update(columns or {})
        x = as_inputs(self.law, new, mapping)
        values = self.predictive_draws(x, kind=kind, seed=seed, discrepancy=discrepancy)  # [curves, S, M]
        names = {k: self.columns.inputs[k] for k in x}
        return band_table(values, x, names, self.groups, self.columns.group, interval)

    def observation_scale(self) -> np.ndarray:
        """Draws of the sd of a new observation around the law (observed scale), ``[curves, draws]``.

        ``sigma`` for independent points; for a fit with ``run=``, a checkpoint of a
        new run, ``sqrt(sigma^2 + run_sd^2)`` (its own run deviation, stationary,
        plus the nugget: :func:`bayescale._src.model.runs.new_run_scale`). The one scale
        of observation bands and of the discrepancy term, in ``predict`` and in
        ``bs.evaluate`` alike.
        """
        sigma = self.draws(NOISE)
        if not self.spec.likelihood.runs:
            return sigma
        return np.asarray(runs_mod.new_run_scale(sigma, self.draws(runs_mod.RUN_SD)))

    def predictive_draws(self, x: Mapping[str, np.ndarray], kind: str = "mean", seed: int = 0,
                         discrepancy: Any = None) -> np.ndarray:
        """Draws of the law (or of a new observation) at inputs ``x``: ``[curves, draws, points]``.

        Without ``discrepancy`` (the default here, unlike :meth:`predict`) the
        law is taken as exactly true: what simulation-based calibration checks.
        """
        key = jax.random.PRNGKey(seed)
        # the noise keeps its stream whether or not the discrepancy is on
        _, full, _, _ = curve_draws(self, np.arange(len(self.groups)), x, key, kind == "observation", discrepancy,
                                    jax.random.fold_in(key, 1))
        return full


def curve_draws(fit: Fit, index: Sequence[int], x: Mapping[str, np.ndarray], noise_key, observation: bool,
                discrepancy: Any = None, shift_key=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, jax.Array]:
    """Predictive draws of curves ``index`` of ``fit`` at inputs ``x`` (leaves ``[points]``, shared, or
    ``[curves, points]``, each curve's own): the one composition of the discrepancy
    (:func:`~bayescale._src.fit.discrepancy.shifts`, drawn with ``shift_key``) and the predictive
    (:func:`~bayescale._src.fit.predictive.draws`, noise drawn with ``noise_key``) behind ``Fit.predict``,
    ``Fit.predictive_draws`` and ``bs.evaluate``.

    Returns the law's own values, the full predictive and each draw's location in the likelihood's space
    (``[curves, draws, points]`` each), and the observation scales ``[curves, draws]`` they used.
    """
    check_new_inputs(fit.law, x)
    idx = np.asarray(index)
    params = {k: jnp.asarray(fit.draws(k)[idx]) for k in fit.law.param_names}
    sigma = jnp.asarray(fit.observation_scale()[idx])
    xs = {k: jnp.asarray(v) for k, v in x.items()}
    prior = discrepancy_mod.resolve(discrepancy)
    shift = jnp.zeros(())
    if prior is not None:
        fitted = discrepancy_mod.fitted_inputs(fit.law, fit.inputs, [fit.rows[i] for i in idx])
        source = discrepancy_mod.source_inputs(prior, fit.spec)
        shift = discrepancy_mod.shifts(prior, fit.spec, params, fitted, xs, shift_key, source)
    law, full, location = predictive.draws(fit.spec, params, sigma, xs, noise_key, observation, shift)
    return np.asarray(law), np.asarray(full), np.asarray(location), sigma


def band_table(values: np.ndarray, x: Mapping[str, np.ndarray], names: Mapping[str, str], groups: list[Any],
               group_column: str | None, interval: float) -> pd.DataFrame:
    """Predictive draws ``[curves, draws, points]`` as a table: inputs (named ``names``), mean, median and
    the central ``interval`` band, one block of rows per curve (with the group column when grouped)."""
    q = np.quantile(values, [0.5, (1 - interval) / 2, (1 + interval) / 2], axis=1)
    frames = []
    for i, label in enumerate(groups):
        df = pd.DataFrame({names[k]: v for k, v in x.items()})
        df["mean"] = values[i].mean(axis=0)
        df["median"], df["lower"], df["upper"] = q[0, i], q[1, i], q[2, i]
        if group_column is not None:
            df.insert(0, group_column, label)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _check_interval(interval: float) -> None:
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")


def _to_frame(ds: xr.Dataset, names: list[str], group: str | None) -> pd.Series:
    if group is None:
        return pd.Series({n: float(ds[n]) for n in names})
    frame = pd.DataFrame({n: ds[n].to_series() for n in names})
    frame.columns.name = "parameter"
    return frame.stack()
