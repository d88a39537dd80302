"""IsoFLOP analysis (bs.isoflop): Approach 2 on the bundled Chinchilla runs, the parabola's bias on simulated
surfaces with alpha != beta, and the 90% coverage of the exponent a over simulated sweeps.

    python benchmarks/bench_isoflop.py                  # all three parts, 200 sweeps
    python benchmarks/bench_isoflop.py --sweeps 40 --parts 3

(i) bs.isoflop on the 240 bundled runs (Epoch AI's extraction of Hoffmann et al. 2022, Fig. 4), runs assigned
    to Hoffmann et al.'s nine IsoFLOP budgets within 0.05 decades, beside the published Approach 2
    (a = 0.49, 0.462-0.534) and Approach 3 here (chinchilla fitted to all 240 runs, a = beta / (alpha + beta)).
(ii) the exponent a from nearly noiseless sweeps (noise 0.1%) of two surfaces with alpha != beta, windows of
    model sizes centred on the true optimum at every budget, or sliding across the valley as C grows (the
    coverage study's designs): the bias of each method.
(iii) coverage of a's 90% interval over simulated sweeps (DESIGNS: 9 budgets of 8 runs, 0.5% log-normal noise),
    for each method and each regression of the optima (TAU_PRIORS); every sweep's budgets are one grouped fit.
    --save keeps the draws, and --summarize re-reads them (another regression needs no new fits).
envelope (--parts envelope): Approach 1 over simulated training runs with checkpoints (simulate_runs: 10 model
    sizes, checkpoints at 8 budgets per decade over 2 decades of tokens per parameter, 1% noise): coverage, bias
    and width of a's 90% interval for the envelope (parabola refinement or the argmin size; per-draw or
    measurement-error regression, from the same fit), beside the parabola method (Approach 2) on the same
    checkpoints grouped by budget (the budgets reached by 5+ sizes).

    python benchmarks/bench_isoflop.py --parts envelope --sweeps 100 --fit-method laplace
"""

from __future__ import annotations

import argparse
import pickle
import time
import warnings

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale._src.analysis.isoflop import (
    HOFFMANN_2022,
    HOFFMANN_BUDGETS,
    _envelope_losses,
    _envelope_optima,
    _per_draw,
    _prepare_curves,
    chinchilla_optimum_numpy,
    measurement_error_draws,
    simulate_runs,
    simulate_sweeps,
)


def truth_a(p):
    return p["beta"] / (p["alpha"] + p["beta"])


def interval(values, level=0.9):
    return np.quantile(values, [0.5, (1 - level) / 2, (1 + level) / 2])


def part_chinchilla(fit_method):
    runs = bs.datasets.load("chinchilla")
    rows = []
    for method, regression in (("parabola", "measurement_error"), ("parabola", "per_draw"),
                               ("slice", "measurement_error"), ("surface", "measurement_error")):
        res = bs.isoflop(runs, method, budgets=HOFFMANN_BUDGETS, regression=regression, fit_method=fit_method)
        a = res.exponents.loc["a"]
        rows.append({"analysis": f"bs.isoflop {method}" + (f" ({regression})" if method != "surface" else ""),
                     "runs": len(res.runs), "a": a["median"], "lower": a["lower"], "upper": a["upper"]})
    fit = bs.fit(runs, law="chinchilla", method=fit_method, seed=0)
    a3 = fit.draws("beta")[0] / (fit.draws("alpha")[0] + fit.draws("beta")[0])
    med, lo, hi = interval(a3)
    rows.append({"analysis": "Approach 3 here (chinchilla, all runs)", "runs": len(runs), "a": med, "lower": lo,
                 "upper": hi})
    rows.append({"analysis": "Hoffmann et al. 2022, Approach 2 (published)", "runs": np.nan, "a": 0.49,
                 "lower": 0.462, "upper": 0.534})
    rows.append({"analysis": "Hoffmann et al. 2022, Approach 3 (published)", "runs": np.nan, "a": 0.46,
                 "lower": 0.454, "upper": 0.455})
    print("(i) Chinchilla runs, a with its 90% interval")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return res


def part_bias(fit_method):
    surfaces = {"Hoffmann (alpha 0.34, beta 0.28)": HOFFMANN_2022, "steep (alpha 0.45, beta 0.2)": STEEP}
    windows = [(None, 0.0, 1.5), (None, 0.0, 2.0), (0.5, 0.0, 1.5), (0.3, -0.3, 2.0), (0.5, 0.2, 2.0)]
    rows = []
    for name, p in surfaces.items():
        n_true = chinchilla_optimum_numpy(p, HOFFMANN_BUDGETS)
        for centre, offset, width in windows:
            sweep = simulate_sweeps(p, runs=8, width=width, centre_exponent=centre, offset=offset, noise=0.001,
                                    seed=1)
            row = {"surface": name, "truth a": truth_a(p), "window": f"{width} dec",
                   "centred": "on optimum" if centre is None else f"C^{centre}, {offset:+.1f} dec"}
            for method in ("parabola", "slice", "surface"):
                res = bs.isoflop(sweep, method, budget="budget", fit_method=fit_method)
                row[f"{method} a - truth"] = res.exponents.loc["a", "median"] - truth_a(p)
                row[f"{method} ln N_opt err"] = np.mean(np.log(res.budgets["N_opt"].to_numpy()) - np.log(n_true))
            rows.append(row)
    print("\n(ii) bias: median of a minus the truth, and the mean error of ln N_opt over the budgets (noise 0.1%)")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:+.4f}"))


