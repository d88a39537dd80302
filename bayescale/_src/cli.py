"""Command-line interface: ``bayescale fit | predict | allocate | isoflop | compare | evaluate | design | laws | demo``.

Every subcommand works on files: ``fit`` reads a CSV and writes a fit file
(:mod:`bayescale._src.fit.netcdf`), a summary table and a plot; the others read fit files.
Mistakes in the command line or the inputs print one line on stderr and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from bayescale._src import engines
from bayescale._src.precision import float64

DEMO_BUDGETS = [1e21, 1e22, 1e23, 5.88e23, 1e24, 1e25]
# mistakes in the command line or the files it names; anything else keeps its traceback
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
               PermissionError)


class UserError(Exception):
    """A mistake in the command line or the input files: one line, no traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``bayescale fit: error: ...``) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def demo(args: argparse.Namespace) -> None:
    import bayescale as bs
    from bayescale import plot

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    df = bs.datasets.load("chinchilla")
    print(f"Chinchilla (Hoffmann et al. 2022; Epoch AI extraction): {len(df)} runs")
    fit = bs.fit(df, law="chinchilla", method="nuts", seed=args.seed, chains=args.chains, draws=args.draws, warmup=args.warmup)
    print(f"\nNUTS, {args.chains} chains x {args.draws} draws ({time.perf_counter() - start:.1f} s)\n")
    summary = fit.summary()
    with _wide_pandas():
        print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    opt = bs.compute_optimal(fit, DEMO_BUDGETS)
    table = opt[["compute", "N_opt", "N_opt_lower", "N_opt_upper", "D_opt", "tokens_per_param",
                 "tokens_per_param_lower", "tokens_per_param_upper", "loss", "loss_lower", "loss_upper"]]
    print("\nCompute-optimal allocation (posterior median and 90% interval):\n")
    with _wide_pandas():
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    summary.to_csv(out / "summary.csv")
    opt.to_csv(out / "compute_optimal.csv", index=False)
    fig = plot.predictive(fit, extend=1e4)
    fig.savefig(out / "chinchilla_predictive.png", dpi=120, bbox_inches="tight")
    fig = plot.frontier(fit, DEMO_BUDGETS)
    fig.savefig(out / "chinchilla_frontier.png", dpi=120, bbox_inches="tight")
    fig = plot.prior_posterior(fit)
    fig.savefig(out / "chinchilla_prior_posterior.png", dpi=120, bbox_inches="tight")
    for msg in fit.problems:
        print(f"warning: {msg}")
    # many curves in one call: 16 simulated learning curves L = E + A x^-alpha, each with its own
    # exponent and noise, fitted together (Laplace); the grid shows each curve's band past its data
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(args.seed)
    x = np.geomspace(1e6, 1e9, 12)
    curves = pd.concat(
        pd.DataFrame({"tokens": x, "curve": f"run {i:02d}",
                      "loss": (rng.uniform(1.5, 2.5) + rng.uniform(100, 400) * x ** -rng.uniform(0.2, 0.5))
                      * np.exp(0.01 * rng.standard_normal(x.size))})
        for i in range(16)
    )
    start_curves = time.perf_counter()
    many = bs.fit(curves, law="power_law", x="tokens", group="curve", method="laplace", seed=args.seed,
                  draws=args.draws)
    print(f"\n16 simulated curves, one batched Laplace fit ({time.perf_counter() - start_curves:.1f} s)")
    fig = plot.grid(many, max_panels=8, extend=30.0)
    fig.savefig(out / "curves_grid.png", dpi=110, bbox_inches="tight")
    print(f"\nwrote {out}/summary.csv, compute_optimal.csv, chinchilla_predictive.png, chinchilla_frontier.png, "
          "chinchilla_prior_posterior.png, curves_grid.png")
    print(f"total {time.perf_counter() - start:.1f} s")


