"""Checkpoints of one run are not independent: coverage of the law at 10x with and without ``run=``.

    PYTHONPATH=. python benchmarks/bench_runs.py                  # 100 data sets per scenario
    PYTHONPATH=. python benchmarks/bench_runs.py --datasets 20 --methods laplace --parts sbc
    PYTHONPATH=. python benchmarks/bench_runs.py --datasets 100 --methods nuts --parts known \
        --run-aware-only --scenarios "4 runs x 32 checkpoints" --nuts 4 500 500
    PYTHONPATH=. python benchmarks/bench_runs.py --parts speed                  # 3, 5, 7 runs x 100, 400, 800
    PYTHONPATH=. python benchmarks/bench_runs.py --parts speed --tables 3x100 7x800

Part 1 (known truth). Each simulated data set is one curve of a power law
``E + A x^-alpha`` (E 1.7, A 400, alpha 0.3) observed through the checkpoints
of training runs over two decades of x (1e8..1e10); each run's residuals in
log loss are an Ornstein-Uhlenbeck process in log10 x (sd ``run_sd``, length
``run_length`` decades) plus an independent nugget (``sigma``), the model of
``bs.fit(..., run=)`` (bayescale/_src/model/runs.py). All data sets of a scenario are
fitted in one batched call, once with ``run="run"`` and once as independent
points (the default Student-t likelihood; and ``"normal"``). Reported: how often
the central 90% band of the law (``kind="mean"``) at 10x the largest x contains
the true value, the band's mean relative width, and the time per data set.
A calibrated 90% band over n data sets covers 0.90 +- 2.6 sqrt(0.09 / n)
with probability 0.99 (0.82-0.97 for n = 100).

Part 2 (SBC, Talts et al. 2018). Parameters (the law's, ``sigma``, ``run_sd``,
``run_length``) are drawn from the run-aware model's default priors, one curve
of runs is simulated per draw, and the run-aware fit's central 50% and 90%
intervals are checked for every quantity and for the law at 10x the largest x,
with the chi-square p-value of the ranks' uniformity.

Part 3 (speed). One curve of 3, 5 or 7 runs x 100, 400 or 800 checkpoints over
x = 1e8..1e11, run ``r`` of the power law with ``A`` scaled by ``2^-r``, so that
the late checkpoints of the larger runs are nearly flat (the ``E`` term is
most of the loss there); OU residuals as in part 1, and three loss spikes
(x1.15) in every other run. Each table is fitted with the default method once
to compile, then ``--repeats`` times (3), alternating, with ``run="run"``
(``likelihood="normal"``, the filter) and without it (independent points, the
default Student-t): the median seconds of the timed calls, their ratio, and the
engine that served each fit.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import Timer, environment  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale._src.model import runs  # noqa: E402
from bayescale._src.analysis.sbc import _coverage, _ranks, _uniformity, coverage_band  # noqa: E402

jax.config.update("jax_enable_x64", True)

LAW = bs.laws.get("power_law")
TRUTH = {"E": 1.7, "A": 400.0, "alpha": 0.3}
NOISE = {"run_sd": 0.02, "run_length": 0.3, "sigma": 0.003}
SCENARIOS = {"1 run x 64 checkpoints": (1, 64), "4 runs x 32 checkpoints": (4, 32)}
SETTINGS = {"laplace": dict(method="laplace", draws=1000), "nuts": dict(method="nuts", chains=2, warmup=300, draws=300),
            "auto": dict(method="auto")}
MODELS = {"run-aware (run=)": dict(run="run"), "independent, student_t": {},
          "independent, normal": dict(likelihood="normal")}
TARGET = 1e11  # 10x the largest checkpoint


def checkpoints(n: int) -> dict[str, np.ndarray]:
    return {"x": np.geomspace(1e8, 1e10, n)}


def band_coverage(fit: bs.Fit, truth: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per curve: where ``truth`` falls against the central band of the law at TARGET (-1 below, 0 inside,
    1 above: a one-sided miss says the band is off-centre, not only narrow), and the band's width / truth."""
    band = fit.predict({"x": [TARGET]}, interval=level, discrepancy=None)  # the law's own band: what runs change
    side = np.where(truth < band["lower"], -1, np.where(truth > band["upper"], 1, 0))
    return side, ((band["upper"] - band["lower"]) / truth).to_numpy()


