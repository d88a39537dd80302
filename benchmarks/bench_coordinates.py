"""End-point coordinates against reference-scale coordinates, on the same curves and seeds.

power_law with default priors, Student-t likelihood. For each design and each
coordinate system (``ends``: ``bs.laws.get("power_law")``, the default;
``reference``: ``law._replace(coordinates=None)``, the reference-scale coordinates alone
item 4), per curve:

- ``importance``: Pareto k of importance-corrected Laplace (median / 90% / max,
  share above 0.7 = share ``auto`` escalates to NUTS);
- ``auto``: ms per curve of the second call (the first compiles);
- ``nuts``: ``--chains`` x (``--warmup`` + ``--draws``): mean and max leapfrog
  steps per draw, divergences, curves with r_hat > 1.01, max r_hat, min bulk ESS;
- agreement: on ``--check`` curves per design, posterior means and 90%
  intervals of (E, log A, alpha, sigma) from NUTS in ends coordinates against a
  long NUTS run in reference coordinates (``--long-draws`` per chain), per
  curve: the largest |difference of means| in units of the combined MCSE, the
  largest difference of interval ends as a share of the long run's interval
  width, and the long run's own r_hat and divergences.

    python benchmarks/bench_coordinates.py [--curves 64] [--designs power flat]
"""

from __future__ import annotations

import argparse
import warnings

import arviz as az
import jax
import numpy as np
from common import Timer, environment, markdown_rows, nearly_flat_curves, power_law_curves

import bayescale as bs

jax.config.update("jax_enable_x64", True)

DESIGNS = {"power": power_law_curves, "flat": nearly_flat_curves}
PARAMS = ("E", "A", "alpha", "sigma")


def coordinates(name: str) -> bs.laws.Law:
    law = bs.laws.get("power_law")
    return law if name == "ends" else law._replace(coordinates=None)


def fit(df, law, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return bs.fit(df, law=law, group="curve", method=method, seed=0, progress=False, **kw)


def importance_row(df, law):
    k = np.asarray(fit(df, law, "importance").curve_stats["pareto_k"], float)
    return {"k median": round(float(np.median(k)), 2), "k 90%": round(float(np.quantile(k, 0.9)), 2),
            "k max": round(float(k.max()), 2), "k > 0.7": f"{np.mean(k > 0.7):.0%}"}


def auto_row(df, law):
    fit(df, law, "auto")
    with Timer() as warm:
        f = fit(df, law, "auto")
    served = np.asarray(f.curve_stats["engine"])
    return {"auto ms/curve": round(1e3 * warm.seconds / len(f.groups), 1), "auto to NUTS": f"{np.mean(served != 'importance'):.0%}"}


def nuts_row(df, law, chains, warmup, draws):
    with Timer() as t:
        f = fit(df, law, "nuts", chains=chains, warmup=warmup, draws=draws)
    diag = f.diagnostics()
    steps = np.asarray(f.sample_stats["n_steps"])
    return {"nuts s (with compile)": round(t.seconds, 1),
               "leapfrog/draw mean": round(float(steps.mean()), 1), "leapfrog/draw max": int(steps.max()),
               "divergences": int(diag["divergences"].sum()), "curves r_hat>1.01": int((diag["max_r_hat"] > 1.01).sum()),
               "max r_hat": round(float(diag["max_r_hat"].max()), 3),
               "min bulk ESS": int(diag["min_ess_bulk"].min())}


def agreement(short, long, curves):
    """Per curve: the largest |mean difference| / combined MCSE and interval-end shift / long width over
    PARAMS (A on log scale: its intervals span decades on flat curves), with the long run's own max r_hat
    and divergences (a long run that did not mix is no reference)."""
    rows = []
    long_diag = long.diagnostics()
    for c in curves:
        z_max, shift_max = 0.0, 0.0
        for p in PARAMS:
            a, b = short.posterior[p][c], long.posterior[p][c]  # [chains, draws]
            if p == "A":
                a, b = np.log(a), np.log(b)
            mcse = np.hypot(float(az.mcse(a, method="mean")), float(az.mcse(b, method="mean")))
            z_max = max(z_max, abs(a.mean() - b.mean()) / mcse)
            qa, qb = np.quantile(a, [0.05, 0.95]), np.quantile(b, [0.05, 0.95])
            shift_max = max(shift_max, float(np.max(np.abs(qa - qb)) / (qb[1] - qb[0])))
        rows.append({"curve": c, "max |mean diff| / MCSE": round(z_max, 1),
                     "max interval shift / width": f"{shift_max:.1%}",
                     "long run max r_hat": round(float(long_diag["max_r_hat"].iloc[c]), 3),
                     "long run divergences": int(long_diag["divergences"].iloc[c])})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=int, default=64)
    ap.add_argument("--designs", nargs="+", default=["flat", "power"])
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--check", type=int, default=4, help="curves per design checked against long NUTS")
    ap.add_argument("--long-draws", type=int, default=5000)
    ap.add_argument("--coordinates", nargs="+", default=["reference", "ends"])
    ap.add_argument("--skip", nargs="*", default=[], help="passes to skip: importance auto nuts check")
    args = ap.parse_args()
    print(environment())
    rows = []
    for design in args.designs:
        df = DESIGNS[design](args.curves, seed=0)
        for coords in args.coordinates:
            law = coordinates(coords)
            row = {"design": design, "coordinates": coords}
            if "importance" not in args.skip:
                row.update(importance_row(df, law))
            if "auto" not in args.skip:
                row.update(auto_row(df, law))
            if "nuts" not in args.skip:
                stats = nuts_row(df, law, args.chains, args.warmup, args.draws)
                row.update(stats)
            rows.append(row)
            print(markdown_rows([row]), flush=True)
        if "check" not in args.skip:
            sub = df[df["curve"] < args.check]
            long = fit(sub, coordinates("reference"), "nuts", chains=4, warmup=1000, draws=args.long_draws)
            short = fit(sub, coordinates("ends"), "nuts", chains=4, warmup=1000, draws=1000)
            checks = agreement(short, long, range(args.check))
            print(f"{design}: NUTS 4 x (1000 + 1000) in ends coordinates against 4 x (1000 + {args.long_draws}) "
                  f"in reference coordinates")
            print(markdown_rows(checks), flush=True)
    print()
    print(markdown_rows(rows))


if __name__ == "__main__":
    main()
