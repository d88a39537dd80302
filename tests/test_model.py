"""The model (bayescale._src.model.model): likelihoods are densities of the observed loss itself."""

import jax.numpy as jnp
import numpy as np
import pytest
from forms_truth import TRUTH

import bayescale as bs


@pytest.mark.parametrize("kind", ["logit_normal", "logit_student_t", "student_t", "normal"])
def test_pointwise_density_is_that_of_y(kind):
    """The log likelihood is a density of y itself: logit (or log) density plus the Jacobian."""
    from scipy import stats

    from bayescale._src.model.model import ModelSpec, make_likelihood, pointwise_log_likelihood

    law = bs.laws.get("m4")
    spec = ModelSpec(law, bs.priors.resolve(law, None), make_likelihood(kind))
    x = {"x": jnp.geomspace(1e2, 1e6, 8)}
    y = np.linspace(0.1, 0.8, 8)
    p = {k: jnp.asarray(v) for k, v in TRUTH["m4"].items()}
    got = np.asarray(pointwise_log_likelihood(spec, p, 0.2, x, jnp.log(y)))
    mean = np.asarray(law(TRUTH["m4"], {"x": np.geomspace(1e2, 1e6, 8)}))
    if kind.startswith("logit"):
        z, loc, jac = np.log(y / (1 - y)), np.log(mean / (1 - mean)), -np.log(y) - np.log1p(-y)
    else:
        z, loc, jac = np.log(y), np.log(mean), -np.log(y)
    base = stats.t(4.0) if kind.endswith("student_t") else stats.norm()
    np.testing.assert_allclose(got, base.logpdf((z - loc) / 0.2) - np.log(0.2) + jac, rtol=1e-9)


def test_likelihood_specs():
    from bayescale._src.model.model import make_likelihood

    # a name and the equal object are the same (hashable) spec, so they share compiled programs
    assert make_likelihood("student_t") == bs.Likelihood("student_t") and make_likelihood("normal").df == 4.0
    assert make_likelihood("logit_normal").bounded and not make_likelihood("student_t").bounded
    with pytest.raises(ValueError, match="degrees of freedom must be positive"):
        make_likelihood(bs.Likelihood("student_t", df=0.0))
    with pytest.raises(TypeError, match="likelihood must be one of"):
        make_likelihood(3)