def fit(args: argparse.Namespace) -> None:
    import pandas as pd

    import bayescale as bs

    data = pd.read_csv(args.csv)
    columns = {name.split("_", 1)[1]: col for name, col in vars(args).items() if name.startswith("input_") and col}
    for item in args.input or []:
        name, col = _pair(item, "--input")
        columns[name] = col
    law = bs.laws.get(args.law)
    unknown = sorted(set(columns) - set(law.inputs))
    if unknown:
        raise UserError(f"law {law.name!r} takes no input(s) {unknown}; its inputs are {list(law.inputs)}")
    out = Path(args.out)
    start = time.perf_counter()
    result = bs.fit(
        data, law=law, y=args.y, x=args.x, columns=columns or None, group=args.group, method=args.method,
        priors=args.prior, likelihood=args.likelihood, seed=args.seed, chains=args.chains, draws=args.draws,
        warmup=args.warmup, pooling=args.pooling, pooled=args.pooled,
    )
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary(interval=args.interval)
    summary.to_csv(out / "summary.csv")
    result.save(out / "fit.nc")
    plots = _save_plots(result, out)
    print(f"{result!r} in {seconds:.1f} s\n")
    with _wide_pandas():
        print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    print("\ndiagnostics: " + ("ok" if result.ok else f"{len(result.problems)} problem(s)"))
    for msg in result.problems:
        print(f"  - {msg}")
    print(f"\nwrote {out / 'summary.csv'}, {out / 'fit.nc'}, " + ", ".join(str(out / p) for p in plots))


