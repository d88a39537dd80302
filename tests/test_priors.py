"""bs.priors: literature presets, posterior-as-prior transfer; the few-run forecast study (statistical tier)."""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayescale as bs
from bayescale._src.model.joint_prior import spec_priors
from bayescale._src.model.model import prior_draws
from fixtures import COLUMNS

# A Chinchilla-type law that is none of the presets' centres (alpha and beta within one prior sd of Hoffmann's)
FEW_RUN_TRUTH = {"E": 2.0, "A": 400.0, "B": 1500.0, "alpha": 0.32, "beta": 0.33}
# 4 small runs: two model sizes x two token counts
FEW_RUN_N = np.array([2e7, 2e7, 1e8, 1e8])
FEW_RUN_D = np.array([4e8, 4e9, 4e8, 4e9])


def test_named_priors_listed_and_cited():
    names = bs.priors.names()
    assert {"kaplan2020", "hoffmann2022", "epoch2024", "muennighoff2023", "revisiting_lm"} <= set(names)
    table = bs.priors.table()
    assert list(table.index) == names
    assert set(table["kind"]) == {"preset", "learned"}
    assert table["source"].str.contains("arXiv").all()


def test_preset_priors_replace_defaults():
    table = bs.priors.used("chinchilla", "hoffmann2022")
    assert not table.loc[["E", "A", "B", "alpha", "beta"], "default"].any()
    assert table.loc["sigma", "default"]
    alpha = bs.priors.preset("hoffmann2022", "chinchilla")["alpha"]
    assert float(np.exp(alpha.loc)) == pytest.approx(0.34)
    # the same objects every call, so fits with a preset reuse compiled programs
    assert bs.priors.preset("hoffmann2022", "chinchilla")["alpha"] is alpha


def test_preset_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown prior preset 'chinchila'"):
        bs.priors.used("chinchilla", "chinchila")
    with pytest.raises(ValueError, match="no priors for law 'chinchilla'; it covers kaplan"):
        bs.priors.used("chinchilla", "kaplan2020")
    with pytest.raises(TypeError, match="preset name or a dict"):
        bs.priors.used("chinchilla", 3)


def test_from_fit_moment_matches_in_unconstrained_space(chinchilla_laplace):
    priors = bs.priors.from_fit(chinchilla_laplace, params=["alpha", "E"], inflate=2.0)
    assert set(priors) == {"alpha", "E"}
    for name in ("alpha", "E"):
        log_draws = np.log(chinchilla_laplace.draws(name)[0])
        assert isinstance(priors[name], dist.LogNormal)
        assert float(priors[name].loc) == pytest.approx(log_draws.mean(), rel=1e-12)
        assert float(priors[name].scale) == pytest.approx(2.0 * log_draws.std(ddof=1), rel=1e-12)
    with pytest.raises(ValueError, match="inflate"):
        bs.priors.from_fit(chinchilla_laplace, inflate=0.5)
    with pytest.raises(ValueError, match="no parameter 'gamma'"):
        bs.priors.from_fit(chinchilla_laplace, params=["gamma"])


# The published Chinchilla-type fits, each the centre of a preset: refits of one data set disagree
PUBLISHED = {
    "hoffmann2022": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    "epoch2024": {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658},
    "muennighoff2023": {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.353, "beta": 0.353},
}
FEW_RUN_SETTINGS = dict(group="run", method="nuts", chains=4, draws=500, warmup=500, seed=1)


def _few_run_data(truth: dict, replicates: int, seed: int) -> pd.DataFrame:
    law = bs.laws.get("chinchilla")
    rng = np.random.default_rng(seed)
    mean = np.asarray(law(truth, {"N": FEW_RUN_N, "D": FEW_RUN_D}))
    return pd.concat(
        pd.DataFrame({"run": r, "N": FEW_RUN_N, "D": FEW_RUN_D, "loss": mean * np.exp(0.01 * rng.standard_normal(4))})
        for r in range(replicates)
    )


