"""Issue 4: literature presets, posterior-as-prior transfer, prior predictive, prior-dominance warnings."""

import warnings

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayescale as bs

# A Chinchilla-type law that is none of the presets' centres (alpha and beta within one prior sd of Hoffmann's)
FEW_RUN_TRUTH = {"E": 2.0, "A": 400.0, "B": 1500.0, "alpha": 0.32, "beta": 0.33}
# 4 small runs: two model sizes x two token counts
FEW_RUN_N = np.array([2e7, 2e7, 1e8, 1e8])
FEW_RUN_D = np.array([4e8, 4e9, 4e8, 4e9])


def test_presets_listed_and_cited():
    names = bs.priors.presets()
    assert {"kaplan2020", "hoffmann2022", "epoch2024", "muennighoff2023"} <= set(names)
    table = bs.priors.preset_table()
    assert list(table.index) == names
    assert table["source"].str.contains("arXiv").all()


def test_preset_priors_replace_defaults():
    table = bs.priors.table("chinchilla", "hoffmann2022")
    assert not table.loc[["E", "A", "B", "alpha", "beta"], "default"].any()
    assert table.loc["sigma", "default"]
    alpha = bs.priors.preset("hoffmann2022", "chinchilla")["alpha"]
    assert float(np.exp(alpha.loc)) == pytest.approx(0.34)
    # the same objects every call, so fits with a preset reuse compiled programs
    assert bs.priors.preset("hoffmann2022", "chinchilla")["alpha"] is alpha


def test_preset_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown prior preset 'chinchila'"):
        bs.priors.table("chinchilla", "chinchila")
    with pytest.raises(ValueError, match="no priors for law 'chinchilla'; it covers kaplan"):
        bs.priors.table("chinchilla", "kaplan2020")
    with pytest.raises(TypeError, match="preset name or a dict"):
        bs.priors.table("chinchilla", 3)


def test_from_fit_moment_matches_in_unconstrained_space(chinchilla_nuts):
    priors = bs.priors.from_fit(chinchilla_nuts, params=["alpha", "E"], inflate=2.0)
    assert set(priors) == {"alpha", "E"}
    for name in ("alpha", "E"):
        log_draws = np.log(chinchilla_nuts.draws(name)[0])
        assert isinstance(priors[name], dist.LogNormal)
        assert float(priors[name].loc) == pytest.approx(log_draws.mean(), rel=1e-12)
        assert float(priors[name].scale) == pytest.approx(2.0 * log_draws.std(ddof=1), rel=1e-12)
    with pytest.raises(ValueError, match="inflate"):
        bs.priors.from_fit(chinchilla_nuts, inflate=0.5)
    with pytest.raises(ValueError, match="no parameter 'gamma'"):
        bs.priors.from_fit(chinchilla_nuts, params=["gamma"])


def test_prior_predictive_bands():
    x = {"x": np.array([1e6, 1e8, 1e10])}
    tight = {
        "E": dist.LogNormal(np.log(1.5), 1e-4),
        "A": dist.LogNormal(np.log(50.0), 1e-4),
        "alpha": dist.LogNormal(np.log(0.3), 1e-4),
    }
    band = bs.prior_predictive("power_law", x, tight)
    exact = 1.5 + 50.0 * x["x"] ** -0.3
    np.testing.assert_allclose(band["median"], exact, rtol=1e-3)
    assert list(band.columns) == ["x", "mean", "median", "lower", "upper"]
    # observation bands add the noise; wider intervals contain narrower ones
    obs = bs.prior_predictive("power_law", x, tight, kind="observation")
    assert (obs["upper"] - obs["lower"] > band["upper"] - band["lower"]).all()
    wide = bs.prior_predictive("power_law", x, tight, interval=0.99)
    assert (wide["lower"] <= band["lower"]).all() and (wide["upper"] >= band["upper"]).all()
    # the default priors are weak: their band spans orders of magnitude
    default = bs.prior_predictive("power_law", x)
    assert (default["upper"] / default["lower"] > 100).all()
    with pytest.raises(ValueError, match="kind"):
        bs.prior_predictive("power_law", x, kind="draws")


def _few_run_data(replicates: int, seed: int) -> pd.DataFrame:
    law = bs.laws.get("chinchilla")
    rng = np.random.default_rng(seed)
    mean = np.asarray(law(FEW_RUN_TRUTH, {"N": FEW_RUN_N, "D": FEW_RUN_D}))
    return pd.concat(
        pd.DataFrame({"run": r, "N": FEW_RUN_N, "D": FEW_RUN_D, "loss": mean * np.exp(0.01 * rng.standard_normal(4))})
        for r in range(replicates)
    )


