"""Simulation-based calibration of every registered law under its default priors.

    PYTHONPATH=. python benchmarks/bench_sbc.py                     # every law, 500 data sets each
    PYTHONPATH=. python benchmarks/bench_sbc.py --laws power_law chinchilla --datasets 500

For each law, ``bs.sbc`` draws parameters from the default priors, simulates
one noisy curve per draw at a fixed design (:func:`design`: the IsoFLOP profile
laws get one budget's sweep, the others a range of sizes or an (N, D) grid), fits all of them with NUTS in one
batched call and reports the coverage of the central 50/80/90/95% intervals
of every parameter, of ``sigma`` and of the law's value at 10x the largest
observed size. A calibrated 90% interval over n data sets has coverage within
0.90 +- 2.6 sqrt(0.09 / n) with probability 0.99 (0.873-0.927 for n = 500).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import Timer, environment  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale._src.analysis.sbc import coverage_band  # noqa: E402


def markdown(table: pd.DataFrame) -> str:
    """A pipe table (pandas' to_markdown needs tabulate, not a dependency)."""
    cols = [table.index.name or "", *table.columns]
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + " --- |" * len(cols)]
    for idx, row in table.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(idx), *cells]) + " |")
    return "\n".join(lines)


def design(law: bs.Law, generic: bool = False) -> dict[str, np.ndarray]:
    """A fixed design per law: 20 sizes over three decades, a 5 x 5 grid of (N, D), or an IsoFLOP profile.

    Laws with a unique-token input ``U`` repeat the data 1 to 16 times across the grid's columns. The IsoFLOP
    profile laws (input ``N`` alone: ``isoflop_parabola``, ``isoflop_slice``) take the model sizes of one budget's
    sweep in units of its centre, as ``bs.isoflop`` gives them: 8 sizes even in log N over 1.2 decades with
    geometric mean 1 (``simulate_sweeps``' default sweep), the scale their ``N_opt`` prior is written for.
    ``generic``: the grid's N for them instead (5 sizes, each 5 times, 1e7 to 1e9: raw model sizes, which
    the laws' docstring says need a prior of ``N_opt`` in those units).
    """
    if law.inputs == ("x",):
        return {"x": np.geomspace(1e6, 1e9, 20)}
    if law.inputs == ("N",) and not generic:
        return {"N": 10.0 ** np.linspace(-0.6, 0.6, 8)}
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 5), np.geomspace(1e9, 1e11, 5))
    epochs = np.tile([1.0, 2.0, 4.0, 8.0, 16.0], 5)
    grid = {"N": n.ravel(), "D": d.ravel(), "C": 6 * n.ravel() * d.ravel(), "U": d.ravel() / epochs}
    return {k: grid[k] for k in law.inputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laws", nargs="*", default=bs.laws.names())
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=None,
                        help="NUTS warmup per chain (default: 1000 with --method auto, as bs.fit's auto runs; else 500)")
    parser.add_argument("--draws", type=int, default=None, help="draws per chain (default: as --warmup)")
    parser.add_argument("--target-accept", type=float, default=0.8)
    parser.add_argument("--method", choices=("nuts", "laplace", "importance", "auto"), default="nuts",
                        help="auto: importance-corrected Laplace, a longer importance pass, then NUTS (the --chains/--warmup/--draws settings) where Pareto k stays > 0.7")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generic-design", action="store_true",
                        help="the IsoFLOP profile laws on the N of the (N, D) grid instead of a profile (see design)")
    parser.add_argument("--csv", default=None, help="append the coverage rows to this CSV file")
    parser.add_argument("--reference-coordinates", action="store_true",
                        help="fit in reference-scale coordinates (law._replace(coordinates=None)), not the law's own")
    parser.add_argument("--max-pareto-k", type=float, default=None,
                        help="the law's max_pareto_k for auto (default: the law's own, or auto's 0.7)")
    parser.add_argument("--sampler", choices=("nuts", "smc"), default=None,
                        help="the law's sampler under auto (Law.sampler; default: the law's own)")
    args = parser.parse_args()
    if args.generic_design and not any(bs.laws.get(name).inputs == ("N",) for name in args.laws):
        parser.error("--generic-design changes only the IsoFLOP profile laws' design (isoflop_parabola, isoflop_slice)")
    if args.max_pareto_k is not None and args.method != "auto":
        parser.error("--max-pareto-k is auto's escalation threshold: it needs --method auto")
    if args.sampler is not None and args.method != "auto":
        parser.error("--sampler is how auto samples the law's curves: it needs --method auto")
    default_length = 1000 if args.method == "auto" else 500
    args.warmup = default_length if args.warmup is None else args.warmup
    args.draws = default_length if args.draws is None else args.draws
    print(environment())
    if args.method == "nuts":
        print(f"NUTS {args.chains} chains x ({args.warmup} warmup + {args.draws} draws), "
              f"target_accept_prob={args.target_accept}, {args.datasets} data sets per law", flush=True)
    elif args.method == "auto":
        print(f"auto: importance-corrected Laplace ({args.chains} x {args.draws} draws kept), NUTS {args.chains} chains x "
              f"({args.warmup} warmup + {args.draws} draws) where Pareto k stays > 0.7 (or the law's max_pareto_k) after a second, longer importance pass, {args.datasets} data sets per law",
              flush=True)
    else:
        print(f"{args.method}, {args.draws} draws, {args.datasets} data sets per law", flush=True)
    lo, hi = coverage_band(0.9, args.datasets)
    print(f"a calibrated 90% coverage lies in [{lo:.3f}, {hi:.3f}] with probability 0.99", flush=True)
    for name in args.laws:
        law = bs.laws.get(name)
        if args.reference_coordinates:
            law = law._replace(coordinates=None)
        if args.max_pareto_k is not None:
            law = law._replace(max_pareto_k=args.max_pareto_k)
        if args.sampler is not None:
            law = law._replace(sampler=args.sampler)
        with Timer() as t:
            sampler = dict(chains=args.chains, warmup=args.warmup, target_accept_prob=args.target_accept)
            try:
                res = bs.sbc(law, args.datasets, design(law, args.generic_design), method=args.method, seed=args.seed,
                             draws=args.draws,
                             **(sampler if args.method in ("nuts", "auto") else {}))
            except ValueError as err:  # e.g. the default priors simulate curves that overflow at this design
                print(f"\n## {name}: not calibrated: {err}", flush=True)
                continue
        table = res.coverage.copy()
        table.insert(0, "law", name)
        table["flagged"] = 1 - res.ok.mean()
        # the share of data sets whose chains diverged at least once (of those chains served; NaN if none)
        divergences = res.diagnostics["divergences"].dropna()
        table["divergent"] = float(np.mean(divergences > 0)) if len(divergences) else np.nan
        # the share auto sent to its sampler (0 for a single engine), apart from every diagnostic's flag
        table["escalated"] = float(np.mean(res.served != "importance")) if args.method == "auto" else 0.0
        table["seconds"] = round(t.seconds, 1)
        print(f"\n## {name}: {t.seconds:.0f} s, {100 * (1 - res.ok.mean()):.0f}% of fits flagged by diagnostics, "
              f"{100 * table['escalated'].iloc[0]:.0f}% escalated, "
              + ("no chains" if np.isnan(table["divergent"].iloc[0])
                 else f"{100 * table['divergent'].iloc[0]:.0f}% with divergent transitions"))
        print(markdown(table), flush=True)
        if args.csv:
            table.to_csv(args.csv, mode="a", header=not os.path.exists(args.csv))


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
