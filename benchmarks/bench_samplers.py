"""NUTS against ChEES-HMC over many curves: effective samples per second per curve.

Both engines fit the same curves with the same model (power law, default priors,
Student-t likelihood) through ``bs.fit``, at about the same number of kept draws
per curve (4000 by default: NUTS 4 chains x 1000, ChEES 16 chains x 250). Each
configuration is called twice: the first call's time includes compilation, the
second is the run alone. Per curve: the smallest bulk ESS over the parameters
(E, alpha, A, sigma), ESS per second of the second call's time per curve,
divergences, max r_hat, and the mean number of leapfrog steps per draw.

Designs:

- ``power``: bench_nuts.py's curves (``common.power_law_curves``: 20-60 points,
  E 1.5-2.5, A 50-500, alpha 0.2-0.45, 1% log-normal noise).
- ``flat``: nearly flat curves of 15 points over x = 1e6..1e9, E 1-3,
  log A 2-6, alpha 0.15-0.6, 2% Gaussian noise (many are barely identified).

``--kernel`` also times the jittered-HMC transition alone, blackjax's
``dynamic_hmc`` kernel against a hand-written one (the same leapfrog, step size
and number of steps), to decide whether blackjax costs anything at run time.

    python benchmarks/bench_samplers.py [--curves 64] [--designs power flat] [--kernel]
"""

from __future__ import annotations

import argparse
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from common import Timer, environment, markdown_rows, power_law_curves

import bayescale as bs

jax.config.update("jax_enable_x64", True)