@pytest.mark.slow
def test_few_run_forecast_with_preset():
    """4 small runs: at 100x the largest compute, the preset's 90% band covers the truth and is >= 2x narrower."""
    df = _few_run_data(replicates=3, seed=0)
    compute = 100 * (6 * FEW_RUN_N * FEW_RUN_D).max()
    n_target = np.sqrt(compute / (6 * 20))  # 20 tokens per parameter
    target = {"N": [n_target], "D": [20 * n_target]}
    truth = float(bs.laws.get("chinchilla")(FEW_RUN_TRUTH, {k: np.array(v[0]) for k, v in target.items()}))
    settings = dict(group="run", method="nuts", chains=4, draws=500, warmup=500, seed=1)
    with pytest.warns(bs.FitWarning, match="dominated by the default priors"):
        default = bs.fit(df, "chinchilla", **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        informed = bs.fit(df, "chinchilla", priors="hoffmann2022", **settings)
    assert not any("dominated" in p for p in informed.problems)
    band_default = default.predict(target)
    band = informed.predict(target)
    assert ((band["lower"] <= truth) & (truth <= band["upper"])).all()
    ratio = (band_default["upper"] - band_default["lower"]) / (band["upper"] - band["lower"])
    assert (ratio >= 2).all(), ratio.tolist()


@pytest.mark.slow
def test_partial_pooling_shrinks_and_covers():
    """8 curves share alpha = 0.3; six have only 3 points. Pooling narrows their alpha intervals and still covers."""
    law = bs.laws.get("power_law")
    rng = np.random.default_rng(3)
    frames = []
    for g in range(8):
        n = 3 if g < 6 else 10
        x = np.geomspace(1e6, 1e7, n) if n == 3 else np.geomspace(1e6, 1e10, n)
        truth = {"E": 1.5 + 0.2 * rng.standard_normal(), "A": float(np.exp(rng.normal(3, 0.5))), "alpha": 0.3}
        mean = np.asarray(law(truth, {"x": x}))
        frames.append(pd.DataFrame({"g": g, "x": x, "loss": mean * np.exp(0.01 * rng.standard_normal(n))}))
    df = pd.concat(frames)
    # NUTS: a Laplace approximation of the joint hierarchical posterior is too narrow here (covers 6 of 8)
    settings = dict(group="g", chains=2, draws=400, warmup=400, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        alone = bs.fit(df, "power_law", **settings)
        pooled = bs.fit(df, "power_law", pooling="partial", **settings)
    width = {}
    for name, f in (("alone", alone), ("pooled", pooled)):
        s = f.summary().xs("alpha", level="parameter")
        width[name] = (s["hdi_95%"] - s["hdi_5%"]).to_numpy()
        if name == "pooled":
            covered = (s["hdi_5%"] <= 0.3) & (0.3 <= s["hdi_95%"])
            assert covered.sum() >= 7, s
    assert np.median(width["pooled"][:6] / width["alone"][:6]) < 0.5, width
    assert {"alpha_mu", "alpha_tau", "alpha_population"} <= set(pooled.hyper)
    population = pooled.hyper_summary()
    assert population.loc["alpha_population", "hdi_5%"] <= 0.3 <= population.loc["alpha_population", "hdi_95%"]
    assert pooled.posterior["alpha"].shape == alone.posterior["alpha"].shape
    assert pooled.predict({"x": [1e11]})["median"].notna().all()


def test_pooling_argument_errors(chinchilla_df):
    with pytest.raises(ValueError, match="give the group column"):
        bs.fit(chinchilla_df, "chinchilla", pooling="partial")
    with pytest.raises(ValueError, match="unknown pooling 'full'"):
        bs.fit(chinchilla_df, "chinchilla", pooling="full")
    df = chinchilla_df.assign(half=np.arange(len(chinchilla_df)) % 2)
    with pytest.raises(ValueError, match="cannot pool \\['gamma'\\]"):
        bs.fit(df, "chinchilla", group="half", pooling="partial", pooled=["gamma"], method="map")
    with pytest.raises(ValueError, match="cannot pool 'A'"):
        bs.fit(df, "chinchilla", group="half", pooling="partial", pooled=["A"], method="map")
