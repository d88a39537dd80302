"""bs.bootstrap (bayescale._src.analysis.resampling): Epoch AI's bootstrap of the Huber fit on the 240 Chinchilla runs."""

import pytest
from fixtures import BOOTSTRAP

import bayescale as bs


def test_bootstrap_reproduces_epoch_intervals(chinchilla_df):
    boot = bs.bootstrap(chinchilla_df, n=400, seed=0, **BOOTSTRAP)
    assert list(boot.columns) == ["E", "alpha", "beta", "A", "B", "objective"] and len(boot) == 400
    # Epoch AI's full-data optimum of the same objective
    assert boot.attrs["full_fit"]["objective"] == pytest.approx(0.0010182740, rel=1e-6)
    q = boot.quantile([0.025, 0.975])
    for name, (lo, hi) in {"alpha": (0.317, 0.373), "beta": (0.331, 0.415), "E": (1.769, 1.871)}.items():
        assert q.loc[0.025, name] == pytest.approx(lo, abs=0.01), name
        assert q.loc[0.975, name] == pytest.approx(hi, abs=0.015), name


def test_bootstrap_argument_errors(chinchilla_df):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        bs.bootstrap(chinchilla_df, n=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        bs.bootstrap(chinchilla_df, n=10, chunk_size=0)