def _save_plots(result, out: Path) -> list[str]:
    """predictive.png: the band of a single curve, or a grid of panels for a grouped fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayescale import plot

    try:
        figures = {"predictive.png": plot.grid(result) if result.grouped else plot.predictive(result)}
    except ValueError as err:  # a law with no predictive plot: the fit is still useful
        print(f"no plot: {err}", file=sys.stderr)
        return []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return list(figures)


def predict(args: argparse.Namespace) -> None:
    import pandas as pd

    import bayescale as bs

    result = bs.load(args.fit)
    by_column = {col: name for name, col in result.columns.inputs.items()}
    points = []
    for at in args.at:
        point = {}
        for item in at.split(","):
            key, value = _pair(item, "--at")
            name = key if key in result.law.inputs else by_column.get(key)
            if name is None:
                raise UserError(
                    f"--at {key}: law {result.law.name!r} takes inputs {list(result.law.inputs)} "
                    f"(columns {list(by_column)})"
                )
            point[name] = value
        points.append(point)
    missing = [k for k in result.law.inputs if k not in points[0]]
    if missing:
        raise UserError(f"--at {args.at[0]}: give every input of law {result.law.name!r}; missing {missing}")
    keys = sorted(points[0])
    for p in points:
        if sorted(p) != keys:
            raise UserError(f"every --at must give the same inputs; got {keys} and {sorted(p)}")
    new = {k: [_number(p[k], f"--at {k}") for p in points] for k in keys}
    table = result.predict(pd.DataFrame(new), interval=args.interval, kind=args.kind, seed=args.seed,
                           discrepancy=None if args.no_discrepancy else "default")
    if args.group is not None:
        table = table[_group_rows(result, table, args.group)].reset_index(drop=True)
    _emit(table, args.csv)


def _group_rows(result, table, group: str):
    if not result.grouped:
        raise UserError("--group needs a grouped fit; this fit has one curve")
    labels = [g for g in result.groups if str(g) == group]
    if not labels:
        raise UserError(f"no group {group!r} in column {result.columns.group!r}; groups: {result.groups[:10]}")
    return table[result.columns.group] == labels[0]


def allocate(args: argparse.Namespace) -> None:
    import bayescale as bs

    result = bs.load(args.fit)
    if not {"N", "D"} <= set(result.law.inputs):
        raise UserError(
            f"allocate splits compute between parameters N and tokens D; law {result.law.name!r} "
            f"takes {list(result.law.inputs)}, so it has no compute-optimal allocation"
        )
    table = bs.compute_optimal(result, args.compute, flops_per_param_token=args.flops_per_param_token,
                               interval=args.interval)
    _emit(table, args.csv)


def isoflop(args: argparse.Namespace) -> None:
    import pandas as pd

    import bayescale as bs

    data = pd.read_csv(args.csv)
    options = {} if args.fit_method is None else {"fit_method": args.fit_method}
    if args.draws is not None:
        options["draws"] = args.draws
    if args.run is not None:
        options["run"] = args.run
    result = bs.isoflop(data, args.method, N=args.N, D=args.D, C=args.C, loss=args.y, budget=args.budget,
                        budgets=args.budgets, tolerance=args.tolerance, min_runs=args.min_runs,
                        regression=args.regression, flops_per_param_token=args.flops_per_param_token,
                        interval=args.interval, seed=args.seed, **options)
    with _wide_pandas():
        if result.method == "envelope":
            print(f"{len(result.runs)} checkpoints of {result.runs['run'].nunique()} runs; the envelope at "
                  f"{len(result.budgets)} values of compute; method envelope\n")
        else:
            print(f"{len(result.runs)} runs in {len(result.budgets)} budgets ({len(result.excluded)} left out); "
                  f"method {result.method}\n")
        print(result.exponents.to_string(float_format=lambda v: f"{v:.4f}"))
        print()
    _emit(result.budgets, args.out_csv)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        result.plot().savefig(args.plot, dpi=110, bbox_inches="tight")
        print(f"wrote {args.plot}")


def compare(args: argparse.Namespace) -> None:
    import bayescale as bs

    fits = {}
    for path in args.fits:
        name = Path(path).stem if Path(path).stem != "fit" else Path(path).parent.name or path
        while name in fits:
            name += "'"
        fits[name] = bs.load(path)
    if len(fits) < 2:
        raise UserError("compare needs at least two fit files")
    table = bs.compare(fits)
    with _wide_pandas():
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))


def laws_command(args: argparse.Namespace) -> None:
    import bayescale as bs

    with _wide_pandas():
        print(bs.laws.table().to_string())


def design(args: argparse.Namespace) -> None:
    import pandas as pd

    import bayescale as bs

    result = bs.load(args.fit)
    if result.grouped:
        if args.group is None:
            raise UserError(f"the fit has groups ({result.columns.group!r}); choose one with --group")
        labels = {str(g): g for g in result.groups}
        if args.group not in labels:
            raise UserError(f"--group {args.group!r}: the fit's groups are {list(labels)}")
        result = result[labels[args.group]]
    candidates = pd.read_csv(args.candidates)
    target = _target_table(result, args.target)
    table = bs.design.next_runs(result, candidates, target, cost=args.cost, k=args.k, budget=args.budget,
                                criterion=args.criterion, seed=args.seed)
    print(f"{len(candidates)} candidates; value = expected drop of the variance of log loss at the target per cost\n")
    _emit(table, args.csv)
    if args.plot:
        from bayescale import plot

        plot.design(result, table, target).savefig(args.plot, dpi=120, bbox_inches="tight")


def _target_table(result, items: list[str]):
    """``--target`` options as a table of the law's inputs."""
    import pandas as pd

    by_column = {col: name for name, col in result.columns.inputs.items()}
    rows = []
    for item in items:
        row = {}
        for part in item.split(","):
            key, value = _pair(part, "--target")
            name = key if key in result.law.inputs else by_column.get(key)
            if name is None:
                raise UserError(f"--target {key}: law {result.law.name!r} takes inputs {list(result.law.inputs)}")
            row[name] = _number(value, f"--target {key}")
        if sorted(row) != sorted(result.law.inputs):
            raise UserError(f"--target {item}: give every input of law {result.law.name!r}: {list(result.law.inputs)}")
        rows.append(row)
    return pd.DataFrame(rows)


