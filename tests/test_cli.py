"""The command line (bayescale._src.cli): fit, predict, allocate, compare, laws, help and one-line user errors."""

import contextlib
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fixtures import CHINCHILLA_LAPLACE

import bayescale as bs
from bayescale._src.cli import main

COMMANDS = ["fit", "predict", "allocate", "isoflop", "compare", "evaluate", "laws", "demo"]
# the commands run Laplace fits of a few points as quick stand-ins (isoflop slices, a few families): k near 0.7 or above
pytestmark = pytest.mark.filterwarnings("ignore:.*Laplace approximation Pareto k:bayescale.FitWarning")


@pytest.fixture(scope="module")
def cli_fit(tmp_path_factory, chinchilla_df):
    """``bayescale fit`` on a CSV of the 240 Chinchilla runs under custom column names (Laplace, 200 draws).

    One curve, so the default chunk is one curve: the CHINCHILLA program of tests/fixtures.py.
    """
    root = tmp_path_factory.mktemp("cli")
    runs = chinchilla_df.drop(columns="C").rename(columns={"N": "params", "D": "tokens", "loss": "final_loss"})
    csv = root / "runs.csv"
    runs.to_csv(csv, index=False)
    out = root / "fit"
    stdout = io.StringIO()
    assert CHINCHILLA_LAPLACE["method"] == "laplace"
    with contextlib.redirect_stdout(stdout):
        code = main(["fit", str(csv), "--law", CHINCHILLA_LAPLACE["law"], "--N", "params", "--D", "tokens",
                     "--y", "final_loss", "--method", "laplace", "--draws", str(CHINCHILLA_LAPLACE["draws"]),
                     "--out", str(out)])
    return code, stdout.getvalue(), csv, out


def test_fit_writes_the_promised_files(cli_fit, chinchilla_laplace):
    code, stdout, _, out = cli_fit
    assert code == 0
    for name in ("summary.csv", "fit.nc", "predictive.png"):
        assert (out / name).stat().st_size > 0
    fit = bs.load(out / "fit.nc")
    assert fit.columns.inputs == {"N": "params", "D": "tokens"} and fit.columns.y == "final_loss"
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    pd.testing.assert_frame_equal(summary, fit.summary(), check_exact=True)
    assert "alpha" in stdout and "diagnostics: ok" in stdout
    # the command line fits exactly what bs.fit does with the same data and settings
    for name in ("alpha", "beta", "E"):
        np.testing.assert_allclose(fit.posterior[name], chinchilla_laplace.posterior[name], rtol=1e-12)


def _printed_table(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), sep=r"\s+")


def test_predict_prints_the_python_bands(cli_fit, capsys, tmp_path):
    out = cli_fit[3]
    bands = tmp_path / "bands.csv"
    argv = ["predict", str(out / "fit.nc"), "--at", "params=1e10,tokens=2e11", "--at", "N=1e11,D=2e12",
            "--interval", "0.8", "--kind", "observation", "--csv", str(bands)]
    assert main(argv) == 0
    printed = _printed_table(capsys.readouterr().out)
    expected = bs.load(out / "fit.nc").predict({"N": [1e10, 1e11], "D": [2e11, 2e12]}, interval=0.8,
                                               kind="observation")
    written = pd.read_csv(bands)
    assert list(written.columns) == ["params", "tokens", "mean", "median", "lower", "upper"]
    np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())
    np.testing.assert_allclose(printed.to_numpy(), expected.to_numpy(), rtol=1e-5)


def test_allocate_prints_compute_optimal(cli_fit, capsys, tmp_path):
    out = cli_fit[3]
    table = tmp_path / "opt.csv"
    assert main(["allocate", str(out / "fit.nc"), "--compute", "1e22", "1e24", "--csv", str(table)]) == 0
    printed = _printed_table(capsys.readouterr().out)
    expected = bs.compute_optimal(bs.load(out / "fit.nc"), [1e22, 1e24])
    np.testing.assert_array_equal(pd.read_csv(table).to_numpy(), expected.to_numpy())
    np.testing.assert_allclose(printed["N_opt"], expected["N_opt"], rtol=1e-5)