def _hundredfold():
    """The compute-optimal run (20 tokens per parameter) at 100x the largest run's compute."""
    n_target = np.sqrt(100 * (6 * FEW_RUN_N * FEW_RUN_D).max() / (6 * 20))
    return {"N": [n_target], "D": [20 * n_target]}


@functools.lru_cache(maxsize=None)
def _few_run_band(truth: str, priors: str | None):
    """The 90% band at 100x compute of 3 replicates of 4 runs from ``truth``, and the true loss there."""
    values = FEW_RUN_TRUTH if truth == "other" else PUBLISHED[truth]
    # the seeds of benchmarks/bench_priors.py --part presets
    df = _few_run_data(values, replicates=3, seed=0 if truth == "other" else list(PUBLISHED).index(truth))
    target = _hundredfold()
    true_loss = float(bs.laws.get("chinchilla")(values, {k: np.array(v[0]) for k, v in target.items()}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = bs.fit(df, "chinchilla", priors=priors, **FEW_RUN_SETTINGS)
    # the runs are simulated from the law itself: the bands of its parameters, without the discrepancy term
    return fit, fit.predict(target, discrepancy=None), true_loss


@pytest.mark.statistical
def test_few_run_forecast_with_preset():
    """4 small runs: at 100x the largest compute, the preset's 90% band covers the truth and is >= 2x narrower."""
    default, band_default, truth = _few_run_band("other", None)
    informed, band, _ = _few_run_band("other", "hoffmann2022")
    assert any("dominated by the default priors" in p for p in default.problems)
    assert not any("dominated" in p for p in informed.problems)
    assert ((band["lower"] <= truth) & (truth <= band["upper"])).all()
    ratio = (band_default["upper"] - band_default["lower"]) / (band["upper"] - band["lower"])
    assert (ratio >= 2).all(), ratio.tolist()


@pytest.mark.statistical
@pytest.mark.parametrize("truth", list(PUBLISHED))
@pytest.mark.parametrize("preset", list(PUBLISHED))
def test_every_preset_covers_every_published_truth(truth, preset):
    """Runs simulated from one published refit, fitted with another's preset: the band at 100x still covers,
    and is still narrower than the default priors' (a band that covers by being useless is no progress)."""
    _, band, true_loss = _few_run_band(truth, preset)
    _, band_default, _ = _few_run_band(truth, None)
    assert ((band["lower"] <= true_loss) & (true_loss <= band["upper"])).all(), (band, true_loss)
    ratio = (band_default["upper"] - band_default["lower"]) / (band["upper"] - band["lower"])
    assert (ratio >= 1.5).all(), ratio.tolist()


def _coordinates(fit, log_x0: float) -> np.ndarray:
    """Per curve, the posterior mean of (log E, log alpha, log A - alpha log x0, log sigma), by hand."""
    e, alpha, a, sigma = (fit.draws(n) for n in ("E", "alpha", "A", "sigma"))
    coords = np.stack([np.log(e), np.log(alpha), np.log(a) - alpha * log_x0, np.log(sigma)], axis=-1)
    return coords.mean(axis=1)


def test_from_fits_is_the_student_t_predictive(power_table, power_laplace):
    """The normal-inverse-Wishart predictive of a new curve: t_{n+k+2}(mean, (n+1)(kD + S) / (n (n+k+2)))."""
    pop = bs.priors.from_fits(power_laplace)
    log_x0 = np.log(power_table["tokens"]).mean()
    points = _coordinates(power_laplace, log_x0)
    n, k = len(points), bs.priors.population.PSEUDO_CURVES
    scatter = (points - points.mean(0)).T @ (points - points.mean(0))
    scale = (k * np.diag(np.diag(scatter)) / (n - 1) + scatter) * (n + 1) / (n * (n + k + 2))
    joint = pop.joint
    assert joint.names == ("E", "alpha", "A", "sigma") and joint.df == n + k + 2
    np.testing.assert_allclose(joint.loc, points.mean(0), rtol=1e-9)
    tril = np.asarray(joint.scale_tril)
    np.testing.assert_allclose(tril @ tril.T, scale, rtol=1e-9, atol=1e-15)
    assert dict(joint.log_reference) == pytest.approx({"x": log_x0})
    # marginals: normals in log space with the joint's mean and sd (Monte Carlo, 4000 draws)
    sd = np.sqrt(np.diag(joint.covariance))
    assert float(pop["alpha"].loc) == pytest.approx(joint.loc[1], abs=0.1 * sd[1])
    assert float(pop["alpha"].scale) == pytest.approx(sd[1], rel=0.1)
    assert set(pop) == {"E", "alpha", "A", "sigma"} and not bs.priors.used("power_law", pop)["default"].any()
    corr = pop.correlation()
    np.testing.assert_allclose(np.diag(corr), 1.0)
    # from_curves on the same table with the fixture's settings runs the same program: the same prior
    again = bs.priors.from_curves(power_table, "power_law", **COLUMNS, draws=200, chunk_size=4)
    assert again.joint == joint
    with pytest.raises(ValueError, match="partially pooled fit"):
        bs.priors.population_priors(power_laplace)
    with pytest.raises(ValueError, match="at least 2 curves"):
        bs.priors.from_fits(power_laplace[0])
    with pytest.raises(ValueError, match="pseudo_curves"):
        bs.priors.from_fits(power_laplace, pseudo_curves=0)


def test_joint_prior_is_the_model_density(power_laplace):
    """With no observed points the model's log density is the multivariate t of the coordinates, by scipy."""
    from numpyro.infer.util import log_density
    from scipy import stats

    from bayescale._src.model.coordinates import ends

    from bayescale._src.model.model import ModelSpec, build_model, make_likelihood

    pop = bs.priors.from_fits(power_laplace)
    law = bs.laws.get("power_law")
    spec = ModelSpec(law, bs.priors.resolve(law, pop), make_likelihood("student_t"), pop.joint)
    log_ref = np.log(3e8)  # the curve's own reference: the prior must not depend on it
    values = {"E": 1.6, "alpha": 0.33, "A": 500.0, "sigma": 0.02}
    x = np.geomspace(1e6, 1e9, 4)  # power_law samples end-point coordinates over this range (bayescale._src.model.coordinates.ends)
    args = ({"x": x}, np.zeros(4), np.zeros(4, bool), {"x": log_ref})
    frame = ends.curve_frame(law.coordinates, *args[:3])
    w = ends.from_natural(values["E"], values["A"], values["alpha"], frame, True)
    log_jacobian = float(ends.to_natural(jnp.asarray(w), frame, True)[-1])
    sites = {**dict(zip(ends.site_names(law.coordinates), w)), "sigma": values["sigma"]}
    got = jax.jit(lambda v: log_density(build_model(spec), args, {}, v)[0])(sites)  # one compile, not op by op
    joint, log_x0 = pop.joint, dict(pop.joint.log_reference)["x"]
    c = [np.log(values["E"]), np.log(values["alpha"]), np.log(values["A"]) - values["alpha"] * log_x0,
         np.log(values["sigma"])]
    tril = np.asarray(joint.scale_tril)
    want = stats.multivariate_t(joint.loc, tril @ tril.T, df=joint.df).logpdf(c)
    want -= np.log(values["E"] * values["alpha"] * values["A"] * values["sigma"])  # the density of the natural values
    want += log_jacobian  # ... in the ends' coordinates
    assert float(got) == pytest.approx(want, rel=1e-9)


def test_population_prior_is_refused_where_it_does_not_apply(power_table, power_laplace):
    """The misuse of a population prior is caught before anything compiles."""
    pop = bs.priors.from_fits(power_laplace)
    few = power_table[power_table["run"] == 0].head(5)
    # a plain dict of the marginals is independent: no joint
    assert bs.priors.merge.joint_of(bs.laws.get("power_law"), dict(pop)) is None
    with pytest.raises(ValueError, match="learned for law 'power_law', not 'log_law'"):
        bs.fit(few, "log_law", x="tokens", y="val_loss", priors=pop, method="map")
    with pytest.raises(ValueError, match="pooling='none'"):
        bs.fit(power_table, "power_law", **COLUMNS, priors=pop, pooling="partial", method="map")


@pytest.mark.statistical  # one MAP program with the joint prior's numbers in it (13-17 s): out of the fast tier
def test_fit_with_population_prior(power_table, power_laplace, tmp_path):
    """bs.fit takes the population prior (one MAP program of a 5-point curve), saves it, and refuses misuse."""
    pop = bs.priors.from_fits(power_laplace)
    few = power_table[power_table["run"] == 0].head(5)
    fit = bs.fit(few, "power_law", x="tokens", y="val_loss", priors=pop, method="map")
    assert fit.spec.joint == pop.joint
    assert bs.load(fit.save(tmp_path / "pop.nc")).spec.joint == pop.joint
    # the prior predictive draws the covered parameters jointly: the log amplitude's term at x0 has the joint's sd
    x0 = float(np.exp(dict(pop.joint.log_reference)["x"]))
    band = bs.prior_predictive_draws("power_law", {"x": [x0]}, pop, num_draws=4000)
    e = bs.prior_predictive_draws("power_law", {"x": [1e30]}, pop, num_draws=4000)  # the floor: E alone
    term_sd = np.log(band - e).std()
    assert term_sd == pytest.approx(np.sqrt(pop.joint.covariance[2, 2]), rel=0.15)
    # the prior draws of prior_predictive and of SBC's simulations (model.prior_draws) are joint; compare's refit too
    keys = jax.random.split(jax.random.PRNGKey(0), len(fit.spec.priors) + 1)
    truth = prior_draws(fit.spec, keys, (1, 4000))
    r = np.corrcoef(np.log(truth["E"][0]), np.log(truth["alpha"][0]))[0, 1]
    assert r == pytest.approx(pop.correlation().loc["E", "alpha"], abs=0.1)
    assert spec_priors(fit.spec.priors, fit.spec.joint).joint == pop.joint
    # a plain dict of the marginals is independent: no joint
    assert bs.priors.merge.joint_of(bs.laws.get("power_law"), dict(pop)) is None
    with pytest.raises(ValueError, match="learned for law 'power_law', not 'log_law'"):
        bs.fit(few, "log_law", x="tokens", y="val_loss", priors=pop, method="map")
    with pytest.raises(ValueError, match="pooling='none'"):
        bs.fit(power_table, "power_law", **COLUMNS, priors=pop, pooling="partial", method="map")

def _population_curves(num_curves: int, seed: int) -> pd.DataFrame:
    """20-point power-law curves (1e7..1e10) whose E, alpha and term at x = 1e9 come from one correlated
    population (1% noise)."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e7, 1e10, 20)
    corr = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.5], [0.0, -0.5, 1.0]])
    sd = np.array([0.1, 0.15, 0.15])
    z = rng.multivariate_normal(np.log([1.8, 0.3, 0.8]), corr * np.outer(sd, sd), num_curves)
    frames = []
    for i, (log_e, log_alpha, log_term) in enumerate(z):
        mean = np.exp(log_e) + np.exp(log_term) * (x / 1e9) ** -np.exp(log_alpha)
        frames.append(pd.DataFrame({"run": i, "tokens": x, "val_loss": mean * np.exp(0.01 * rng.standard_normal(20))}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.statistical
def test_population_prior_extrapolates_new_curves_better():
    """12 curves of a known population teach a prior; 12 new curves from it, 5 early points each, extrapolate
    to 1e10 with a lower RMSLE than under the default priors (three Laplace programs: corpus, two arms)."""
    corpus, new = _population_curves(12, seed=0), _population_curves(12, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        pop = bs.priors.from_curves(corpus, "power_law", **COLUMNS)
        early, late = new[new["tokens"] < 5e7], new[new["tokens"] >= 5e7]
        assert early.groupby("run").size().eq(5).all()
        scores = {}
        for arm, priors in (("default", None), ("population", pop)):
            fit = bs.fit(early, "power_law", **COLUMNS, priors=priors, method="laplace")
            band = fit.predict({"x": late["tokens"].unique()}, discrepancy=None)
            truth = late.sort_values(["run", "tokens"])["val_loss"].to_numpy()
            scores[arm] = np.sqrt(np.mean((np.log(band["median"].to_numpy()) - np.log(truth)) ** 2))
    # the population's centre is recovered: log E, log alpha within 3 standard errors of the truth
    assert abs(pop.joint.loc[0] - np.log(1.8)) < 3 * 0.1 / np.sqrt(12) + 0.02
    assert abs(pop.joint.loc[1] - np.log(0.3)) < 3 * 0.15 / np.sqrt(12) + 0.02
    assert scores["population"] < 0.5 * scores["default"], scores


def test_population_prior_saves_and_loads(power_laplace, tmp_path):
    pop = bs.priors.from_fits(power_laplace)
    path = bs.priors.save_population(pop, tmp_path / "prior.json", corpus="power_table")
    again = bs.priors.load_population(path)
    assert again.joint == pop.joint and list(again) == list(pop)
    for name in pop:
        assert bs.priors.prior_key(again[name]) == bs.priors.prior_key(pop[name])
    with pytest.raises(TypeError, match="PopulationPrior"):
        bs.priors.save_population(dict(pop), tmp_path / "marginals.json")
    (tmp_path / "other.json").write_text('{"format": 99}')
    with pytest.raises(ValueError, match="not a bayescale population prior file"):
        bs.priors.load_population(tmp_path / "other.json")


def test_shipped_population_priors_are_usable_by_name():
    """The priors learned from revisiting_lang's three domains ship with their recipe; a fit takes them by name."""
    from bayescale.priors import shipped
    from bayescale.priors.merge import joint_of

    table = shipped.learned_table()
    assert list(table.index) == ["revisiting_bb", "revisiting_lm", "revisiting_nmt"]
    assert (table["law"] == "power_law").all() and table["source"].str.contains("arXiv:2209.06640").all()
    assert table["curves"].tolist() == [10, 5, 5]
    data = bs.datasets.load("revisiting_lang")
    for name in table.index:
        prior, how = bs.priors.learned(name), shipped.recipe(name)
        assert sorted(data.loc[data[how["domain_column"]] == how["domain"], how["group"]].unique()) == how["curves"]
        assert np.isfinite(prior.joint.loc).all() and np.isfinite(prior.joint.df)
        assert joint_of(bs.laws.get("power_law"), name) == prior.joint  # what bs.fit(..., priors=name) uses
        assert not bs.priors.used("power_law", name)["default"].any()
    # LM losses sit near e^-0.16 = 0.85 at the corpus's reference size, with exponents near 0.39
    lm = bs.priors.learned("revisiting_lm")
    assert float(lm["E"].loc) == pytest.approx(np.log(0.85), abs=0.05) and float(lm["alpha"].loc) == pytest.approx(np.log(0.39), abs=0.1)
    with pytest.raises(ValueError, match="revisiting_bb, revisiting_lm, revisiting_nmt"):
        bs.priors.used("power_law", "revisiting")
    with pytest.raises(ValueError, match="learned for law 'power_law', not 'chinchilla'"):
        joint_of(bs.laws.get("chinchilla"), "revisiting_lm")


@pytest.mark.statistical
def test_shipped_population_priors_relearn_from_the_bundled_data():
    """Each shipped prior is what its recipe learns from the bundled curves (one Laplace fit per domain)."""
    from bayescale.priors import population, shipped

    for name in shipped.names():
        again, shipped_prior = population.relearn(name), bs.priors.learned(name)
        np.testing.assert_allclose(again.joint.loc, shipped_prior.joint.loc, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(again.joint.scale_tril, shipped_prior.joint.scale_tril, rtol=1e-3, atol=1e-6)
        assert again.joint.df == shipped_prior.joint.df
