"""Test setup: CPU only, float64, silent progress, deterministic seeds; the two tiers.

The shared fits live in ``tests/fixtures.py``, imported below. Tests
marked ``statistical`` (recovery, calibration, published fits at full settings,
notebooks) are skipped unless pytest runs with ``--statistical`` or with
``BAYESCALE_STATISTICAL=1`` in the environment; see tests/README.md.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("BAYESCALE_PROGRESS", "0")  # silent tests (and notebooks run from them)
# JAX's persistent compilation cache (the repository's .jax_cache unless set): the two pytest-xdist workers build
# many of the same programs (each builds the session fixtures it needs), and the fresh interpreters some tests
# start inherit the variable, so the second of each loads what the first compiled
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache"))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Epoch AI's re-fit of Hoffmann et al. (Besiroglu et al. 2024, Table 1)
EPOCH = {"E": 1.817, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3659}


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


# ---------------------------------------------------------------------- float64, shared fits
jax.config.update("jax_enable_x64", True)  # whatever BAYESCALE_X64 says: the tolerances below assume float64
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
# the session fixtures of tests/fixtures.py, imported explicitly (a pytest_plugins entry named "fixtures"
# would collide with pytest's own plugin of that name and be skipped)
from fixtures import *  # noqa: E402, F401, F403

# ---------------------------------------------------------------------- the two tiers
STATISTICAL_ENV = "BAYESCALE_STATISTICAL"


def pytest_addoption(parser):
    parser.addoption(
        "--statistical",
        action="store_true",
        default=False,
        help=f"also run the tests marked 'statistical' (slow; same as {STATISTICAL_ENV}=1)",
    )


def statistical_enabled(config) -> bool:
    return bool(config.getoption("--statistical")) or os.environ.get(STATISTICAL_ENV, "") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    if statistical_enabled(config):
        return
    skip = pytest.mark.skip(reason=f"statistical tier: run with --statistical (or {STATISTICAL_ENV}=1)")
    for item in items:
        if "statistical" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs(request):
    """In the statistical tier, drop JAX's in-memory compiled programs after each module (the persistent cache
    keeps them cheap to reload): the tier's one process died twice in XLA's compiler after 63 tests,
    with dozens of large programs held."""
    yield
    if statistical_enabled(request.config):
        import jax

        jax.clear_caches()