def flat_curves(num_curves: int, seed: int = 0, points: int = 15) -> pd.DataFrame:
    """Nearly flat power-law curves: 15 points, E 1-3, log A 2-6, alpha 0.15-0.6, 2% Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e9, points)
    frames = []
    for c in range(num_curves):
        E, A, alpha = rng.uniform(1, 3), np.exp(rng.uniform(2, 6)), rng.uniform(0.15, 0.6)
        mean = E + A * x**-alpha
        frames.append(pd.DataFrame({"x": x, "loss": mean * (1 + 0.02 * rng.standard_normal(points)), "curve": c}))
    return pd.concat(frames, ignore_index=True)


DESIGNS = {"power": power_law_curves, "flat": flat_curves}


def run_config(df, method, chains, warmup, draws, chunk_size):
    kw = {"law": "power_law", "group": "curve", "method": method, "chains": chains, "warmup": warmup,
          "draws": draws, "chunk_size": chunk_size, "seed": 0, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        with Timer() as cold:
            bs.fit(df, **kw)
        with Timer() as warm:
            fit = bs.fit(df, **kw)
    n = len(fit.groups)
    diag = fit.diagnostics()
    ess = diag["min_ess_bulk"].to_numpy()
    per_curve = warm.seconds / n
    return {
        "method": method,
        "chains x (warmup+draws)": f"{chains} x ({warmup}+{draws})",
        "chunk": chunk_size,
        "compile s": round(cold.seconds - warm.seconds, 1),
        "run s": round(warm.seconds, 1),
        "ms/curve": round(1e3 * per_curve, 1),
        "leapfrog/draw": round(float(fit.sample_stats["n_steps"].mean()), 1),
        "min ESS bulk (median)": round(float(np.median(ess)), 0),
        "min ESS bulk (5%)": round(float(np.quantile(ess, 0.05)), 0),
        "ESS/s/curve (median)": round(float(np.median(ess)) / per_curve, 0),
        "ESS/s/curve (5%)": round(float(np.quantile(ess, 0.05)) / per_curve, 0),
        "divergences": int(diag["divergences"].sum()),
        "curves r_hat>1.01": int((diag["max_r_hat"] > 1.01).sum()),
        "max r_hat": round(float(diag["max_r_hat"].max()), 3),
    }


# ---------------------------------------------------------------- the kernel alone
def kernel_timing(units=32, chains=16, steps=200, num_leapfrog=8, step_size=0.3, dim=4):
    """Seconds for ``steps`` transitions of ``units x chains`` jittered-HMC chains: blackjax vs hand-written.

    The target is a correlated Gaussian (the whitened posterior of a curve is close to one), so the
    comparison measures the kernels' overhead, not the model's gradient.
    """
    from blackjax.mcmc import dynamic_hmc

    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    prec = jnp.asarray(q @ np.diag(np.geomspace(0.5, 2.0, dim)) @ q.T)

    def logdensity(u):
        return -0.5 * u @ prec @ u

    imm = jnp.ones(dim)

    def bj_chain(key, u0):
        kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda i: i + 1,
                                          integration_steps_fn=lambda i: jnp.asarray(num_leapfrog, int))
        state = dynamic_hmc.init(u0, logdensity, 0)

        def step(s, k):
            s, _ = kernel(k, s, logdensity, step_size, imm)
            return s, s.position[0]

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1]

    grad = jax.value_and_grad(logdensity)

    def hand_chain(key, u0):
        def leapfrog(carry, _):
            u, p, g = carry
            p = p + 0.5 * step_size * g
            u = u + step_size * p
            _, g = grad(u)
            return (u, p + 0.5 * step_size * g, g), None

        def step(carry, k):
            u, lp, g = carry
            k1, k2 = jax.random.split(k)
            p0 = jax.random.normal(k1, (dim,))
            (u1, p1, g1), _ = jax.lax.scan(leapfrog, (u, p0, g), None, length=num_leapfrog)
            lp1 = logdensity(u1)
            log_accept = lp1 - 0.5 * p1 @ p1 - lp + 0.5 * p0 @ p0
            accept = jnp.log(jax.random.uniform(k2)) < log_accept
            new = (jnp.where(accept, u1, u), jnp.where(accept, lp1, lp), jnp.where(accept, g1, g))
            return new, new[0][0]

        lp, g = grad(u0)
        return jax.lax.scan(step, (u0, lp, g), jax.random.split(key, steps))[1]

    out = {}
    keys = jax.random.split(jax.random.PRNGKey(0), units * chains).reshape(units, chains, 2)
    u0 = jnp.asarray(rng.standard_normal((units, chains, dim)))
    for name, chain in (("blackjax dynamic_hmc", bj_chain), ("hand-written leapfrog", hand_chain)):
        f = jax.jit(jax.vmap(jax.vmap(chain)))
        with Timer() as cold:
            jax.block_until_ready(f(keys, u0))
        best = np.inf
        for _ in range(3):
            with Timer() as warm:
                jax.block_until_ready(f(keys, u0))
            best = min(best, warm.seconds)
        out[name] = (cold.seconds - best, best)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=int, default=64)
    ap.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    ap.add_argument("--nuts", default="4,500,1000", help="chains,warmup,draws")
    ap.add_argument("--chees", default="16,500,250", help="chains,warmup,draws")
    ap.add_argument("--chees-chunks", default="16", help="chunk sizes (curves per compiled call) for ChEES")
    ap.add_argument("--kernel", action="store_true", help="also time blackjax's HMC kernel against a hand-written one")
    args = ap.parse_args()
    print(environment())
    nuts = [int(v) for v in args.nuts.split(",")]
    chees = [int(v) for v in args.chees.split(",")]
    if args.kernel:
        for name, (compile_s, run_s) in kernel_timing().items():
            print(f"kernel {name}: 32 units x 16 chains x 200 transitions x 8 leapfrog steps: "
                  f"run {run_s:.3f} s (best of 3), compile {compile_s:.1f} s")
    for design in args.designs:
        df = DESIGNS[design](args.curves, seed=0)
        rows = [run_config(df, "nuts", *nuts, chunk_size=16)]
        print(design, rows[-1], flush=True)
        for chunk in (int(c) for c in args.chees_chunks.split(",")):
            rows.append(run_config(df, "chees", *chees, chunk_size=chunk))
            print(design, rows[-1], flush=True)
        print(f"\n### design {design}: {args.curves} curves\n")
        print(markdown_rows(rows), flush=True)


if __name__ == "__main__":
    main()
