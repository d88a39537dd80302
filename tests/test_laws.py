import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import bayescale as bs
from bayescale.laws import forms

TRUTH = {
    "pure_power_law": ({"A": 20.0, "alpha": 0.3}, {"x": 1e8}),
    "power_law": ({"E": 1.7, "A": 400.0, "alpha": 0.3}, {"x": 1e9}),
    "chinchilla": ({"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}, {"N": 1e9, "D": 2e10}),
    "kaplan": ({"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}, {"N": 1e9, "D": 2e10}),
    "additive": ({"alpha_N": 0.3, "alpha_D": 0.3, "N_c": 1e9, "D_c": 1e10}, {"N": 1e9, "D": 2e10}),
    "additive_compute": (
        {"alpha_N": 0.3, "alpha_D": 0.3, "N_c": 1e9, "D_c": 1e10, "alpha_C": 0.2, "C_c": 1e18},
        {"N": 1e9, "D": 2e10, "C": 1.2e20},
    ),
    "multiplicative": ({"K": 50.0, "alpha": 0.1, "beta": 0.1}, {"N": 1e9, "D": 2e10}),
    "multiplicative_compute": ({"K": 50.0, "alpha": 0.1, "beta": 0.1, "gamma": 0.05}, {"N": 1e9, "D": 2e10, "C": 1.2e20}),
}


def test_registry_covers_every_law():
    from forms_truth import TRUTH as NEW_FORMS  # issue 5's forms, tested in test_forms.py

    assert set(TRUTH) | set(NEW_FORMS) == set(bs.laws.names())
    table = bs.laws.table()
    assert list(table.columns) == ["formula", "inputs", "parameters", "reference"]
    assert table.loc["chinchilla", "parameters"] == "E, alpha, beta, A, B"


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_law_is_jittable_vmappable_and_differentiable(name):
    law = bs.laws.get(name)
    params, point = TRUTH[name]
    assert set(params) == set(law.param_names) and set(point) == set(law.inputs)
    value = float(law(params, point))
    assert np.isfinite(value) and value > 0
    # jit, vmap over a batch of inputs, grad w.r.t. every parameter
    batch = {k: jnp.geomspace(v, 10 * v, 5) for k, v in point.items()}
    out = jax.jit(law.fn)(params, batch)
    assert out.shape == (5,) and np.all(np.isfinite(out))
    vmapped = jax.vmap(lambda p: law.fn(p, point))({k: jnp.full(3, v) for k, v in params.items()})
    np.testing.assert_allclose(vmapped, value, rtol=1e-12)
    grads = jax.grad(lambda p: law.fn(p, point))(params)
    assert all(np.isfinite(float(g)) for g in grads.values())


def test_forms_match_their_formulas():
    p, x = TRUTH["chinchilla"]
    expected = p["E"] + p["A"] * x["N"] ** -p["alpha"] + p["B"] * x["D"] ** -p["beta"]
    assert float(bs.laws.chinchilla(p, x)) == pytest.approx(expected, rel=1e-12)
    p, x = TRUTH["kaplan"]
    expected = ((p["N_c"] / x["N"]) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / x["D"]) ** p["alpha_D"]
    assert float(bs.laws.kaplan(p, x)) == pytest.approx(expected, rel=1e-12)
    p, x = TRUTH["multiplicative_compute"]
    expected = p["K"] * x["N"] ** -p["alpha"] * x["D"] ** -p["beta"] * x["C"] ** -p["gamma"]
    assert float(bs.laws.multiplicative_compute(p, x)) == pytest.approx(expected, rel=1e-12)


def test_default_priors_respect_signs():
    for name in bs.laws.names():
        for p in bs.laws.get(name).params:
            assert p.prior.support in (dist.constraints.positive, dist.constraints.nonnegative), (name, p.name)
    assert float(bs.laws.power_law.param("E").prior.log_prob(0.01)) > -5  # an irreducible loss near 0 is allowed


def test_unknown_law_and_aliases():
    assert bs.laws.get("M2") is bs.laws.power_law
    with pytest.raises(ValueError, match="unknown law 'chinchila'"):
        bs.laws.get("chinchila")
    with pytest.raises(ValueError, match="unknown law"):
        bs.fit({"x": [1, 2, 3], "loss": [3, 2, 1]}, law="nope")


def test_user_defined_law_fits_like_a_builtin():
    law = bs.Law(
        name="log_law_test",
        fn=lambda p, x: p["a"] - p["b"] * jnp.log(x["x"]),
        inputs=("x",),
        params=(bs.Param("a", dist.LogNormal(1.0, 1.0)), bs.Param("b", forms.exponent_prior(0.1))),
        formula="L = a - b log x",
    )
    x = np.geomspace(10, 1e4, 12)
    y = 3.0 - 0.2 * np.log(x)
    fit = bs.fit({"x": x, "loss": y}, law=law, method="map")
    assert fit.mode["a"][0] == pytest.approx(3.0, rel=1e-3)
    assert fit.mode["b"][0] == pytest.approx(0.2, rel=1e-3)


def test_bad_law_specs_are_rejected():
    bad = bs.Law("bad", lambda p, x: p["A"], ("x",), (bs.Param("A", dist.Normal(0, 1), scale_by=(("x", "alpha"),)),))
    with pytest.raises(ValueError, match="unknown parameter 'alpha'"):
        bs.laws.get(bad)
    bad = bs.Law("bad", lambda p, x: p["A"], ("x",), (bs.Param("A", dist.Normal(0, 1), scale_by=(("x", None),)),))
    with pytest.raises(ValueError, match="needs a positive prior"):
        bs.laws.get(bad)
    with pytest.raises(ValueError, match="reserved"):
        bs.laws.get(bs.Law("bad", lambda p, x: p["sigma"], ("x",), (bs.Param("sigma", dist.HalfNormal(1)),)))