def _pair(item: str, flag: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UserError(f"{flag} expects NAME=VALUE, got {item!r}")
    return name.strip(), value.strip()


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{what}: {text!r} is not a number") from None


def evaluate(args: argparse.Namespace) -> None:
    import pandas as pd

    import bayescale as bs

    if (args.csv is None) == (args.dataset is None):
        raise UserError("give a CSV file or --dataset NAME (one of them)")
    if args.dataset is not None:
        data = bs.datasets.heldout(args.dataset)
        options = dict(data.attrs["evaluate"])
    else:
        data = pd.read_csv(args.csv)
        options = {"y": args.y}
    columns = dict(options.pop("columns", None) or {})
    for item in args.input or []:
        name, col = _pair(item, "--input")
        columns[name] = col
    given = {"law": args.law, "x": args.x, "group": args.group}
    options.update({k: v for k, v in given.items() if v is not None})
    if args.y is not None:
        options["y"] = args.y
    if columns:
        options["columns"] = columns
    discrepancy = None if args.no_discrepancy else bs.Discrepancy(rate=args.discrepancy_rate)
    result = bs.evaluate(data, split=args.split, by=args.by, discrepancy=discrepancy, method=args.method,
                         seed=args.seed, chains=args.chains, draws=args.draws, warmup=args.warmup,
                         likelihood=args.likelihood, **options)
    print(f"{result!r}\n")
    _emit(result.summary(by=args.by), None)
    print()
    _emit(result.curves, args.out_csv)


def _emit(table, csv: str | None) -> None:
    with _wide_pandas():
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    if csv:
        table.to_csv(csv, index=False)


def _wide_pandas():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 20)


FIT_EPILOG = """examples:
  bayescale fit runs.csv --law power_law --x params --y final_loss --out fit_dir
  bayescale fit runs.csv --law chinchilla --N params --D tokens --y final_loss --method laplace --out fit_dir
  bayescale fit sweeps.csv --law power_law --x size --group task --prior epoch2024 --out fit_dir
  bayescale fit scores.csv --law "sigmoid_compute(floor=0.25)" --C flops --y mmlu --group family \
      --pooling partial --out fit_dir       # benchmark scores in (0, 1), chance 0.25; each family its own offset
writes DIR/summary.csv, DIR/fit.nc (bs.load) and DIR/predictive.png"""

PREDICT_EPILOG = """examples:
  bayescale predict fit_dir/fit.nc --at x=1e10 --at x=1e11
  bayescale predict fit_dir/fit.nc --at N=7e10,D=1.4e12 --interval 0.8 --kind observation --csv bands.csv
inputs are named by the law's input (x, N, D, ...) or by the column the fit was given"""

ALLOCATE_EPILOG = """examples:
  bayescale allocate fit_dir/fit.nc --compute 1e23 5.88e23 1e24
for laws of N and D (chinchilla, kaplan, additive, ...); C = 6 N D by default"""

ISOFLOP_EPILOG = """examples:
  bayescale isoflop runs.csv --budgets 6e18 1e19 3e19 6e19 1e20 3e20 6e20 1e21 3e21 --plot isoflop.png
  bayescale isoflop sweeps.csv --budget budget --method slice --csv optima.csv
  bayescale isoflop checkpoints.csv --method envelope --run run --plot envelope.png
runs: N, loss and C (or D; C = 6 N D); each run goes to the nearest budget within --tolerance decades
(budgets given, or found from the runs), unless a --budget column names it; prints the exponents a, b
of N_opt ~ C^a and D_opt ~ C^b (a + b = 1) and the optimum of each budget. --method envelope
(Approach 1) reads a row per checkpoint of each --run (D: tokens so far) and takes the optimum at a
grid of compute (--budgets, default 40 values over the runs' compute)"""

COMPARE_EPILOG = """examples:
  bayescale compare power/fit.nc chinchilla/fit.nc
ranks the fits by PSIS-LOO expected log predictive density (fits of the same data)"""


EVALUATE_EPILOG = """examples:
  bayescale evaluate --dataset revisiting_lang --by Domain
  bayescale evaluate runs.csv --law power_law --x tokens --y loss --group run --split Training --csv scores.csv
fits the rows whose --split column is 1 and scores the forecast of the rows where it is 0:
RMSLE of the median, coverage of the central 50..99% bands and MSCE, per curve and overall"""

