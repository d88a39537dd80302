"""How the time of one batched call grows with the number of curves (10 to 10,000).

Power-law curves of 20-60 points; MAP and Laplace for every size, NUTS
(4 chains x 300+300) up to --nuts-max curves. Each time is the second call
(compiled); the first call's time is printed beside it.

    python benchmarks/bench_scaling.py [--sizes 10 100 1000 10000] [--nuts-max 1000]
"""

from __future__ import annotations

import argparse
import warnings

from common import Timer, environment, power_law_curves

import bayescale as bs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    ap.add_argument("--nuts-max", type=int, default=1000)
    args = ap.parse_args()
    warnings.simplefilter("ignore", bs.FitWarning)
    print(environment())
    print(f"{'method':8s} {'curves':>7s} {'first s':>9s} {'second s':>9s} {'ms/curve':>9s}")
    for method in ("map", "laplace", "nuts"):
        for n in args.sizes:
            if method == "nuts" and n > args.nuts_max:
                continue
            df = power_law_curves(n, seed=1)
            kw = dict(law="power_law", group="curve", method=method, chains=4, warmup=300, draws=300, seed=0)
            with Timer() as cold:
                bs.fit(df, **kw)
            with Timer() as warm:
                bs.fit(df, **kw)
            print(f"{method:8s} {n:7d} {cold.seconds:9.2f} {warm.seconds:9.2f} {1e3 * warm.seconds / n:9.2f}", flush=True)


if __name__ == "__main__":
    main()
