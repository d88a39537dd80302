"""Bayesian experimental design (bs.design) against random, cheapest-first and D-optimal choices.

    PYTHONPATH=. python benchmarks/bench_design.py                 # everything (about an hour on 2 busy cores)
    PYTHONPATH=. python benchmarks/bench_design.py --seeds 20 --skip-chinchilla
    # budgets in parallel processes, then one table:
    PYTHONPATH=. python benchmarks/bench_design.py --skip-chinchilla --skip-scoring --shares 0.01 --per-seed a.csv
    PYTHONPATH=. python benchmarks/bench_design.py --combine a.csv b.csv ...

1. Simulated Chinchilla-type sweeps, one per seed (40 by default): the true law's parameters are
   drawn from the ``hoffmann2022`` preset (the prior the fits use, so a calibrated 90% band
   covers the truth 90% of the time), Gaussian noise of 0.01 on log loss. The pool:
   120 candidate runs, 15 model sizes on each of 8 IsoFLOP budgets 6e18..3e21 FLOP;
   the start: 4 runs at 1e18 FLOP; the target: three runs (N_opt/2, N_opt, 2 N_opt of
   the true law) at 3e23 FLOP, 100x the largest candidate. Each strategy spends 1%, 5%
   and 10% of the pool's cost in 3 rounds (``bs.design.replay`` with ``method="auto"`` fits,
   importance-corrected Laplace with NUTS where its Pareto k is above 0.7, ``--method`` to
   change; the seeds of one configuration are one grouped fit per round). Reported: per seed, the RMS log error of the median at the
   target and the mean width of the 90% band in log loss (mean, median and sd over
   seeds), the band's coverage of the true law (with its standard error over seeds), the
   runs bought, and the paired differences design minus baseline per seed (mean,
   standard error, seeds where the design is lower).
2. Replay on the bundled Chinchilla runs: the 24 largest-compute runs are the target
   (their recorded loss, with the observation band), the 4 cheapest the start, the rest
   the pool; 5% and 10% of the pool's cost, Laplace fits (replay's default) and the default
   discrepancy term (``--chinchilla-discrepancy none``: the law's own band). Random choice is
   averaged over 20 seeds.
3. The time to score 1,000 candidates with 1,000 posterior draws (one call of
   ``next_runs``, after its first call compiled it).
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

PRESET = "hoffmann2022"
NOISE = 0.01  # of bs.design.chinchilla_sweeps: 120 pool runs on 8 IsoFLOPs 6e18..3e21, targets at 3e23
ROUNDS = 3
CONFIGS = (("design", "gaussian"), ("design", "shortlist"), ("d_optimal", None), ("random", None), ("cheapest", None))


def config_name(strategy: str, criterion: str | None) -> str:
    return strategy if criterion is None else f"{strategy} ({criterion})"


def per_seed(last: pd.DataFrame) -> pd.DataFrame:
    """One row per seed: RMS log error of the median at the target, mean 90% width in log loss, coverage, runs."""
    groups = last.groupby("seed")
    return pd.DataFrame({
        "rmsle": groups["log_error"].apply(lambda e: np.sqrt(np.mean(e**2))),
        "width": (np.log(last["upper"]) - np.log(last["lower"])).groupby(last["seed"]).mean(),
        "covered": groups["covered"].mean(), "runs": groups["runs"].first()})


def simulated(seeds: int, shares=(0.01, 0.05, 0.10), per_seed_csv: str | None = None,
              configs=CONFIGS, rounds: int = ROUNDS, **fit_options) -> dict[tuple[str, str], pd.DataFrame]:
    """Each (budget, strategy)'s per-seed results (also written to ``per_seed_csv`` as they come)."""
    table = bs.design.chinchilla_sweeps(range(seeds), PRESET, noise=NOISE)
    results = {}
    for share in shares:
        for strategy, criterion in configs:
            with Timer() as t:
                out = bs.design.replay(table[["N", "D", "loss", "law_value", "seed"]], "chinchilla",
                                       start=(table.role == "start").to_numpy(), target=(table.role == "target").to_numpy(),
                                       budget_share=share, strategy=strategy, criterion=criterion or "gaussian",
                                       rounds=rounds, group="seed", truth="law_value", kind="mean", discrepancy=None,
                                       priors=PRESET, **fit_options)
            name = config_name(strategy, criterion)
            results[f"{share:.0%}", name] = per_seed(out[out["round"] == rounds]).assign(seconds=t.seconds)
            if per_seed_csv:
                pd.concat(results, names=["budget", "strategy"]).to_csv(per_seed_csv)
            print(summary({(f"{share:.0%}", name): results[f"{share:.0%}", name]}).iloc[0].to_dict(), flush=True)
    return results


def read_per_seed(paths) -> dict[tuple[str, str], pd.DataFrame]:
    """The per-seed results of earlier runs (``--per-seed`` files), e.g. of budgets run in parallel processes."""
    frame = pd.concat([pd.read_csv(p) for p in paths])
    return {key: group.set_index("seed").drop(columns=["budget", "strategy"])
            for key, group in frame.groupby(["budget", "strategy"], sort=False)}


def summary(results: dict) -> pd.DataFrame:
    """Means and spreads over seeds; ``coverage90_se`` is the standard error of the coverage over seeds
    (a seed's three target points share one fit, so the seeds, not the points, are the independent units)."""
    rows = []
    for (budget, name), seeds_table in results.items():
        rows.append({"budget": budget, "strategy": name,
                     "rmsle": seeds_table.rmsle.mean(), "rmsle_sd": seeds_table.rmsle.std(),
                     "rmsle_median": seeds_table.rmsle.median(),
                     "width90": seeds_table.width.mean(), "width90_sd": seeds_table.width.std(),
                     "coverage90": seeds_table.covered.mean(),
                     "coverage90_se": seeds_table.covered.std() / np.sqrt(len(seeds_table)),
                     "runs": seeds_table.runs.mean(),
                     "seconds": seeds_table["seconds"].iloc[0] if "seconds" in seeds_table else np.nan})
    return pd.DataFrame(rows)