DESIGN_EPILOG = """examples:
  bayescale design fit_dir/fit.nc --candidates grid.csv --target N=7e10,D=1.4e12 --budget 1e21
  bayescale design fit_dir/fit.nc --candidates grid.csv --target N=7e10,D=1.4e12 --k 5 --cost gpu_hours --plot design.png
candidates: a CSV of runs one could train (the law's inputs, by name or by the fit's column names);
cost: 6 N D FLOP by default, or --cost COLUMN"""


def build_parser() -> argparse.ArgumentParser:
    from bayescale._src.design.criterion import CRITERIA
    from bayescale._src.model.model import LIKELIHOODS

    parser = _Parser(prog="bayescale", description="Bayesian fits of neural scaling laws",
                     epilog="run 'bayescale COMMAND --help' for each command's options and examples")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("fit", help="fit a law to a CSV of runs; write summary, fit file and plot",
                       epilog=FIT_EPILOG, formatter_class=fmt)
    p.add_argument("csv", help="CSV file, one row per training run")
    p.add_argument("--law", required=True, help="law name (see 'bayescale laws')")
    p.add_argument("--y", default="loss", help="loss column (default: %(default)s)")
    p.add_argument("--x", help="column of the input of a one-input law")
    for name, what in (("N", "parameters"), ("D", "training tokens"), ("C", "compute"), ("U", "unique tokens")):
        p.add_argument(f"--{name}", dest=f"input_{name}", metavar="COL", help=f"column of input {name} ({what})")
    p.add_argument("--input", action="append", metavar="NAME=COL", help="column of any other law input (repeatable)")
    p.add_argument("--group", help="column splitting the table into independent curves")
    p.add_argument("--method", default=None, choices=engines.names(),
                   help="; ".join(f"{m}: {engines.get(m).description}" for m in engines.names())
                   + " (default: auto, or nuts with --pooling partial)")
    p.add_argument("--prior", help="named prior (bayescale.priors.names()); default: the law's defaults")
    p.add_argument("--likelihood", default=None, choices=LIKELIHOODS,
                   help="on log loss, or logit_* on logit(y) for error rates in (0, 1) (default: the law's own; "
                        "student_t for most laws, normal for m4)")
    p.add_argument("--pooling", default="none", choices=["none", "partial"],
                   help="partial: share the pooled parameters across --group through a population (default: none)")
    p.add_argument("--pooled", nargs="+", metavar="PARAM",
                   help="parameters to pool with --pooling partial (default: the law's own, e.g. its exponents)")
    p.add_argument("--interval", type=float, default=0.9, help="HDI probability of the summary (default: %(default)s)")
    _sampler_args(p, chains=None, draws=None, warmup=None)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=fit)

    p = sub.add_parser("predict", help="predictive bands of a saved fit at new sizes",
                       epilog=PREDICT_EPILOG, formatter_class=fmt)
    p.add_argument("fit", help="fit file written by 'bayescale fit' (DIR/fit.nc) or Fit.save")
    p.add_argument("--at", action="append", required=True, metavar="NAME=VALUE[,NAME=VALUE]",
                   help="one point to predict at (repeatable)")
    p.add_argument("--interval", type=float, default=0.9, help="central probability of the band (default: %(default)s)")
    p.add_argument("--kind", default="mean", choices=["mean", "observation"],
                   help="the law's value, or a new run's loss with its noise (default: %(default)s)")
    p.add_argument("--group", help="only this group of a grouped fit")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise draws of --kind observation")
    p.add_argument("--no-discrepancy", action="store_true",
                   help="bands of the law assumed exactly true (default: widened beyond the data, bs.Discrepancy)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.set_defaults(func=predict)

    p = sub.add_parser("allocate", help="compute-optimal N and D of a saved fit at FLOP budgets",
                       epilog=ALLOCATE_EPILOG, formatter_class=fmt)
    p.add_argument("fit", help="fit file of a law of N and D")
    p.add_argument("--compute", type=float, nargs="+", required=True, metavar="FLOP", help="budget(s) C")
    p.add_argument("--flops-per-param-token", type=float, default=6.0, help="k in C = k N D (default: %(default)s)")
    p.add_argument("--interval", type=float, default=0.9,
                   help="central probability of the bounds (default: %(default)s)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.set_defaults(func=allocate)

    p = sub.add_parser("isoflop", help="IsoFLOP analysis of a CSV of runs: optimum per budget and N_opt ~ C^a",
                       epilog=ISOFLOP_EPILOG, formatter_class=fmt)
    p.add_argument("csv", help="CSV file, one row per training run")
    p.add_argument("--method", default="parabola", choices=["parabola", "slice", "surface", "envelope"],
                   help="parabola: Hoffmann et al.'s Approach 2; slice: the asymmetric IsoFLOP slice of "
                        "Chinchilla's surface; surface: a chinchilla fit of all runs; envelope: Approach 1, "
                        "the lower envelope of the runs' loss curves (needs --run) (default: %(default)s)")
    p.add_argument("--run", metavar="COL", help="column of each checkpoint's run (--method envelope)")
    p.add_argument("--N", default="N", metavar="COL", help="parameters column (default: %(default)s)")
    p.add_argument("--D", default="D", metavar="COL", help="tokens column (default: %(default)s)")
    p.add_argument("--C", default="C", metavar="COL", help="compute column (default: %(default)s)")
    p.add_argument("--y", default="loss", help="loss column (default: %(default)s)")
    p.add_argument("--budget", metavar="COL", help="column of each run's budget")
    p.add_argument("--budgets", type=float, nargs="+", metavar="FLOP", help="nominal budgets to assign runs to")
    p.add_argument("--tolerance", type=float, help="decades of C from a run to its budget, at most (default 0.05)")
    p.add_argument("--min-runs", type=int, help="fewest runs a budget keeps (default: profile parameters + 2)")
    p.add_argument("--regression", choices=["measurement_error", "per_draw"],
                   help="how the optima make the power law (default: measurement_error; per_draw for envelope)")
    p.add_argument("--fit-method", choices=engines.names(), help="engine of the fit (default: auto)")
    p.add_argument("--draws", type=int, help="draws (default: the engine's)")
    p.add_argument("--flops-per-param-token", type=float, default=6.0, help="k in C = k N D (default: %(default)s)")
    p.add_argument("--interval", type=float, default=0.9, help="central probability of the bounds (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--csv", dest="out_csv", help="also write the per-budget table to this CSV file")
    p.add_argument("--plot", metavar="PNG", help="also draw the profiles and the frontier")
    p.set_defaults(func=isoflop)

    p = sub.add_parser("compare", help="rank saved fits of the same data by PSIS-LOO",
                       epilog=COMPARE_EPILOG, formatter_class=fmt)
    p.add_argument("fits", nargs="+", help="two or more fit files")
    p.set_defaults(func=compare)

    p = sub.add_parser("evaluate", help="fit on the early rows of every curve and score the held-out rest",
                       epilog=EVALUATE_EPILOG, formatter_class=fmt)
    p.add_argument("csv", nargs="?", help="CSV file with a split column (or use --dataset)")
    p.add_argument("--dataset", help="a bundled held-out split (bayescale.datasets.heldout): "
                   + ", ".join(sorted(_heldout_names())))
    p.add_argument("--law", help="law name (default: power_law, or the split's own law with --dataset)")
    p.add_argument("--y", help="loss column (default: loss)")
    p.add_argument("--x", help="column of the input of a one-input law")
    p.add_argument("--input", action="append", metavar="NAME=COL", help="column of a law input (repeatable)")
    p.add_argument("--group", help="column splitting the table into curves")
    p.add_argument("--split", default="Training", help="column: 1 to fit, 0 to score (default: %(default)s)")
    p.add_argument("--by", help="column (constant per curve) to summarize by, e.g. Domain")
    p.add_argument("--method", default="auto", choices=engines.names(), help="engine (default: %(default)s)")
    p.add_argument("--likelihood", default=None, choices=LIKELIHOODS, help="(default: the law's own)")
    p.add_argument("--discrepancy-rate", type=float, default=_default_rate(),
                   help="sd of the log of the factor on the law's rate of decline beyond the data (bs.Discrepancy.rate; default: %(default)s)")
    p.add_argument("--no-discrepancy", action="store_true", help="bands of the law assumed exactly true")
    _sampler_args(p, chains=None, draws=None, warmup=None)
    p.add_argument("--csv", dest="out_csv", help="also write the per-curve table to this CSV file")
    p.set_defaults(func=evaluate)

    p = sub.add_parser("design", help="rank candidate runs by how much they sharpen the forecast at a target, per cost",
                       epilog=DESIGN_EPILOG, formatter_class=fmt)
    p.add_argument("fit", help="fit file written by 'bayescale fit' (DIR/fit.nc) or Fit.save")
    p.add_argument("--candidates", required=True, metavar="CSV", help="CSV of candidate runs")
    p.add_argument("--target", action="append", required=True, metavar="NAME=VALUE[,NAME=VALUE]",
                   help="a target point (repeatable: the value is summed over them)")
    p.add_argument("--budget", type=float, help="pick greedily while the picks' total cost fits in it")
    p.add_argument("--k", type=int, help="pick at most this many runs (default: 1 without --budget)")
    p.add_argument("--cost", metavar="COLUMN", help="cost column of the candidates (default: 6 N D FLOP)")
    p.add_argument("--criterion", default="gaussian", choices=CRITERIA, help="(default: %(default)s)")
    p.add_argument("--group", help="the group of a grouped fit to design for")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the simulated outcomes of the reweight and shortlist criteria")
    p.add_argument("--csv", help="also write the ranked table to this CSV file")
    p.add_argument("--plot", metavar="PNG", help="also plot the candidates and the target's band (laws of N and D)")
    p.set_defaults(func=design)



    p = sub.add_parser("laws", help="list the registered scaling-law forms",
                       epilog="example:\n  bayescale laws", formatter_class=fmt)
    p.set_defaults(func=laws_command)

    p = sub.add_parser("demo", help="fit Chinchilla's law to the bundled data with NUTS; print and plot",
                       epilog="example:\n  bayescale demo --out demo --chains 2 --draws 500", formatter_class=fmt)
    p.add_argument("--out", default="bayescale_demo", help="folder for the tables and plots (default: %(default)s)")
    _sampler_args(p, chains=4, draws=1000, warmup=1000)
    p.set_defaults(func=demo)
    return parser


def _heldout_names() -> list[str]:
    from bayescale.datasets import HELDOUT

    return list(HELDOUT)


def _default_rate() -> float:
    from bayescale._src.fit.discrepancy import DEFAULT

    return DEFAULT.rate


def _sampler_args(p: argparse.ArgumentParser, chains: int | None, draws: int | None, warmup: int | None) -> None:
    """Seed and sampler settings; a default of None means the method's own (NUTS 4 x (1000 + 1000), ChEES 16 x
    (500 + 250))."""
    def default(value):
        return "%(default)s" if value is not None else "the method's"

    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: %(default)s)")
    p.add_argument("--chains", type=int, default=chains, help=f"Markov chains (default: {default(chains)})")
    p.add_argument("--draws", type=int, default=draws, help=f"draws per chain (default: {default(draws)})")
    p.add_argument("--warmup", type=int, default=warmup, help=f"warmup steps per chain (default: {default(warmup)})")


@float64
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0, or 2 for a user mistake)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a one-line argparse error
        return int(stop.code or 0)
    with warnings.catch_warnings():
        warnings.formatwarning = _one_line_warning
        try:
            args.func(args)
        except (UserError, *USER_ERRORS) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            print(f"bayescale {args.command}: error: {message}", file=sys.stderr)
            return 2
        finally:
            warnings.formatwarning = _DEFAULT_FORMAT
    return 0


_DEFAULT_FORMAT = warnings.formatwarning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"bayescale: {category.__name__}: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
