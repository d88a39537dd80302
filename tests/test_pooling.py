"""Partial pooling (bs.fit(..., pooling="partial")): argument errors, every engine through the registry;
shrinkage and coverage (statistical tier)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from fixtures import COLUMNS

import bayescale as bs
from bayescale._src import engines


def test_pooling_argument_errors(chinchilla_df):
    with pytest.raises(ValueError, match="give the group column"):
        bs.fit(chinchilla_df, "chinchilla", pooling="partial")
    with pytest.raises(ValueError, match="unknown pooling 'full'"):
        bs.fit(chinchilla_df, "chinchilla", pooling="full")
    with pytest.raises(ValueError, match="pooled= names the parameters of pooling='partial'"):
        bs.fit(chinchilla_df, "chinchilla", pooled=["alpha"])
    df = chinchilla_df.assign(half=np.arange(len(chinchilla_df)) % 2)
    with pytest.raises(ValueError, match="cannot pool \\['gamma'\\]"):
        bs.fit(df, "chinchilla", group="half", pooling="partial", pooled=["gamma"], method="map")
    with pytest.raises(ValueError, match="cannot pool 'A'"):
        bs.fit(df, "chinchilla", group="half", pooling="partial", pooled=["A"], method="map")


def test_noise_scale_can_be_pooled():
    """pooled=[..., "sigma"]: the curves' noise scales share a population (the model is traced, not compiled)."""
    from bayescale.priors.merge import model_spec
    from bayescale._src.model.pooling import pooled_problem

    law = bs.laws.get("power_law")
    spec = model_spec(law, None, "student_t")
    names = set(pooled_problem(spec, ("alpha", "sigma"), 3).names)
    assert {"alpha_mu", "alpha_tau", "alpha_offset", "sigma_mu", "sigma_tau", "sigma_offset"} <= names
    assert "sigma" not in names and "sigma" in set(pooled_problem(spec, ("alpha",), 3).names)


@pytest.mark.statistical
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
    settings = dict(group="g", method="nuts", chains=2, draws=400, warmup=400, seed=0)
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


@pytest.fixture
def engine_calls(monkeypatch):
    """Counts calls of each registered engine's run, by method name."""
    calls = {}
    for name in engines.names():
        engine = engines.get(name)

        def spy(*args, _run=engine.run, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _run(*args, **kwargs)

        monkeypatch.setitem(engines._REGISTRY, name, engine._replace(run=spy))
    return calls


@pytest.mark.parametrize("method", ["map", "laplace"])
# a Gaussian at the mode of the pooled model (tau's funnel) is far from its posterior: Laplace's Pareto k is large
@pytest.mark.filterwarnings("ignore:.*Laplace approximation Pareto k:bayescale.FitWarning")
def test_pooled_fit_runs_through_the_registered_engine(method, power_map, power_laplace, engine_calls, power_table):
    """The pooled model is one more Problem: the same engines serve it (one compile of the pooled modes).

    The independent fits are session fixtures, built before the function-scoped spy, so it counts the pooled call.
    """
    independent = {"map": power_map, "laplace": power_laplace}[method]
    draws = {"laplace": dict(draws=200)}.get(method, {})
    pooled = bs.fit(power_table, "power_law", **COLUMNS, method=method, pooling="partial", **draws)
    assert engine_calls == {method: 1}
    assert set(pooled.hyper) == {"alpha_mu", "alpha_tau", "alpha_population"}
    assert pooled.posterior["alpha"].shape == independent.posterior["alpha"].shape
    # pooling pulls each curve's exponent towards the population
    spread = lambda f: np.std(f.draws("alpha").mean(axis=1))  # noqa: E731
    assert spread(pooled) <= spread(independent) + 1e-9


@pytest.mark.statistical
def test_pooled_nuts_runs_through_the_registered_engine(engine_calls, power_table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = bs.fit(power_table, "power_law", **COLUMNS, pooling="partial", chains=2, draws=100, warmup=100)
    assert engine_calls == {"nuts": 1}
    assert fit.hyper["alpha_tau"].shape == (2, 100)
    assert fit.sample_stats["diverging"].shape == (3, 2, 100)
