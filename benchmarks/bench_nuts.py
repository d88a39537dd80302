"""NUTS over many curves in one call vs. a Python loop of numpyro.infer.MCMC per curve.

Both sides run the same NumPyro model (bayescale's, with the same priors and
likelihood) with the same chains, warmup and draws. The loop is what users
write today: a new ``MCMC(NUTS(model))`` per curve, run to completion. It is
timed on a subset of the curves and reported per curve. Posterior means of the
two are compared on that subset in units of their combined Monte Carlo
standard error.

    python benchmarks/bench_nuts.py [--curves 500] [--loop-curves 10]
"""

from __future__ import annotations

import argparse
import warnings

import arviz as az
import jax
import numpy as np
from common import Timer, environment, power_law_curves
from numpyro.infer import MCMC, NUTS

import bayescale as bs
from bayescale._src.model.data import pad
from bayescale._src.model.model import ModelSpec, build_model, make_likelihood

PARAMS = ["E", "alpha", "A", "sigma"]


def loop_fit(df, curves, chains, warmup, draws, seed):
    """The baseline: one numpyro MCMC per curve."""
    law = bs.laws.power_law
    spec = ModelSpec(law, bs.priors.resolve(law, None), make_likelihood("student_t"))
    model = build_model(spec)
    means, mcse = {}, {}
    for c in curves:
        sub = df[df["curve"] == c]
        batch = pad({"x": sub["x"].to_numpy()}, sub["loss"].to_numpy(), [np.arange(len(sub))])
        args = ({"x": batch.inputs["x"][0]}, batch.log_y[0], batch.mask[0], {"x": batch.log_refs["x"][0]})
        mcmc = MCMC(NUTS(model), num_warmup=warmup, num_samples=draws, num_chains=chains,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.PRNGKey(seed + int(c)), *args)
        idata = az.from_numpyro(mcmc)
        summ = az.summary(idata, var_names=PARAMS, round_to="none")
        means[c], mcse[c] = summ["mean"], summ["mcse_mean"]
    return means, mcse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=int, default=500)
    ap.add_argument("--loop-curves", type=int, default=10)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    args = ap.parse_args()
    warnings.simplefilter("ignore", bs.FitWarning)
    print(environment())
    df = power_law_curves(args.curves, seed=0)
    kw = dict(law="power_law", group="curve", chains=args.chains, warmup=args.warmup, draws=args.draws, seed=0)

    with Timer() as cold:
        bs.fit(df, **kw)
    with Timer() as warm:
        fit = bs.fit(df, **kw)
    per_curve = warm.seconds / args.curves
    print(f"bayescale batched NUTS, {args.curves} curves x {args.chains} chains x ({args.warmup}+{args.draws}):")
    print(f"  first call {cold.seconds:.1f} s (with compilation), second call {warm.seconds:.1f} s "
          f"= {1e3 * per_curve:.1f} ms per curve")
    n_div = int(fit.sample_stats["diverging"].sum())
    print(f"  divergences {n_div}, curves with problems {sum(1 for p in fit.problems if 'r_hat' in p)} (r_hat)")

    curves = list(range(args.loop_curves))
    with Timer() as loop:
        means, mcse = loop_fit(df, curves, args.chains, args.warmup, args.draws, seed=1)
    loop_per_curve = loop.seconds / len(curves)
    print(f"numpyro MCMC loop, {len(curves)} curves: {loop.seconds:.1f} s = {loop_per_curve:.2f} s per curve")
    print(f"RATIO loop / batched per curve: {loop_per_curve / per_curve:.0f}x "
          f"(batched time includes compilation on first call: {loop_per_curve / (cold.seconds / args.curves):.0f}x)")

    summary = fit.summary()
    z = []
    for c in curves:
        ours = summary.xs(c, level=0)
        se = np.sqrt(ours["mcse_mean"] ** 2 + mcse[c] ** 2)
        z.extend(((ours["mean"] - means[c]) / se).loc[PARAMS].tolist())
    z = np.abs(np.asarray(z))
    print(f"posterior means, batched vs loop: |diff| / MCSE median {np.median(z):.2f}, max {z.max():.2f}, "
          f"share within 3 MCSE {np.mean(z < 3):.2f} over {len(z)} means")


if __name__ == "__main__":
    main()
