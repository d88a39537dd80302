"""Design under a wrong law: simulated data-constrained sweeps fitted with ``chinchilla`` (wrong) and
``data_constrained`` (right).

    PYTHONPATH=. python benchmarks/bench_design_wrong_law.py                  # 10 seeds, both laws
    PYTHONPATH=. python benchmarks/bench_design_wrong_law.py --laws chinchilla --configs random --per-seed a.csv
    PYTHONPATH=. python benchmarks/bench_design_wrong_law.py --combine a.csv b.csv ...

The truth repeats data (``bs.design.data_constrained_sweeps``: the law of Muennighoff et al. 2023,
"Scaling Data-Constrained Language Models", arXiv:2305.16264, near the paper's fit): a grid of 5 model
sizes 1e7..1e9, 7 token counts 1e9..1e12 and 1, 4, 16 or 64 epochs over the unique tokens ``U``; the
runs of the two largest token counts (40) are the target, 4 single-epoch small runs the start and the
other 96 the pool. ``chinchilla`` does not see ``U``: it is the wrong law, as it was on the paper's
own sweep (``bs.datasets.load("datablations")``). Each strategy spends 10% of the pool's cost
(6 N D) in 3 rounds of ``bs.design.replay`` (Laplace fits with the ``muennighoff2023`` priors, the
seeds of one configuration one grouped fit per round). Strategies: ``next_runs`` as it was (the
law's own draws at the target), ``next_runs`` with the law's discrepancy in the draws it reduces, and
random runs of the same budget. Reported per law and strategy, means over seeds with their standard
errors: RMSLE of the forecast's median at the target (against the noiseless truth), R^2 of the
target's log loss (per seed), coverage and mean width (log loss) of the 90% band of the law's value
with its default discrepancy, and the runs bought; then per seed the paired difference of each design
minus random.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import Timer, environment  # noqa: E402

import bayescale as bs  # noqa: E402

PRIORS = "muennighoff2023"
SHARE = 0.10
ROUNDS = 3
CONFIGS = {
    "design (law only)": ("design", {"discrepancy": None}),
    "design (with discrepancy)": ("design", {"discrepancy": "default"}),
    "random": ("random", {}),
}
LAWS = ("chinchilla", "data_constrained")


def per_seed(last: pd.DataFrame) -> pd.DataFrame:
    """One row per seed: RMSLE, R^2 of log loss, 90% coverage and width at the target, runs observed."""
    rows = {}
    for seed, g in last.groupby("seed"):
        truth, median = np.log(g["truth"]), np.log(g["median"])
        rows[seed] = {"rmsle": np.sqrt(np.mean((median - truth) ** 2)),
                      "r2": 1 - np.sum((median - truth) ** 2) / np.sum((truth - truth.mean()) ** 2),
                      "coverage": g["covered"].mean(), "width": np.mean(np.log(g["upper"]) - np.log(g["lower"])),
                      "runs": g["runs"].iloc[0]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("seed")


def simulated(seeds: int, laws=LAWS, configs=tuple(CONFIGS), per_seed_csv: str | None = None,
              share: float = SHARE, rounds: int = ROUNDS, **fit_options) -> dict[tuple[str, str], pd.DataFrame]:
    table = bs.design.data_constrained_sweeps(range(seeds))
    results = {}
    for law in laws:
        for name in configs:
            strategy, design = CONFIGS[name]
            with Timer() as t:
                out = bs.design.replay(table[["N", "D", "U", "loss", "law_value", "seed"]], law,
                                       start=(table.role == "start").to_numpy(),
                                       target=(table.role == "target").to_numpy(), budget_share=share,
                                       strategy=strategy, design=design or None, rounds=rounds, group="seed",
                                       truth="law_value", kind="mean", priors=PRIORS, **fit_options)
            results[law, name] = per_seed(out[out["round"] == rounds]).assign(seconds=t.seconds)
            if per_seed_csv:
                pd.concat(results, names=["law", "strategy"]).to_csv(per_seed_csv)
            print(summary({(law, name): results[law, name]}).iloc[0].to_dict(), flush=True)
    return results


def real(random_seeds: int = 10, laws=LAWS, configs=tuple(CONFIGS), share: float = SHARE,
         rounds: int = ROUNDS) -> dict[tuple[str, str], pd.DataFrame]:
    """Replay on the paper's sweep: the 26 runs of ``bs.datasets.heldout("datablations")`` (>= 1e11 tokens) the
    target, the 4 cheapest others the start; random choice over ``random_seeds`` seeds (one row each)."""
    df = bs.datasets.load("datablations")
    target = (df["tokens_D"] >= 1e11).to_numpy()
    cost = df["params_N"] * df["tokens_D"]
    start = df.index.isin(cost[~target].nsmallest(4).index)
    columns = {"N": "params_N", "D": "tokens_D", "U": "unique_tokens_U"}
    results = {}
    for law in laws:
        names = {k: columns[k] for k in bs.laws.get(law).inputs}
        for name in configs:
            strategy, design = CONFIGS[name]
            copies = random_seeds if strategy == "random" else 1
            table = pd.concat([df.assign(seed=i) for i in range(copies)], ignore_index=True)
            with Timer() as t:
                out = bs.design.replay(table, law, start=np.tile(start, copies), target=np.tile(target, copies),
                                       budget_share=share, strategy=strategy, design=design or None, rounds=rounds,
                                       y="val_loss", columns=names, group="seed", kind="observation",
                                       priors=PRIORS)
            results[law, name] = per_seed(out[out["round"] == rounds]).assign(seconds=t.seconds)
            print(summary({(law, name): results[law, name]}).iloc[0].to_dict(), flush=True)
    return results


def read_per_seed(paths) -> dict[tuple[str, str], pd.DataFrame]:
    frame = pd.concat([pd.read_csv(p) for p in paths])
    return {key: g.set_index("seed").drop(columns=["law", "strategy"])
            for key, g in frame.groupby(["law", "strategy"], sort=False)}


def _mean_se(values: pd.Series) -> str:
    return f"{values.mean():.4f} +- {values.std() / np.sqrt(len(values)):.4f}"


def summary(results: dict) -> pd.DataFrame:
    rows = []
    for (law, name), t in results.items():
        rows.append({"fitted law": law, "strategy": name, "RMSLE": _mean_se(t.rmsle), "R^2": _mean_se(t.r2),
                     "90% coverage": _mean_se(t.coverage), "90% width": _mean_se(t.width),
                     "runs": f"{t.runs.mean():.1f}",
                     "seconds": f"{t['seconds'].iloc[0]:.0f}" if "seconds" in t else ""})
    return pd.DataFrame(rows)


def paired(results: dict) -> pd.DataFrame:
    """Per seed, each design's RMSLE and R^2 minus random's: mean +- se, and the seeds where the design is better."""
    rows = []
    for law, name in results:
        if name == "random" or (law, "random") not in results:
            continue
        a, b = results[law, name], results[law, "random"]
        d_rmsle, d_r2 = a.rmsle - b.rmsle, a.r2 - b.r2
        rows.append({"fitted law": law, "comparison": f"{name} - random", "RMSLE diff": _mean_se(d_rmsle),
                     "R^2 diff": _mean_se(d_r2), "design better (RMSLE)": f"{int((d_rmsle < 0).sum())}/{len(a)}"})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for _, row in table.iterrows()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--laws", nargs="+", default=list(LAWS), choices=LAWS)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--share", type=float, default=SHARE, help="budget, as a share of the pool's cost")
    parser.add_argument("--method", default="laplace", help="the fits' method (default: %(default)s)")
    parser.add_argument("--part", choices=("simulated", "real"), default="simulated",
                        help="simulated sweeps, or the replay of the paper's own sweep (datablations)")
    parser.add_argument("--per-seed", help="write the per-seed results to this CSV")
    parser.add_argument("--combine", nargs="+", metavar="CSV", help="only print the tables of earlier --per-seed files")
    args = parser.parse_args()
    if args.combine:
        results = read_per_seed(args.combine)
    elif args.part == "real":
        print(environment())
        warnings.simplefilter("ignore", bs.FitWarning)
        results = real(args.seeds, args.laws, args.configs, args.share)
        print(f"\n## Replay of the datablations sweep ({args.share:.0%} of the pool's cost; random over {args.seeds} "
              "seeds)\n\n" + markdown(summary(results)), flush=True)
        return
    else:
        print(environment())
        warnings.simplefilter("ignore", bs.FitWarning)
        results = simulated(args.seeds, args.laws, args.configs, args.per_seed, args.share, method=args.method)
    print(f"\n## Simulated data-constrained sweeps ({args.seeds} seeds, {args.share:.0%} of the pool's cost)\n\n"
          + markdown(summary(results)), flush=True)
    print("\n## Paired differences (per seed: design minus random)\n\n" + markdown(paired(results)), flush=True)


if __name__ == "__main__":
    main()
