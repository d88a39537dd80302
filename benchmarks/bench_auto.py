"""``method="auto"`` against a loop of ``numpyro.infer.MCMC`` and against long NUTS runs.

On four designs -- a realistic sweep (``common.sweep_curves``: 200 curves of 12-40 points over 1e6..1e8, many
nearly flat), ``bench_nuts.py``'s power-law curves (20-60 points), the nearly flat curves of
``common.nearly_flat_curves`` (15 points, the power term often small against E), all fitted with ``power_law``,
and Chinchilla-type N-D sweeps (``common.chinchilla_sweeps``: 4-6 IsoFLOP budgets x 5-9 sizes, 20-54 runs per
sweep, fitted with ``chinchilla``) -- it measures:

0. **Where the time goes and whether the bands cover.** ``bs.fit(..., group="curve")`` with the default method
   after a warm-up call on 4 curves (its time is printed) and a first call on all curves (what the warm-up left
   to compile); the timed call's wall time per stage of ``auto`` (mode search, first importance pass, second
   importance pass, NUTS; :class:`StageClock`), the share of curves served by NUTS, and the coverage of the 90%
   intervals of the exponents and of the law at 10x the largest x (for the N-D sweeps: at ``sqrt(10)`` times the
   largest N and D, 10x the largest compute) in the law-only band, on the simulated truths.
1. **Time and ESS per curve.** ``auto`` over every curve in one call (second call, compiled), with the
   effective sample size of each curve's draws: the ESS of the smoothed importance weights for curves the
   importance pass served, the worst bulk ESS over the parameters for curves it sent to NUTS. The baseline
   is what users write today: a new ``MCMC(NUTS(model))`` per curve (the same bayescale model, priors and
   likelihood; 4 chains x (1000 + 1000), numpyro's defaults), timed on the first ``--loop-curves`` curves,
   with its worst bulk ESS. The ratio is of ESS per second per curve (medians over curves).
2. **Agreement with long runs.** On those curves, bayescale NUTS 4 x (1000 + ``--long-draws``) at
   ``target_accept_prob=--long-target-accept`` (0.99: at 0.8 the long runs on nearly flat curves diverge
   hundreds of times and are no reference): per curve and parameter the difference of posterior means in
   combined Monte Carlo standard errors (auto's MCSE is sd / sqrt(ESS)) and the largest shift of a 90%
   interval end as a share of the long run's width. ``A`` is compared as ``log A``: on a curve flat within
   its noise its posterior spans ten orders of magnitude (the sampler's coordinate is its log), and in
   natural units its mean and its 95% quantile are those of a far tail that no finite run pins down.

    python benchmarks/bench_auto.py [--designs sweep power flat] [--sweep-curves 200] [--power-curves 500]
        [--flat-curves 64] [--chinchilla-sweeps 64] [--loop-curves 8] [--long-draws 5000]
        # --long-draws 0: no long NUTS runs; --designs chinchilla: the N-D sweeps
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import NamedTuple

import arviz as az
import jax
import numpy as np
import pandas as pd
from common import (
    Timer,
    chinchilla_sweeps,
    environment,
    markdown_rows,
    nearly_flat_curves,
    power_law_curves,
    sweep_curves,
)
from numpyro.infer import MCMC, NUTS

import bayescale as bs
from bayescale._src.engines import auto, importance
from bayescale._src.model.data import pad
from bayescale._src.model.model import ModelSpec, build_model, make_likelihood
from bayescale._src.precision import float64

QUANTILES = (0.05, 0.95)


class Design(NamedTuple):
    """A benchmark design: its curves (a ``curve`` column and the true parameters as columns) and its law."""

    name: str
    frame: pd.DataFrame
    law: str

    @property
    def bs_law(self) -> bs.Law:
        return bs.laws.get(self.law)

    @property
    def columns(self) -> dict:
        """``bs.fit``'s column arguments."""
        inputs = self.bs_law.inputs
        where = {"x": "x"} if inputs == ("x",) else {"columns": {k: k for k in inputs}}
        return {**where, "y": "loss", "group": "curve", "law": self.law}

    @property
    def params(self) -> list[str]:
        return [*self.bs_law.param_names, "sigma"]

    @property
    def exponents(self) -> list[str]:
        return [k for k in ("alpha", "beta") if k in self.bs_law.param_names]


def curve_ess(fit: bs.Fit) -> np.ndarray:
    """Each curve's effective sample size: of its importance weights, or its worst bulk ESS where NUTS served it."""
    diag = fit.diagnostics()
    return np.where(diag["engine"] == "nuts", diag["min_ess_bulk"], diag["ess_importance"]).astype(float)


def moments(samples: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float, float]]:
    """(mean, sd, 5% quantile, 95% quantile) of each parameter's draws."""
    return {k: (float(np.mean(v)), float(np.std(v)), *map(float, np.quantile(v, QUANTILES))) for k, v in samples.items()}


