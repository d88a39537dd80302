"""End-point coordinates (bayescale/_src/ends.py): an exact change of variables, so the posterior is the user's."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from fixtures import power_curves

import bayescale as bs
from bayescale._src import ends
from bayescale._src.data import prepare, resolve_columns
from bayescale._src.fitting import model_spec
from bayescale._src.model import curve_problem, reference_coordinates
from bayescale._src.problem import to_device

FRAME = ends.Frame(np.log(1e6), np.log(1e9), np.log(0.05))  # x over 1e6..1e9, losses spread by 0.05
NATURAL = [(2.0, 50.0, 0.3), (1.0, 400.0, 0.15), (0.01, 5.0, 0.6), (2.5, 1e4, 1.2), (1.9, 1e-6, 0.05)]


@pytest.mark.parametrize("positive_floor", [True, False])
def test_map_inverts_and_its_log_jacobian_is_the_determinant(positive_floor):
    floor, amplitude, alpha = (jnp.asarray(column) for column in zip(*NATURAL))
    w = jnp.stack(ends.from_natural(floor, amplitude, alpha, FRAME, positive_floor), axis=-1)

    def natural(w):
        e, log_a, a, _ = ends.to_natural(w, FRAME, positive_floor)
        return jnp.stack([e, jnp.exp(log_a), a])

    @jax.jit
    def check(w):  # one compile: the values, the log-Jacobian and the Jacobian at every point
        return jax.vmap(natural)(w), jax.vmap(lambda u: ends.to_natural(u, FRAME, positive_floor)[-1])(w), \
            jax.vmap(jax.jacfwd(natural))(w)

    values, log_jacobian, jacobians = check(w)
    np.testing.assert_allclose(values, np.stack([floor, amplitude, alpha], axis=-1), rtol=1e-10)
    np.testing.assert_allclose(log_jacobian, np.log(np.abs(np.linalg.det(np.asarray(jacobians)))), atol=1e-9)
    # every w is a valid (E > 0, A > 0, alpha > 0) when E's prior is positive: the map is onto the support
    e, log_a, a, log_j = ends.to_natural(jax.random.normal(jax.random.PRNGKey(0), (3, 1000)) * 4, FRAME, True)
    assert bool(jnp.all(e > 0) & jnp.all(a > 0) & jnp.all(jnp.isfinite(log_a)) & jnp.all(jnp.isfinite(log_j)))


def _one_curve(law, priors=None):
    cols = resolve_columns(law, "val_loss", "tokens", None, None)
    batch, _, _ = prepare(power_curves(lengths=(20,)), law, cols)
    spec = model_spec(law, priors, "student_t", batch)
    return spec, jax.tree_util.tree_map(lambda a: a[0], to_device(batch, jnp.float64))


def test_potential_differs_from_the_reference_coordinates_by_the_log_jacobian():
    """U_ends(w) = U_ref(z(w)) - log|dz/dw| at random points: the same posterior over (E, A, alpha, sigma).
    (The log-Jacobian itself is checked against the determinant above.)"""
    spec, curve = _one_curve(bs.laws.get("power_law"))
    new, old = curve_problem(spec), curve_problem(reference_coordinates(spec))
    assert new.names == ("log_law_at_max_x", "scaled_log_drop_over_x", "log_alpha_excess", "sigma")
    assert old.names == ("E", "alpha", "log_A_ref", "sigma")
    frame = ends.curve_frame(spec.law.ends, curve.inputs, curve.log_y, curve.mask)

    def gap(w):  # U_ends(w) - U_ref(z(w)) + log|dz/dw|; the shear to log_A_ref has unit Jacobian
        e, log_a, a, log_jacobian = ends.to_natural(w[:3], frame, True)
        z = jnp.stack([jnp.log(e), jnp.log(a), log_a - a * curve.log_refs["x"], w[3]])
        return new.potential(w, curve) - old.potential(z, curve) + log_jacobian - jnp.log(e) - jnp.log(a) - log_a

    start = new.init(jax.random.PRNGKey(1), curve, 6)
    points = start + 0.3 * jax.random.normal(jax.random.PRNGKey(2), start.shape)
    assert bool(jnp.all(jnp.isfinite(start)))
    np.testing.assert_allclose(jax.jit(jax.vmap(gap))(points), 0.0, atol=1e-8)
    # the deterministic sites are the natural parameters, and the starts map back to the priors' support
    values = jax.vmap(lambda w: new.constrain(w, curve))(start)
    assert {"E", "A", "alpha"} <= set(values) and bool(jnp.all(values["E"] > 0))


def test_priors_outside_the_map_keep_the_reference_coordinates():
    """A law's own prior on E over the real line gets alpha_min = 0; any other support, or a given (pooled)
    parameter, keeps the reference coordinates. (bs.fit's priors must keep the law's supports.)"""
    spec, _ = _one_curve(bs.laws.get("power_law"))

    def with_floor(prior):
        return spec._replace(priors=tuple((n, prior if n == "E" else p) for n, p in spec.priors))

    real_floor = with_floor(dist.Normal(2.0, 1.0))
    assert ends.applies(real_floor) and curve_problem(real_floor).names[2] == "log_alpha_excess"
    bounded = with_floor(dist.Uniform(0.0, 5.0))
    assert not ends.applies(bounded) and curve_problem(bounded).names == ("E", "alpha", "log_A_ref", "sigma")
    assert not ends.applies(spec, given={"alpha": 0.3})  # pooled exponent: reference coordinates
    law = spec.law
    with pytest.raises(ValueError, match="unknown parameter 'F'"):
        bs.laws.check_law(law._replace(ends=law.ends._replace(irreducible="F")))


def test_pow3_samples_in_the_coordinates_of_its_power_law_core():
    """pow3 is power_law's E + A x^-alpha under Domhan's names: the same map, named after its own parameters."""
    spec, curve = _one_curve(bs.laws.get("pow3"))
    assert ends.applies(spec)
    assert curve_problem(spec).names == ("log_law_at_max_x", "scaled_log_drop_over_x", "log_alpha_excess", "sigma")
    w = jnp.asarray([jnp.log(2.5), 0.5, -1.0, 0.05])
    values = curve_problem(spec).constrain(w, curve)
    as_power_law = curve_problem(_one_curve(bs.laws.get("power_law"))[0]).constrain(w, curve)
    for mine, theirs in (("c", "E"), ("a", "A"), ("alpha", "alpha")):
        np.testing.assert_allclose(values[mine], as_power_law[theirs], rtol=1e-12)


def nearly_flat_curves(num_curves: int, seed: int = 0, points: int = 15):
    """Issue 13's nearly flat design (as benchmarks/common.py): 15 points over 1e6..1e9, E 1-3, log A 2-6,
    alpha 0.15-0.6, 2% Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e9, points)
    frames = []
    for c in range(num_curves):
        floor, amplitude, alpha = rng.uniform(1, 3), np.exp(rng.uniform(2, 6)), rng.uniform(0.15, 0.6)
        loss = (floor + amplitude * x**-alpha) * (1 + 0.02 * rng.standard_normal(points))
        frames.append(pd.DataFrame({"x": x, "loss": loss, "curve": c}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.statistical
def test_end_point_coordinates_let_importance_serve_most_nearly_flat_curves():
    """16 nearly flat curves: importance-corrected Laplace's Pareto k > 0.7 (auto escalates to NUTS) on at most
    6 curves in end-point coordinates, and on at least 4 more in the reference coordinates (benchmarks/README.md,
    64 curves: 22% against 73%). Two importance programs (about a minute on 2 cores)."""
    df = nearly_flat_curves(16, seed=1)
    law = bs.laws.get("power_law")
    share = {}
    for name, coordinates in (("ends", law), ("reference", law._replace(ends=None))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.FitWarning)
            fit = bs.fit(df, law=coordinates, group="curve", method="importance", chunk_size=16, seed=0)
        share[name] = int(np.sum(np.asarray(fit.curve_stats["pareto_k"]) > 0.7))
    assert share["ends"] <= 6 and share["reference"] >= share["ends"] + 4, share
