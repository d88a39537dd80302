"""Epoch AI's bootstrap of the Chinchilla fit: bayescale's batched refits vs scipy L-BFGS-B per resample.

The baseline is what users run today (Besiroglu et al. 2024): for each
resample, ``scipy.optimize.minimize(method="L-BFGS-B")`` on the Huber
(delta 1e-3) objective of log residuals in the log-sum-exp parameterization
(a, b, e, alpha, beta), with numerical gradients. Both sides start each refit
from the same full-data optimum and refit the same resamples; the objectives
reached are compared resample by resample.

    python benchmarks/bench_bootstrap.py [--resamples 4000] [--scipy-resamples 200]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from common import Timer, environment
from scipy.optimize import minimize
from scipy.special import huber

import bayescale as bs
from bayescale._src.model.data import prepare, resolve_columns
from bayescale._src.model.problem import to_device
from bayescale._src.analysis.resampling import point_spec, refit, resample_counts

EPOCH_95 = {"alpha": (0.317, 0.373), "beta": (0.331, 0.415), "E": (1.769, 1.871)}


def epoch_objective(p, log_n, log_d, log_loss, weights):
    a, b, e, alpha, beta = p
    pred = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)
    return np.sum(weights * huber(1e-3, pred - log_loss))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=4000)
    ap.add_argument("--scipy-resamples", type=int, default=200)
    args = ap.parse_args()
    print(environment())
    df = bs.datasets.load("chinchilla")

    with Timer() as cold:
        boot = bs.bootstrap(df, law="chinchilla", n=args.resamples, seed=0)
    with Timer() as warm:
        boot = bs.bootstrap(df, law="chinchilla", n=args.resamples, seed=0)
    full = boot.attrs["full_fit"]
    ours_per_fit = warm.seconds / args.resamples
    print(f"full-data Huber optimum {full['objective']:.10f} (Epoch AI: 0.0010182740); "
          + ", ".join(f"{k}={full[k]:.4g}" for k in ("E", "A", "B", "alpha", "beta")))
    print(f"bayescale bootstrap, {args.resamples} resamples: {warm.seconds:.2f} s "
          f"({cold.seconds:.1f} s first call with compilation) = {1e3 * ours_per_fit:.3f} ms per fit")
    q = boot.quantile([0.025, 0.975])
    for k, (lo, hi) in EPOCH_95.items():
        print(f"  95% {k}: {q.loc[0.025, k]:.4f}-{q.loc[0.975, k]:.4f}   (Epoch AI {lo}-{hi})")

    # the same resamples through scipy, from the same start
    law = bs.laws.chinchilla
    batch, _, _ = prepare(df, law, resolve_columns(law, "loss", None, None, None))
    counts = np.asarray(resample_counts(jax.random.split(jax.random.PRNGKey(0))[1], batch.mask[0], args.resamples))
    m = int(batch.mask[0].sum())
    log_n, log_d = np.log(batch.inputs["N"][0, :m]), np.log(batch.inputs["D"][0, :m])
    log_loss = batch.log_y[0, :m]
    x0 = np.array([np.log(full["A"]), np.log(full["B"]), np.log(full["E"]), full["alpha"], full["beta"]])
    k = args.scipy_resamples
    ours = boot["objective"].to_numpy()[:k]
    tight = {"ftol": 1e-15, "gtol": 1e-11, "maxiter": 20000, "maxfun": 200000}
    for label, options in (("default tolerances", {}), ("run to the same optimum", tight)):
        values = np.empty(k)
        with Timer() as sp:
            for i in range(k):
                res = minimize(epoch_objective, x0, args=(log_n, log_d, log_loss, counts[i, :m]),
                               method="L-BFGS-B", options=options)
                values[i] = res.fun
        per_fit = sp.seconds / k
        rel = (ours - values) / values
        print(f"scipy L-BFGS-B ({label}), {k} resamples: {1e3 * per_fit:.2f} ms per fit; "
              f"RATIO scipy / bayescale {per_fit / ours_per_fit:.0f}x; objective bayescale vs scipy: median "
              f"{np.median(rel):+.2e}, bayescale lower or within 1e-6 in {np.mean(rel <= 1e-6):.0%}, worst {rel.max():+.2e}")
        scipy_values = values

    # float32 (the GPU path) on the same data
    spec = point_spec(law)
    curve32 = jax.tree_util.tree_map(lambda a: a[0], to_device(batch, jnp.float32))
    z0 = jnp.asarray([np.log(full["E"]), np.log(full["alpha"]), np.log(full["beta"]),
                      np.log(full["A"]) - full["alpha"] * batch.log_refs["N"][0],
                      np.log(full["B"]) - full["beta"] * batch.log_refs["D"][0]], jnp.float32)
    c32 = jnp.asarray(counts, jnp.float32)
    jax.block_until_ready(refit(spec, curve32, z0, c32[:256], 40, 1e-3))
    v32 = []
    with Timer() as t32:
        for s in range(0, args.resamples, 256):
            v32.append(jax.block_until_ready(refit(spec, curve32, z0, c32[s : s + 256], 40, 1e-3))[1])
    rel32 = (np.concatenate([np.asarray(v, np.float64) for v in v32])[:k] - scipy_values) / scipy_values
    print(f"float32 refits: {1e3 * t32.seconds / args.resamples:.3f} ms per fit "
          f"(RATIO vs scipy to the same optimum {per_fit / (t32.seconds / args.resamples):.0f}x), "
          f"objective vs scipy median {np.median(rel32):+.2e}")


if __name__ == "__main__":
    main()