@float64  # as bs.fit runs: the same model in the same precision
def numpyro_loop(spec: Design, curves, seed: int = 1) -> list[dict]:
    """One ``MCMC(NUTS(model))`` per curve, numpyro's defaults (4 chains x (1000 + 1000), vectorized chains)."""
    df, law = spec.frame, spec.bs_law
    model = build_model(ModelSpec(law, bs.priors.resolve(law, None), make_likelihood("student_t")))
    out = []
    for c in curves:
        sub = df[df["curve"] == c]
        batch = pad({k: sub[k].to_numpy() for k in law.inputs}, sub["loss"].to_numpy(), [np.arange(len(sub))])
        args = ({k: batch.inputs[k][0] for k in law.inputs}, batch.log_y[0], batch.mask[0],
                {k: batch.log_refs[k][0] for k in law.inputs})
        start = time.perf_counter()
        mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4, chain_method="vectorized",
                    progress_bar=False)
        mcmc.run(jax.random.PRNGKey(seed + int(c)), *args)
        samples = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(samples)
        seconds = time.perf_counter() - start
        ess = az.ess(az.from_numpyro(mcmc), var_names=spec.params, method="bulk")
        out.append({"curve": c, "seconds": seconds, "ess": min(float(ess[k]) for k in spec.params)})
    return out