STEEP = {**HOFFMANN_2022, "alpha": 0.45, "beta": 0.2}
#: the coverage study's designs: (surface, centre_exponent, offset of the window's centre from the optimum at the
#: middle budget in decades, width in decades); 9 budgets x 8 runs, 0.5% noise. The last two slide the window across
#: the asymmetric valley as C grows, which is where the parabola's vertex error changes with C (bias in a).
DESIGNS = {
    "A: Hoffmann, C^0.5, centred, 1.5 dec": (HOFFMANN_2022, 0.5, 0.0, 1.5),
    "B: Hoffmann, C^0.3, 0.3 dec low, 2 dec": (HOFFMANN_2022, 0.3, -0.3, 2.0),
    "C: steep, C^0.5, 0.2 dec high, 2 dec": (STEEP, 0.5, 0.2, 2.0),
}
#: the scatter priors compared: (label, scale, family); scale 0 is weighted least squares, no scatter term
TAU_PRIORS = (("weighted LS (no scatter)", 0.0, "halfnormal"), ("half-Cauchy 0.01 (default)", 0.01, "halfcauchy"),
              ("half-Cauchy 0.05", 0.05, "halfcauchy"), ("half-normal 0.02", 0.02, "halfnormal"),
              ("half-normal 0.25", 0.25, "halfnormal"))


def run_sweeps(sweeps, fit_method, designs, seed0=1000):
    """Fit every sweep of every design by the three methods; the raw draws, for :func:`summarize`."""
    out = {}
    for name in designs:
        p, centre, offset, width = DESIGNS[name]
        n_true = chinchilla_optimum_numpy(p, HOFFMANN_BUDGETS)
        rec = {"log_n": {"parabola": [], "slice": []}, "surface_a": [], "surface_log_n": [], "pareto_k": {},
               "truth": truth_a(p), "log_n_true": np.log(n_true)}
        start = time.perf_counter()
        for s in range(sweeps):
            sweep = simulate_sweeps(p, runs=8, width=width, centre_exponent=centre, offset=offset, noise=0.005,
                                    seed=seed0 + s)
            for method in ("parabola", "slice", "surface"):
                res = bs.isoflop(sweep, method, budget="budget", fit_method=fit_method, seed=s)
                if method == "surface":
                    rec["surface_a"].append(res.draws["a"])
                    rec["surface_log_n"].append(np.log(res.draws["N_opt"]))
                else:
                    rec["log_n"][method].append(np.log(res.draws["N_opt"]))
                k = res.fit.curve_stats.get("pareto_k")
                if k is not None:
                    rec["pareto_k"].setdefault(method, []).append(np.mean(np.asarray(k) > 0.7))
        rec["seconds"] = time.perf_counter() - start
        out[name] = rec
    return out


def summarize(records, sweeps_done=None):
    """Coverage, bias and width of a's 90% interval per design, method and regression."""
    rows = []
    for name, rec in records.items():
        truth, x = rec["truth"], np.log(np.asarray(HOFFMANN_BUDGETS))
        variants = []
        for method in ("parabola", "slice"):
            for label, scale, family in TAU_PRIORS:
                variants.append((method, label, [measurement_error_draws(x, ln, ln.shape[1], np.random.default_rng(i),
                                                                         tau_scale=scale, tau_prior=family)[0]
                                                 for i, ln in enumerate(rec["log_n"][method])], rec["log_n"][method]))
            variants.append((method, "per draw", [_per_draw(x, ln)[0] for ln in rec["log_n"][method]],
                             rec["log_n"][method]))
        variants.append(("surface", "(its own frontier)", rec["surface_a"], rec["surface_log_n"]))
        for method, regression, draws, log_n in variants:
            q = np.array([interval(d) for d in draws])
            covered = (q[:, 1] <= truth) & (truth <= q[:, 2])
            qn = np.array([np.quantile(ln, [0.05, 0.5, 0.95], axis=1) for ln in log_n])  # [sweeps, 3, budgets]
            n_cov = np.mean((qn[:, 0] <= rec["log_n_true"]) & (rec["log_n_true"] <= qn[:, 2]))
            k = rec["pareto_k"].get(method)
            rows.append({"design": name, "method": method, "regression": regression, "sweeps": len(draws),
                         "coverage": covered.mean(), "cov se": np.sqrt(covered.mean() * (1 - covered.mean())
                                                                       / len(draws)),
                         "bias": np.mean(q[:, 0]) - truth, "sd median": np.std(q[:, 0]),
                         "width": np.mean(q[:, 2] - q[:, 1]), "N_opt cov": n_cov,
                         "ln N_opt err": np.mean(qn[:, 1] - rec["log_n_true"]),
                         "k>0.7": np.nan if k is None else np.mean(k)})
    return pd.DataFrame(rows)


