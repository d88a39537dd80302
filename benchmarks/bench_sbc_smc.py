"""SBC of `auto` against tempered SMC from the prior, for laws ``c + span exp(-rate x^shape)``.

    PYTHONPATH=. python benchmarks/bench_sbc_smc.py --law janoschek --seed 2 [--nuts 12]

The data sets and truths are ``bs.sbc``'s (``simulate``, bench_sbc.py's design:
20 sizes over 1e6..1e9), fitted once with ``method="auto"`` and once with
``method="smc"`` (adaptive tempered SMC from the prior, :mod:`bayescale._src.engines.smc`),
both with ``seed``; coverage of the central 90% interval from every draw, as ``bs.sbc`` computes it.

Each set (its truth) and each posterior draw is put in one of three basins of
the curve over the observed range ``[x_lo, x_hi]`` (``u = rate x^shape``):

- ``in range``: the curve falls by more than 2 noise sds (``log L(x_lo) - log L(x_hi) > 2 sigma``);
- ``ahead``: flat within noise but still ``> 2 sigma`` above its floor at ``x_hi``
  (``c + span = level``, ``c`` below: "not yet decayed", which needs a tiny ``rate x_hi^shape``);
- ``decayed``: flat within noise at its floor (``c = level``, the decay before ``x_lo``).

Misses of the shape parameter are split by the truth's basin and by the share of
each engine's draws in the truth's basin (hypothesis H1: the mode search, from
prior starts, lands in ``decayed`` and the importance mixture never carries
``ahead``), and by a small true shape (< 0.3) with the decay in range
(hypothesis H2: the ridge ``shape -> 0`` at fixed ``rate * shape`` to the power
law ``c + A x^-(rate shape)``). ``--nuts K`` also fits K sets (the sets ``auto``
missed first) with NUTS alone, 4 x (1000 + 1000), and compares its quantiles with SMC's
where NUTS is healthy (no divergent transition, r_hat < 1.01): the check that
SMC is a reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from bench_sbc import design
from common import Timer, environment, markdown_rows

import bayescale as bs
from bayescale._src.analysis import sbc as sbc_mod
from bayescale._src.fit import fitting
from bayescale._src.fit.results import Fit

RATES = {"janoschek": ("kappa", "delta"), "exp4": ("a", "alpha")}  # (rate, shape) of c + span exp(-rate x^shape)
LEVEL = 0.9
SMALL_SHAPE = 0.3


def basin(c, span, rate, shape, sigma, x_lo, x_hi):
    """``"in range"``, ``"ahead"`` or ``"decayed"`` for each curve (arrays broadcast)."""
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        lo = c + span * np.exp(-rate * x_lo**shape)
        hi = c + span * np.exp(-rate * x_hi**shape)
        drop, ahead = np.log(lo) - np.log(hi), np.log(hi) - np.log(c)
    return np.where(drop > 2 * sigma, "in range", np.where(ahead > 2 * sigma, "ahead", "decayed"))


def fit(law, data, method, seed, engine_settings=None, **kwargs):
    """``bs.fit``'s result and seconds; ``engine_settings`` replace fields of the engine's settings (those
    ``bs.fit`` has no keyword for, e.g. SMC's ``particles`` and ``mcmc_steps``)."""
    options = fitting.FitOptions(law=law, group=sbc_mod.GROUP, method=method, seed=seed, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as t:
            job = fitting.setup(data, options)
            job = job._replace(settings=job.settings._replace(**(engine_settings or {})))
            fields = fitting.execute(job.plan, job.engine, job.settings, job.dtype, False, job.desc)
            fields["curve_stats"] = fitting.with_markov(job.engine, fields["curve_stats"], len(job.record["groups"]))
            result = Fit.from_draws(**job.record, **fields)
    return result, t.seconds


def covered(draws, truth):
    lo, hi = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=1)
    return (lo <= truth) & (truth <= hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--law", default="janoschek", choices=list(RATES))
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--particles", type=int, default=0, help="SMC particles (0: chains x draws = 4000)")
    parser.add_argument("--mcmc-steps", type=int, default=50, help="random-walk steps per tempering step")
    parser.add_argument("--kernel", default="rw", choices=("rw", "hmc"), help="SMC's moves")
    parser.add_argument("--nuts", type=int, default=0, help="also fit this many sets with NUTS alone")
    args = parser.parse_args()
    print(environment())
    law = bs.laws.get(args.law)
    rate, shape = RATES[args.law]
    sizes = design(law)
    x_lo, x_hi = sizes["x"].min(), sizes["x"].max()
    data, truth = sbc_mod.simulate(law, args.datasets, sizes, seed=args.seed)
    names = [*law.param_names, "sigma"]
    auto, auto_s = fit(law, data, "auto", args.seed, chains=4, draws=1000, warmup=1000)
    print(f"auto {auto_s:.0f} s", flush=True)
    smc, smc_s = fit(law, data, "smc", args.seed, dict(particles=args.particles, mcmc_steps=args.mcmc_steps, kernel=args.kernel),
                     chains=4, draws=1000)
    smc_settings = f"{args.particles or 4000} particles, {args.mcmc_steps} {args.kernel} steps"
    print(f"auto {auto_s:.0f} s, smc ({smc_settings}) {smc_s:.0f} s; smc stages: median "
          f"{np.median(smc.curve_stats['smc_stages']):.0f}, max {smc.curve_stats['smc_stages'].max()}", flush=True)
    cov = {m: {q: covered(f.draws(q), truth[q]) for q in names} for m, f in (("auto", auto), ("smc", smc))}
    rows = [{"quantity": q, "auto": f"{cov['auto'][q].mean():.3f}", "smc": f"{cov['smc'][q].mean():.3f}",
             "both miss / smc only / auto only": f"{(~cov['auto'][q] & ~cov['smc'][q]).sum()} / "
                                                 f"{(cov['auto'][q] & ~cov['smc'][q]).sum()} / "
                                                 f"{(~cov['auto'][q] & cov['smc'][q]).sum()}"} for q in names]
    print(f"\n90% coverage, {args.law}, seed {args.seed}, {args.datasets} sets\n" + markdown_rows(rows), flush=True)

    true_basin = basin(truth["c"], truth["span"], truth[rate], truth[shape], truth["sigma"], x_lo, x_hi)

    def shares(f):
        b = basin(*(f.draws(n) for n in ("c", "span", rate, shape, "sigma")), x_lo, x_hi)
        return b == true_basin[:, None]

    own = {"auto": shares(auto).mean(axis=1), "smc": shares(smc).mean(axis=1)}
    served = np.asarray(auto.diagnostics()["engine"]) if "engine" in auto.diagnostics() else np.array([""])
    rows = []
    small = truth[shape] < SMALL_SHAPE
    groups = {f"truth {b}": true_basin == b for b in ("decayed", "ahead", "in range")}
    groups[f"in range, {shape} < {SMALL_SHAPE}"] = (true_basin == "in range") & small
    groups[f"flat, {shape} < {SMALL_SHAPE}"] = (true_basin != "in range") & small
    groups[f"{shape} >= {SMALL_SHAPE}"] = ~small
    for label, sel in groups.items():
        if not sel.any():
            continue
        rows.append({"sets": label, "n": int(sel.sum()),
                     f"auto: {shape}": f"{cov['auto'][shape][sel].mean():.3f}",
                     f"smc: {shape}": f"{cov['smc'][shape][sel].mean():.3f}",
                     f"auto: {rate}": f"{cov['auto'][rate][sel].mean():.3f}",
                     f"smc: {rate}": f"{cov['smc'][rate][sel].mean():.3f}",
                     "draws in the truth's basin: auto": f"{own['auto'][sel].mean():.2f}",
                     "smc": f"{own['smc'][sel].mean():.2f}",
                     "auto to NUTS": f"{np.mean(served[sel] == 'nuts'):.2f}" if len(served) > 1 else ""})
    print("\nby the truth's basin\n" + markdown_rows(rows), flush=True)
    missed = np.flatnonzero(~cov["auto"][shape])
    print(f"\nsets auto missed ({shape}): {missed.tolist()}")
    for g in missed:
        print(f"  set {g}: truth {true_basin[g]}, {shape} {truth[shape][g]:.3g}, {rate} {truth[rate][g]:.3g}, "
              f"draws in its basin auto {own['auto'][g]:.2f} smc {own['smc'][g]:.2f}, smc covers "
              f"{bool(cov['smc'][shape][g])}, auto served by {served[g] if len(served) > 1 else '?'}")
    if args.nuts:
        check = np.concatenate([missed, np.setdiff1d(np.arange(args.datasets), missed)])[: args.nuts]
        sub = data[data[sbc_mod.GROUP].isin(check)]
        nuts, nuts_s = fit(law, sub, "nuts", args.seed, chains=4, warmup=1000, draws=1000)
        diag = nuts.diagnostics()
        rows = []
        for j, g in enumerate(nuts.groups):
            healthy = diag["divergences"].iloc[j] == 0 and diag["max_r_hat"].iloc[j] < 1.01
            row = {"set": int(g), "auto missed": bool(g in missed), "NUTS healthy": healthy,
                   "divergences": int(diag["divergences"].iloc[j]), "max r_hat": f"{diag['max_r_hat'].iloc[j]:.3f}"}
            for q in (shape, rate):
                ln = np.log(nuts.draws(q)[j])
                for m, f in (("smc", smc), ("auto", auto)):
                    other = np.log(f.draws(q)[list(f.groups).index(g)])
                    diff = np.abs(np.quantile(other, [0.05, 0.5, 0.95]) - np.quantile(ln, [0.05, 0.5, 0.95]))
                    row[f"{m}-NUTS, log {q} q05/50/95 (sd)"] = "/".join(f"{d / ln.std():.2f}" for d in diff)
            rows.append(row)
        print(f"\nNUTS 4 x (1000 + 1000) on {len(check)} sets, {nuts_s:.0f} s\n" + markdown_rows(rows), flush=True)


if __name__ == "__main__":
    main()