class StageClock:
    """Wall time of the stages of ``method="auto"`` (mode search, first importance pass, second importance pass,
    NUTS), measured by wrapping the module functions that ``auto.run`` calls and waiting for their outputs; a stage
    called inside another (the second pass's importance sampling) counts toward the outer one."""

    STAGES = {"mode": (auto, "start"), "importance": (importance, "reweigh"), "retry": (auto, "retry"),
              "nuts": (auto, "escalated")}

    def __init__(self):
        self.seconds = dict.fromkeys(self.STAGES, 0.0)
        self._depth = 0
        self._saved = {}

    def _wrap(self, name, fn):
        def timed(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                out = jax.block_until_ready(fn(*args, **kwargs))
            finally:
                self._depth -= 1
            self.seconds[name] += time.perf_counter() - start
            return out
        return timed

    def __enter__(self):
        for name, (module, attr) in self.STAGES.items():
            self._saved[name] = getattr(module, attr)
            setattr(module, attr, self._wrap(name, self._saved[name]))
        return self

    def __exit__(self, *exc):
        for name, (module, attr) in self.STAGES.items():
            setattr(module, attr, self._saved[name])


def coverage(fit: bs.Fit, spec: Design, factor: float = 10.0) -> dict[str, float]:
    """Share of curves whose 90% interval holds each true exponent, and the true loss (the law, no noise) at
    ``factor`` times the curve's largest inputs' scale (x; for N and D each times ``sqrt(factor)``: ``factor``
    times the compute) in the law-only band (``Fit.predict(..., discrepancy=None)``)."""
    law = spec.bs_law
    grouped = spec.frame.groupby("curve")
    truth = grouped[list(law.param_names)].first().loc[fit.groups]
    scale = factor if len(law.inputs) == 1 else np.sqrt(factor)
    x_new = {k: scale * grouped[k].max().loc[fit.groups].to_numpy()[:, None] for k in law.inputs}
    draws = {k: np.asarray(fit.posterior[k]).reshape(len(fit.groups), -1) for k in law.param_names}
    out = {}
    for k in spec.exponents:
        lo, hi = np.quantile(draws[k], QUANTILES, axis=1)
        out[k] = float(np.mean((lo <= truth[k].to_numpy()) & (truth[k].to_numpy() <= hi)))
    band = np.asarray(law.fn(draws, x_new))  # the band of predict(discrepancy=None)
    lo, hi = np.quantile(band, QUANTILES, axis=1)
    true_loss = np.asarray(law.fn({k: truth[k].to_numpy()[:, None] for k in law.param_names}, x_new))[:, 0]
    out[f"loss at {factor:g}x"] = float(np.mean((lo <= true_loss) & (true_loss <= hi)))
    return out


def compared(fit: bs.Fit, name: str, i: int) -> np.ndarray:
    """A parameter's draws ``[chains, draws]`` of curve ``i`` on the scale they are compared on (log A)."""
    draws = np.asarray(fit.posterior[name][i])
    return np.log(draws) if name in ("A", "B") else draws


def agreement(fit: bs.Fit, ess: np.ndarray, long: bs.Fit, curves, params: list[str]) -> list[dict]:
    """Per curve: the largest |mean difference| in combined MCSEs and the largest interval-end shift / width."""
    rows = []
    for c in curves:
        i, j = fit.groups.index(c), long.groups.index(c)
        ours = moments({k: compared(fit, k, i) for k in params})
        theirs = moments({k: compared(long, k, j) for k in params})
        z, shift = [], []
        for k in params:
            mean, sd, lo, hi = ours[k]
            long_mean, _, long_lo, long_hi = theirs[k]
            mcse = np.hypot(sd / np.sqrt(ess[i]), float(az.mcse(compared(long, k, j))))
            z.append(abs(mean - long_mean) / mcse)
            shift.append(max(abs(lo - long_lo), abs(hi - long_hi)) / (long_hi - long_lo))
        diag = long.diagnostics().loc[c]
        rows.append({"curve": c, "engine": fit.served[i], "max |mean diff| / MCSE": round(max(z), 1),
                     "max interval shift / width": f"{100 * max(shift):.1f}%",
                     "long run max r_hat": round(float(diag["max_r_hat"]), 3),
                     "long run divergences": int(diag["divergences"])})
    return rows


def design(spec: Design, loop_curves: int, long_draws: int,
           long_target_accept: float, warmup_curves: int = 4) -> tuple[dict, list[dict]]:
    """One design: a warm-up call on ``warmup_curves`` curves (what a user's first call compiles), a first call
    on all curves (``first``: anything the warm-up left to compile), then the timed call."""
    df, columns = spec.frame, spec.columns
    n = df["curve"].nunique()
    with Timer() as cold:
        bs.fit(df[df["curve"] < warmup_curves], **columns, seed=0)
    with Timer() as first:
        bs.fit(df, **columns, seed=1)
    with StageClock() as clock, Timer() as warm:
        fit = bs.fit(df, **columns, seed=0)
    ess = curve_ess(fit)
    per_curve = warm.seconds / n
    covered = coverage(fit, spec)
    curves = list(range(loop_curves))
    loop = numpyro_loop(spec, curves)
    loop_seconds = np.array([r["seconds"] for r in loop])
    loop_ess = np.array([r["ess"] for r in loop])
    rows = []
    if long_draws:
        long = bs.fit(df[df["curve"].isin(curves)], **columns, method="nuts", seed=2, draws=long_draws,
                      target_accept_prob=long_target_accept)
        rows = [{"design": spec.name, **row} for row in agreement(fit, ess, long, curves, spec.params)]
    auto_rate = np.median(ess / per_curve)
    loop_rate = np.median(loop_ess / loop_seconds)
    stages = {k: 1e3 * v / n for k, v in clock.seconds.items()}
    stages["other"] = 1e3 * per_curve - sum(stages.values())
    summary = {
        "design": f"{spec.name} ({n} curves, {spec.law})",
        "auto ms/curve (warm-up on 4; first call)": f"{1e3 * per_curve:.1f} ({1e3 * cold.seconds:.0f} ms; "
                                                    f"{1e3 * first.seconds / n:.0f})",
        "ms/curve mode / IS / IS retry / NUTS / other": " / ".join(f"{v:.1f}" for v in stages.values()),
        "escalated to NUTS": f"{np.mean(fit.served == 'nuts'):.1%}",
        "90% coverage": ", ".join(f"{k} {v:.3f}" for k, v in covered.items()),
        "auto ESS/curve median (min)": f"{np.median(ess):.0f} ({np.min(ess):.0f})",
        "auto ESS/s per curve": f"{auto_rate:.0f}",
        f"numpyro loop s/curve ({loop_curves})": f"{np.mean(loop_seconds):.2f}",
        "loop ESS/curve median (min)": f"{np.median(loop_ess):.0f} ({np.min(loop_ess):.0f})",
        "loop ESS/s per curve": f"{loop_rate:.0f}",
        "ratio ESS/s": f"{auto_rate / loop_rate:.0f}x",
        "ratio time/curve": f"{np.mean(loop_seconds) / per_curve:.0f}x",
    }
    return summary, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--power-curves", type=int, default=500)
    ap.add_argument("--flat-curves", type=int, default=64)
    ap.add_argument("--loop-curves", type=int, default=8)
    ap.add_argument("--long-draws", type=int, default=5000)
    ap.add_argument("--long-target-accept", type=float, default=0.99)
    ap.add_argument("--sweep-curves", type=int, default=200)
    ap.add_argument("--chinchilla-sweeps", type=int, default=64)
    ap.add_argument("--designs", nargs="+", default=["sweep", "power", "flat", "chinchilla"])
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(environment())
    make = {"power": lambda: Design("power", power_law_curves(args.power_curves, seed=0), "power_law"),
            "flat": lambda: Design("flat", nearly_flat_curves(args.flat_curves, seed=0), "power_law"),
            "sweep": lambda: Design("sweep", sweep_curves(args.sweep_curves, seed=0), "power_law"),
            "chinchilla": lambda: Design("chinchilla", chinchilla_sweeps(args.chinchilla_sweeps, seed=0),
                                         "chinchilla")}
    summaries, checks = [], []
    for name in args.designs:
        summary, rows = design(make[name](), args.loop_curves, args.long_draws, args.long_target_accept)
        print(summary, flush=True)
        summaries.append(summary)
        checks += rows
    print(markdown_rows(summaries))
    if checks:
        print()
        print(markdown_rows(checks))


if __name__ == "__main__":
    main()