def part_coverage(sweeps, fit_method, designs, save=None):
    records = run_sweeps(sweeps, fit_method, designs)
    if save:
        with open(save, "wb") as f:
            pickle.dump(records, f)
    seconds = ", ".join(f"{r['seconds']:.0f}" for r in records.values())
    print(f"\n(iii) coverage of a's 90% interval over {sweeps} sweeps per design (fit_method={fit_method!r}; "
          f"seconds per design: {seconds})")
    table = summarize(records)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return table


def part_envelope(sweeps, fit_method, noise=0.01, seed0=2000):
    """Coverage of a over simulated runs: the envelope's variants from one fit per sweep, and the parabola."""
    truth = truth_a(HOFFMANN_2022)
    records = {}
    start = time.perf_counter()
    seconds = {"envelope": 0.0, "parabola": 0.0}
    for s in range(sweeps):
        runs = simulate_runs(noise=noise, seed=seed0 + s)
        t = time.perf_counter()
        res = bs.isoflop(runs, "envelope", run="run", fit_method=fit_method, seed=s)
        seconds["envelope"] += time.perf_counter() - t
        grid = res.budgets["budget"].to_numpy()
        x = np.log(grid)
        n_true = np.log(chinchilla_optimum_numpy(HOFFMANN_2022, grid))
        curves = _prepare_curves(runs, "N", "D", "C", "loss", "run", 6.0)
        sizes, size_loss, _ = _envelope_losses(res.fit, curves, grid, 6.0)
        for refine in ("parabola", "none"):
            log_n = _envelope_optima(np.log(sizes), size_loss, refine)[0]
            for regression in ("per_draw", "measurement_error") if refine == "parabola" else ("per_draw",):
                if regression == "per_draw":
                    a = _per_draw(x, log_n)[0]
                else:
                    a = measurement_error_draws(x, log_n, log_n.shape[1], np.random.default_rng(s))[0]
                records.setdefault((f"envelope ({refine})", regression), []).append(
                    (interval(a), len(grid), np.mean(np.median(log_n, axis=1) - n_true)))
        t = time.perf_counter()
        par = bs.isoflop(runs.drop(columns="run"), "parabola", budget="budget", fit_method=fit_method, seed=s)
        seconds["parabola"] += time.perf_counter() - t
        grid = par.budgets["budget"].to_numpy()
        n_true = np.log(chinchilla_optimum_numpy(HOFFMANN_2022, grid))
        records.setdefault(("parabola (Approach 2)", "measurement_error"), []).append(
            (par.exponents.loc["a"].to_numpy(), len(grid), np.mean(np.log(par.budgets["N_opt"].to_numpy()) - n_true)))
    rows = []
    for (method, regression), rec in records.items():
        q = np.array([r[0] for r in rec])
        covered = (q[:, 1] <= truth) & (truth <= q[:, 2])
        rows.append({"method": method, "regression": regression, "sweeps": len(rec), "coverage": covered.mean(),
                     "cov se": np.sqrt(covered.mean() * (1 - covered.mean()) / len(rec)),
                     "bias": np.mean(q[:, 0]) - truth, "sd median": np.std(q[:, 0]),
                     "width": np.mean(q[:, 2] - q[:, 1]), "points": np.mean([r[1] for r in rec]),
                     "ln N_opt err": np.mean([r[2] for r in rec])})
    print(f"\n(envelope) coverage of a's 90% interval over {sweeps} simulated sets of runs (truth {truth:.4f}, noise "
          f"{noise:.1%}, fit_method={fit_method!r}; seconds: envelope {seconds['envelope']:.0f}, parabola "
          f"{seconds['parabola']:.0f}, all {time.perf_counter() - start:.0f})")
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--parts", default="123", help="any of 1, 2, 3, or 'envelope'")
    parser.add_argument("--noise", type=float, default=0.01, help="the envelope part's checkpoint noise")
    parser.add_argument("--fit-method", default="auto")
    parser.add_argument("--designs", default=",".join(str(i) for i in range(len(DESIGNS))),
                        help="indices into DESIGNS, comma-separated")
    parser.add_argument("--save", default=None, help="pickle the coverage study's draws here")
    parser.add_argument("--summarize", nargs="+", default=None, help="print the coverage table of saved draws")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    bs.set_progress(False)
    if args.summarize:
        records = {}
        for path in args.summarize:
            with open(path, "rb") as f:
                records.update(pickle.load(f))
        print(summarize(records).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        return
    if args.parts == "envelope":
        part_envelope(args.sweeps, args.fit_method, args.noise)
        return
    if "1" in args.parts:
        part_chinchilla(args.fit_method)
    if "2" in args.parts:
        part_bias(args.fit_method)
    if "3" in args.parts:
        names = list(DESIGNS)
        part_coverage(args.sweeps, args.fit_method, [names[int(i)] for i in args.designs.split(",")], args.save)


if __name__ == "__main__":
    main()
