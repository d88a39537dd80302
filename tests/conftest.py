"""Test setup: CPU only, float64, deterministic seeds; shared fits are session fixtures."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("BAYESCALE_PROGRESS", "0")  # silent tests (and notebooks run from them)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayescale as bs  # noqa: E402

# Epoch AI's re-fit of Hoffmann et al. (Besiroglu et al. 2024, Table 1)
EPOCH = {"E": 1.817, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3659}


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


@pytest.fixture(scope="session")
def chinchilla_df():
    return bs.datasets.load("chinchilla")


@pytest.fixture(scope="session")
def chinchilla_nuts(chinchilla_df):
    """NUTS on the 240 Chinchilla points with the default settings."""
    return bs.fit(chinchilla_df, law="chinchilla", method="nuts", seed=0)