def known_truth(num_datasets: int, methods: list[str], seed: int, models: list[str],
                scenarios: list[str] | None = None) -> pd.DataFrame:
    truth = float(LAW.fn(TRUTH, {"x": np.array(TARGET)}))
    rows = []
    for name in scenarios or list(SCENARIOS):
        num_runs, n = SCENARIOS[name]
        data = runs.simulate(LAW, TRUTH, checkpoints(n), num_runs, num_curves=num_datasets, seed=seed, **NOISE)
        for method in methods:
            for model in models:
                extra = MODELS[model]
                with Timer() as t, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = bs.fit(data, law=LAW, x="x", group="curve", seed=seed, **SETTINGS[method], **extra)
                side, width = band_coverage(fit, truth)
                rows.append({"scenario": name, "method": method, "model": model, "coverage_90": (side == 0).mean(),
                             "truth_below": (side < 0).mean(), "truth_above": (side > 0).mean(),
                             "band_width": np.median(width), "flagged": len(fit.problems),
                             "s_per_dataset": t.seconds / num_datasets})
                print(" | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in rows[-1].values()), flush=True)
    return pd.DataFrame(rows)


def sbc(num_datasets: int, method: str, seed: int, num_runs: int = 2, n: int = 32, num_ranks: int = 100) -> pd.DataFrame:
    priors = dict(bs.priors.resolve(LAW, None)) | runs.default_priors()
    data, truth = runs.simulate_prior(LAW, priors, checkpoints(n), num_runs, num_datasets, seed=seed + 1)
    params = {k: truth[k] for k in LAW.param_names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(data, law=LAW, x="x", group="curve", run="run", seed=seed, **SETTINGS[method])
    quantities = {k: fit.draws(k) for k in truth}
    x = {"x": np.array([TARGET])}
    quantities["prediction"] = fit.predictive_draws(x)[:, :, 0]
    truth["prediction"] = np.asarray(LAW.fn({k: v[:, None] for k, v in params.items()}, {"x": x["x"][None]}))[:, 0]
    rows = []
    for name, draws in quantities.items():
        rows.append({"method": method, "quantity": name, "coverage_50": _coverage(draws, truth[name], 0.5).mean(),
                     "coverage_90": _coverage(draws, truth[name], 0.9).mean(),
                     "rank_p_value": _uniformity(_ranks(draws, truth[name], num_ranks), num_ranks)})
    return pd.DataFrame(rows)


SPEED_TABLES = [(r, n) for r in (3, 5, 7) for n in (100, 400, 800)]


def speed_table(num_runs: int, n: int, seed: int) -> pd.DataFrame:
    """One curve of ``num_runs`` runs x ``n`` checkpoints: flat late checkpoints, loss spikes (see part 3)."""
    rng = np.random.default_rng(seed)
    frames = []
    for r in range(num_runs):
        truth = dict(TRUTH, A=TRUTH["A"] * 2.0**-r)
        one = runs.simulate(LAW, truth, {"x": np.geomspace(1e8, 1e11, n)}, 1, seed=seed * 100 + r, **NOISE)
        if r % 2:
            spikes = rng.choice(n, 3, replace=False)
            one.loc[spikes, "loss"] *= 1.15
        frames.append(one.assign(run=f"run{r}"))
    return pd.concat(frames, ignore_index=True)


def speed(tables: list[tuple[int, int]], seed: int, repeats: int = 3) -> pd.DataFrame:
    rows = []
    models = (("independent", {}), ("run=", dict(run="run")))
    for num_runs, n in tables:
        data = speed_table(num_runs, n, seed)
        row = {"table": f"{num_runs} runs x {n}"}
        seconds = {label: [] for label, _ in models}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for label, extra in models:
                with Timer() as first:
                    bs.fit(data, law=LAW, x="x", seed=seed, **extra)
                row[f"{label} first s"] = first.seconds
            # the timed calls alternate, so that the load of a shared machine falls on both alike
            for _ in range(repeats):
                for label, extra in models:
                    with Timer() as t:
                        fit = bs.fit(data, law=LAW, x="x", seed=seed, **extra)
                    seconds[label].append(t.seconds)
                    row[f"{label} engine"] = str(fit.curve_stats["engine"][0])
        for label, _ in models:
            row[f"{label} s"] = float(np.median(seconds[label]))
        row["ratio"] = row["run= s"] / row["independent s"]
        rows.append(row)
        print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()), flush=True)
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--methods", nargs="+", default=["laplace", "nuts"], choices=sorted(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", nargs="+", default=["known", "sbc"], choices=["known", "sbc", "speed"])
    parser.add_argument("--tables", nargs="+", metavar="RUNSxN", help="part speed: these tables only, e.g. 7x800")
    parser.add_argument("--repeats", type=int, default=3, help="part speed: timed calls of each fit (the median)")
    parser.add_argument("--all-models", action="store_true", help="also independent points with a normal likelihood")
    parser.add_argument("--run-aware-only", action="store_true", help="only the run-aware model (part known)")
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), help="part known: these scenarios only")
    parser.add_argument("--nuts", nargs=3, type=int, metavar=("CHAINS", "WARMUP", "DRAWS"),
                        help="NUTS settings (default: 2 300 300)")
    args = parser.parse_args()
    if args.nuts:
        SETTINGS["nuts"] = dict(method="nuts", chains=args.nuts[0], warmup=args.nuts[1], draws=args.nuts[2])
    pd.set_option("display.width", 200)
    print(environment())
    lo, hi = coverage_band(0.9, args.datasets)
    if "known" in args.parts:
        print(f"\n## Known truth: 90% band of the law at x = {TARGET:g} (10x), {args.datasets} data sets per scenario; "
              f"calibrated: {lo:.2f}..{hi:.2f} (99%)")
        models = list(MODELS)[:1] if args.run_aware_only else list(MODELS) if args.all_models else list(MODELS)[:2]
        table = known_truth(args.datasets, args.methods, args.seed, models, args.scenarios)
        print(table.to_string(index=False, float_format="%.3f"))
    if "sbc" in args.parts:
        print(f"\n## SBC of the run-aware model, {args.datasets} data sets drawn from its priors (2 runs x 32 checkpoints)")
        table = pd.concat([sbc(args.datasets, m, args.seed) for m in args.methods])
        print(table.to_string(index=False, float_format="%.3f"))
    if "speed" in args.parts:
        tables = ([tuple(int(v) for v in t.lower().split("x")) for t in args.tables] if args.tables
                  else SPEED_TABLES)
        print(f"\n## Speed: one curve, the default method, with and without run= (median of {args.repeats} calls "
              "after the first; first: compile included)")
        table = speed(tables, args.seed, args.repeats)
        print(table.to_string(index=False, float_format="%.2f"))


if __name__ == "__main__":
    main()