def test_compare_ranks_fits(cli_fit, capsys, tmp_path):
    out = cli_fit[3]
    copy = tmp_path / "again.nc"
    copy.write_bytes((out / "fit.nc").read_bytes())
    assert main(["compare", str(out / "fit.nc"), str(copy)]) == 0
    printed = capsys.readouterr().out
    assert "again" in printed and "fit" in printed and "elpd" in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "{dir}/missing.csv", "--law", "chinchilla", "--out", "{dir}/o"], "missing.csv"),
        (["fit", "{csv}", "--law", "nope", "--out", "{dir}/o"], "unknown law 'nope'"),
        (["fit", "{csv}", "--law", "chinchilla", "--N", "params", "--D", "tokens", "--out", "{dir}/o"],
         "column 'loss' (the loss) not found"),
        (["fit", "{csv}", "--law", "power_law", "--N", "params", "--y", "final_loss", "--out", "{dir}/o"],
         "takes no input(s) ['N']"),
        (["fit", "{csv}", "--law", "chinchilla", "--out", "{dir}/o", "--method", "hmc"], "invalid choice: 'hmc'"),
        (["fit", "{csv}"], "required: --law, --out"),
        (["predict", "{fit}", "--at", "params=abc,tokens=1"], "'abc' is not a number"),
        (["predict", "{fit}", "--at", "q=1"], "--at q: law 'chinchilla' takes inputs ['N', 'D']"),
        (["predict", "{fit}", "--at", "N=1e10"], "missing ['D']"),
        (["predict", "{fit}", "--at", "N=-1,D=1e10"], "must be positive"),
        (["predict", "{fit}", "--at", "N=1e10,D=1e11", "--group", "a"], "--group needs a grouped fit"),
        (["predict", "{csv}", "--at", "N=1"], "is not a bayescale fit file"),
        (["allocate", "{fit}", "--compute", "-5"], "compute must be positive"),
        (["allocate", "{fit}"], "required: --compute"),
        (["compare", "{fit}"], "at least two fit files"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_user_errors_are_one_line(cli_fit, capsys, tmp_path, argv, message):
    _, _, csv, out = cli_fit
    argv = [a.format(dir=tmp_path, csv=csv, fit=out / "fit.nc") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help_with_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bayescale {command}") and "example" in out


def test_laws_entry_point():
    result = subprocess.run([sys.executable, "-m", "bayescale", "laws"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "chinchilla" in result.stdout and "power_law" in result.stdout and "formula" in result.stdout


@pytest.mark.statistical
def test_demo_writes_tables_and_plots(tmp_path, capsys):
    """The end-to-end demo: NUTS on the 240 runs and 16 learning curves, two programs of its own (slow tier)."""
    assert main(["demo", "--out", str(tmp_path), "--chains", "2", "--draws", "100", "--warmup", "100"]) == 0
    out = capsys.readouterr().out
    assert "Compute-optimal allocation" in out and "alpha" in out
    for name in ("summary.csv", "compute_optimal.csv", "chinchilla_predictive.png", "chinchilla_frontier.png"):
        assert (tmp_path / name).stat().st_size > 0
    opt = pd.read_csv(tmp_path / "compute_optimal.csv")
    assert list(opt["compute"]) == [1e21, 1e22, 1e23, 5.88e23, 1e24, 1e25]


def test_fit_downstream_scores_with_a_chance_floor(tmp_path, capsys):
    """The downstream example of ``bayescale fit --help``: MMLU scores by family on a sigmoid with floor 0.25."""
    df = bs.datasets.load("downstream_scores").rename(columns={"C": "flops"})
    csv = tmp_path / "scores.csv"
    df[["family", "model", "flops", "mmlu"]].to_csv(csv, index=False)
    out = tmp_path / "fit"
    code = main(["fit", str(csv), "--law", "sigmoid_compute(floor=0.25)", "--C", "flops", "--y", "mmlu",
                 "--group", "family", "--method", "laplace", "--draws", "100", "--out", str(out)])
    assert code == 0
    fit = bs.load(out / "fit.nc")
    assert fit.law is bs.laws.sigmoid_compute(floor=0.25) and fit.groups == ["Falcon", "Llama 1", "Llama 2", "MPT"]
    assert "midpoint" in capsys.readouterr().out
    assert main(["predict", str(out / "fit.nc"), "--at", "flops=1e25", "--group", "Llama 2"]) == 0
    band = _printed_table(capsys.readouterr().out)
    assert 0.25 <= band["lower"].item() <= band["upper"].item() <= 1
    # --pooled without --pooling partial is a one-line error
    assert main(["fit", str(csv), "--law", "sigmoid_compute(floor=0.25)", "--C", "flops", "--y", "mmlu",
                 "--group", "family", "--pooled", "slope", "--out", str(out)]) == 2
    assert "pooled= names the parameters of pooling='partial'" in capsys.readouterr().err


def test_isoflop_prints_exponents_and_budgets(tmp_path, capsys):
    """``bayescale isoflop`` prints what bs.isoflop gives (test_isoflop's Laplace program: 4 budgets of 6 runs)."""
    from bayescale._src.analysis.isoflop import simulate_sweeps

    sweep = simulate_sweeps(budgets=(1e19, 1e20, 1e21, 1e22), runs=6, width=1.5, noise=0.003, seed=3)
    csv = tmp_path / "sweep.csv"
    sweep.drop(columns="D").to_csv(csv, index=False)
    code = main(["isoflop", str(csv), "--budget", "budget", "--fit-method", "laplace", "--draws", "200",
                 "--csv", str(tmp_path / "optima.csv"), "--plot", str(tmp_path / "isoflop.png")])
    out = capsys.readouterr().out
    assert code == 0 and "24 runs in 4 budgets" in out
    expected = bs.isoflop(sweep, budget="budget", fit_method="laplace", draws=200)
    table = pd.read_csv(tmp_path / "optima.csv")
    np.testing.assert_allclose(table["N_opt"], expected.budgets["N_opt"], rtol=1e-6)
    assert f"{expected.exponents.loc['a', 'median']:.4f}" in out
    assert (tmp_path / "isoflop.png").stat().st_size > 0


def test_isoflop_envelope_reads_checkpoints(tmp_path, capsys):
    """``bayescale isoflop --method envelope --run run`` (test_isoflop's envelope program: 6 sizes, Laplace)."""
    from bayescale._src.analysis.isoflop import simulate_runs

    runs = simulate_runs(sizes=np.geomspace(1e8, 2e9, 6), budgets=10.0 ** np.arange(17, 22.01, 0.25), noise=0.003,
                         seed=1).drop(columns="budget")
    csv = tmp_path / "checkpoints.csv"
    runs.to_csv(csv, index=False)
    code = main(["isoflop", str(csv), "--method", "envelope", "--run", "run", "--fit-method", "laplace",
                 "--draws", "200"])
    out = capsys.readouterr().out
    assert code == 0 and f"{len(runs)} checkpoints of 6 runs" in out
    expected = bs.isoflop(runs, "envelope", run="run", fit_method="laplace", draws=200)
    assert f"{expected.exponents.loc['a', 'median']:.4f}" in out
    assert main(["isoflop", str(csv), "--method", "envelope"]) == 2
    assert "run=" in capsys.readouterr().err