def paired(results: dict) -> pd.DataFrame:
    """Per seed, the default design's error and width minus each baseline's: mean, standard error, seeds won."""
    rows = []
    for budget, name in results:
        if not name.startswith("design"):
            continue
        for baseline in ("random", "cheapest"):
            if (budget, baseline) not in results:
                continue
            a, b = results[budget, name], results[budget, baseline]
            row = {"budget": budget, "comparison": f"{name} - {baseline}"}
            for col, label in (("rmsle", "rmsle"), ("width", "width90")):
                diff = a[col] - b[col]
                row[f"{label}_diff"] = diff.mean()
                row[f"{label}_se"] = diff.std() / np.sqrt(len(diff))
                row[f"{label}_wins"] = f"{int((diff < 0).sum())}/{len(diff)}"
            rows.append(row)
    return pd.DataFrame(rows)


def chinchilla(random_seeds: int = 20, shares=(0.05, 0.10), discrepancy="default") -> pd.DataFrame:
    df = bs.datasets.load("chinchilla")
    target = df.index.isin(df.nlargest(24, "C").index)
    start = df.index.isin(df[~target].nsmallest(4, "C").index)
    rows = []
    for share in shares:
        for strategy, criterion in CONFIGS:
            copies = random_seeds if strategy == "random" else 1
            table = pd.concat([df.assign(copy=i) for i in range(copies)], ignore_index=True)
            with Timer() as t:
                out = bs.design.replay(table, "chinchilla", start=np.tile(start, copies), target=np.tile(target, copies),
                                       budget_share=share, strategy=strategy, criterion=criterion or "gaussian",
                                       rounds=ROUNDS, group="copy", kind="observation", discrepancy=discrepancy,
                                       priors=PRESET)
            last = out[out["round"] == ROUNDS]
            name = config_name(strategy, criterion)
            rows.append({"budget": f"{share:.0%}", "strategy": name,
                         "rmsle": np.sqrt(np.mean(last["log_error"] ** 2)),
                         "width90": np.mean(np.log(last["upper"]) - np.log(last["lower"])),
                         "coverage90": last["covered"].mean(), "runs": last.groupby("copy")["runs"].first().mean(),
                         "seconds": t.seconds})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def scoring_time(candidates: int = 1000, draws: int = 1000) -> pd.DataFrame:
    df = bs.datasets.load("chinchilla")
    fit = bs.fit(df.nsmallest(4, "C"), law="chinchilla", method="laplace", draws=draws, priors=PRESET, seed=0)
    rng = np.random.default_rng(0)
    n = 10 ** rng.uniform(7.5, 9.5, candidates)
    pool = pd.DataFrame({"N": n, "D": 10 ** rng.uniform(9, 11, candidates)})
    target = {"N": [7e10], "D": [1.4e12]}
    rows = []
    for criterion in ("gaussian", "shortlist", "reweight"):
        for label, kwargs in (("rank all (k=1)", {}), ("greedy batch of 10", {"k": 10})):
            bs.design.next_runs(fit, pool, target, criterion=criterion, **kwargs)  # compile
            with Timer() as t:
                bs.design.next_runs(fit, pool, target, criterion=criterion, **kwargs)
            rows.append({"criterion": criterion, "call": label, "seconds": t.seconds})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.05, 0.10],
                        help="budgets of the simulated sweeps, as shares of the pool's cost")
    parser.add_argument("--per-seed", help="write the simulated sweeps' per-seed results to this CSV")
    parser.add_argument("--combine", nargs="+", metavar="CSV",
                        help="only print the tables of earlier --per-seed files (budgets run in parallel processes)")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--configs", nargs="+", help="simulated sweeps: only these strategies, e.g. 'design "
                        "(gaussian)' random (default: all)")
    parser.add_argument("--method", help="simulated sweeps: the fits' method (default: auto; replay's own default is laplace)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="simulated sweeps: refits (default: %(default)s)")
    parser.add_argument("--skip-simulated", action="store_true")
    parser.add_argument("--skip-chinchilla", action="store_true")
    parser.add_argument("--chinchilla-discrepancy", choices=("default", "none"), default="default",
                        help="Chinchilla replay: the bands with the library's discrepancy term (default) or the law's own")
    args = parser.parse_args()
    if args.combine:
        results = read_per_seed(args.combine)
        print(markdown(summary(results)) + "\n\n" + markdown(paired(results)))
        return
    print(environment())
    warnings.simplefilter("ignore", bs.FitWarning)
    if not args.skip_scoring:
        print("\n## Scoring time\n\n" + markdown(scoring_time()), flush=True)
    if not args.skip_simulated:
        configs = [c for c in CONFIGS if not args.configs or config_name(*c) in args.configs]
        options = {"method": args.method or "auto"}  # the headline table in benchmarks/README.md
        results = simulated(args.seeds, tuple(args.shares), args.per_seed, configs, args.rounds, **options)
        print(f"\n## Simulated sweeps ({args.seeds} seeds)\n\n" + markdown(summary(results)), flush=True)
        print("\n## Paired differences (per seed: design minus baseline)\n\n" + markdown(paired(results)), flush=True)
    if not args.skip_chinchilla:
        discrepancy = None if args.chinchilla_discrepancy == "none" else "default"
        print(f"\n## Chinchilla replay (discrepancy={discrepancy})\n\n" + markdown(chinchilla(discrepancy=discrepancy)),
              flush=True)


if __name__ == "__main__":
    main()
