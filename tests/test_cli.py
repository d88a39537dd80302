import subprocess
import sys

import pandas as pd

from bayescale.cli import main


def test_demo_writes_tables_and_plots(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--chains", "2", "--draws", "100", "--warmup", "100"]) == 0
    out = capsys.readouterr().out
    assert "Compute-optimal allocation" in out and "alpha" in out
    for name in ("summary.csv", "compute_optimal.csv", "chinchilla_predictive.png", "chinchilla_frontier.png"):
        assert (tmp_path / name).stat().st_size > 0
    opt = pd.read_csv(tmp_path / "compute_optimal.csv")
    assert list(opt["compute"]) == [1e21, 1e22, 1e23, 5.88e23, 1e24, 1e25]


def test_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "bayescale", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout
