"""bayescale computes in float64 without switching JAX's global ``jax_enable_x64`` (bayescale._src.precision)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bayescale._src.precision import float64, float64_context

TESTS = Path(__file__).parent

# a fresh interpreter with JAX's default precision: importing bayescale keeps it, a fit runs in float64, the user's
# own arrays stay float32 after it, and the fit's numbers are printed for the comparison below
FRESH = """
import json, sys
sys.path.insert(0, {tests!r})
import jax, jax.numpy as jnp
import bayescale as bs
from fixtures import fit_like, power_curves
before = bool(jax.config.jax_enable_x64)
fit = fit_like(power_curves(), "laplace")
band = fit.predict({{"tokens": [1e11]}}, interval=0.9)
print(json.dumps({{"x64_after_import": before, "x64_after_fit": bool(jax.config.jax_enable_x64),
                  "user_dtype": str(jnp.ones(2).dtype), "alpha": fit.draws("alpha").mean(axis=-1).tolist(),
                  "median": band["median"].tolist(), "upper": band["upper"].tolist()}}))
"""


def test_import_keeps_jax_precision_and_a_fit_agrees_with_float64(power_laplace):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "BAYESCALE_PROGRESS": "0"}
    env.pop("BAYESCALE_X64", None)
    out = subprocess.run([sys.executable, "-c", FRESH.format(tests=str(TESTS))], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    assert fresh["x64_after_import"] is False and fresh["x64_after_fit"] is False
    assert fresh["user_dtype"] == "float32"
    # the same fit in this (float64) process: the fresh interpreter's numbers agree to 6 digits
    band = power_laplace.predict({"tokens": [1e11]}, interval=0.9)
    np.testing.assert_allclose(fresh["alpha"], power_laplace.draws("alpha").mean(axis=-1), rtol=1e-6)
    np.testing.assert_allclose(fresh["median"], band["median"], rtol=1e-6)
    np.testing.assert_allclose(fresh["upper"], band["upper"], rtol=1e-6)


def test_float64_context_restores_the_callers_setting():
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(False):
        with float64_context():
            assert jnp.ones(1).dtype == jnp.float64
        assert jnp.ones(1).dtype == jnp.float32
        assert float64(lambda: jnp.ones(1).dtype)() == jnp.float64
        assert jnp.ones(1).dtype == jnp.float32


@pytest.mark.parametrize("value", ["0"])
def test_bayescale_x64_0_keeps_jax_precision(monkeypatch, value):
    import jax
    import jax.numpy as jnp

    monkeypatch.setenv("BAYESCALE_X64", value)
    with jax.enable_x64(False):
        assert float64(lambda: jnp.ones(1).dtype)() == jnp.float32
