"""Benchmark-score laws (sigmoids with a chance floor and a ceiling), their bounded bands, the two-stage
forecast compute -> loss -> score, and pooled recovery of simulated model families."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.laws import downstream

FLOOR = 0.25


def simulate_families(midpoints, slope=1.4, floor=FLOOR, sizes=5, noise=0.05, seed=0, span=(1e20, 1e23)):
    """Scores of model families on a sigmoid in log10 compute, logit-normal noise: columns family, C, score."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, m in enumerate(midpoints):
        c = np.geomspace(*span, sizes) * rng.uniform(0.8, 1.25, sizes)
        law = floor + (1 - floor) / (1 + np.exp(-slope * (np.log10(c) - m)))
        y = 1 / (1 + np.exp(-(np.log(law / (1 - law)) + noise * rng.standard_normal(sizes))))
        frames.append(pd.DataFrame({"family": f"f{i}", "C": c, "score": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def family_fit():
    df = simulate_families([22.3, 23.0, 21.9])
    return bs.fit(df, law=bs.laws.sigmoid_compute(floor=FLOOR), y="score", group="family", method="laplace",
                  draws=200, seed=0)


# ------------------------------------------------------------------ the laws
def test_factories_name_cache_and_parse():
    law = bs.laws.sigmoid_compute(floor=0.25)
    assert law.name == "sigmoid_compute(floor=0.25)" and law.param_names == ("slope", "midpoint")
    assert law is bs.laws.sigmoid_compute(0.25) is bs.laws.get("sigmoid_compute(floor = 0.25)")
    free = bs.laws.get("sigmoid_loss(floor=0.25,ceiling=free)")
    assert free.param_names == ("slope", "midpoint", "ceiling") and free.inputs == ("L",)
    assert bs.laws.get("sigmoid_compute") is bs.laws.sigmoid_compute()
    assert bs.laws.get("sigmoid_compute").likelihood == "logit_normal"


@pytest.mark.parametrize("bad, message", [
    (dict(floor=1.0), "floor must be in"), (dict(floor=-0.1), "floor must be in"),
    (dict(floor=0.3, ceiling=0.2), "ceiling must be in"), (dict(floor="a"), "floor must be a number"),
])
def test_factory_rejects_bad_bounds(bad, message):
    with pytest.raises(ValueError, match=message):
        bs.laws.sigmoid_compute(**bad)


def test_parse_rejects_unknown_arguments():
    with pytest.raises(ValueError, match="takes floor=NUMBER"):
        bs.laws.get("sigmoid_compute(chance=0.25)")
    with pytest.raises(ValueError, match="must be a number"):
        bs.laws.get("sigmoid_loss(floor=x)")
    assert downstream.parse("power_law") is None


def test_values_stay_between_floor_and_ceiling_and_rise_with_compute():
    law = bs.laws.sigmoid_compute(floor=0.25, ceiling=0.9)
    c = np.geomspace(1e10, 1e35, 200)
    for slope, mid in [(0.1, 15.0), (1.4, 23.0), (20.0, 30.0)]:
        y = np.asarray(law({"slope": slope, "midpoint": mid}, {"C": c}))
        assert (y >= 0.25).all() and (y <= 0.9).all()
        assert (np.diff(y) >= 0).all()
    assert float(law({"slope": 1.0, "midpoint": 22.0}, {"C": 1e22})) == pytest.approx(0.575)
    loss_law = bs.laws.sigmoid_loss(floor=0.25, ceiling=None)
    y = np.asarray(loss_law({"slope": 4.0, "midpoint": 2.0, "ceiling": 0.8}, {"L": np.linspace(0.5, 4.0, 50)}))
    assert (y >= 0.25).all() and (y <= 0.8).all() and (np.diff(y) <= 0).all()  # the score falls as loss rises


# ------------------------------------------------------------------ fits and bands
def test_predict_bands_respect_floor_and_ceiling(family_fit):
    far = {"C": [1e14, 1e18, 1e22, 1e27, 1e32]}
    for disc in ("default", None):
        pred = family_fit.predict(far, discrepancy=disc)
        assert (pred["lower"] >= FLOOR).all() and (pred["upper"] <= 1.0).all(), disc
        assert (pred["lower"] <= pred["median"]).all() and (pred["median"] <= pred["upper"]).all()
    # the band widens beyond the fitted compute with the discrepancy term, and stays inside the bounds
    wide = family_fit.predict({"C": [1e25]}).set_index("family")
    narrow = family_fit.predict({"C": [1e25]}, discrepancy=None).set_index("family")
    assert ((wide["upper"] - wide["lower"]) > (narrow["upper"] - narrow["lower"])).all()
    # a new model's score (observation) may fall below chance, as small models' scores do; it stays in (0, 1)
    obs = family_fit.predict({"C": [1e14]}, kind="observation")
    assert (obs["lower"] > 0).all() and (obs["upper"] < 1).all()


def test_evaluate_bands_respect_the_bounds():
    df = simulate_families([22.3, 23.0, 21.9], span=(1e20, 1e26), sizes=7)
    df["Training"] = (df["C"] < 2e23).astype(int)
    ev = bs.evaluate(df, law=bs.laws.sigmoid_compute(floor=FLOOR), y="score", group="family", kind="mean",
                     method="laplace", draws=200)
    points = ev.points
    assert (points["lower"] >= FLOOR).all() and (points["upper"] <= 1).all()
    # a Law object as law=: the fits are keyed by its name and every curve is scored (the log score included)
    assert list(ev.fits) == [f"sigmoid_compute(floor={FLOOR:g})"] and ev.curves["unscored"].eq(0).all()
    assert np.isfinite(ev.curves["log_score"]).all()


def test_pooling_defaults_to_the_slope_and_save_load_keeps_the_law(family_fit, tmp_path):
    from bayescale._src.model import pooling
    from bayescale.priors.merge import model_spec

    law = bs.laws.sigmoid_compute(floor=FLOOR)
    assert pooling.default_pooled(model_spec(law, None, "logit_normal")) == ("slope",)
    path = family_fit.save(tmp_path / "fit.nc")
    back = bs.load(path)
    assert back.law is family_fit.law
    pd.testing.assert_frame_equal(back.predict({"C": [1e24]}), family_fit.predict({"C": [1e24]}))


def test_bounded_likelihood_is_required_for_scores_of_one():
    df = simulate_families([22.0])
    df.loc[0, "score"] = 1.0
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        bs.fit(df, law=bs.laws.sigmoid_compute(floor=FLOOR), y="score", method="map")


def test_dataset_fits_mmlu_by_family():
    df = bs.datasets.load("downstream_scores")
    assert df.attrs["chance"]["mmlu"] == 0.25
    np.testing.assert_allclose(df["C"], 6 * df["N"] * df["D"])
    assert df["mmlu"].between(0, 1).all() and df.loc[df["model"] == "Llama 2 70B", "mmlu"].item() == pytest.approx(0.689)
    law = bs.laws.sigmoid_compute(floor=df.attrs["chance"]["mmlu"])
    fit = bs.fit(df, law=law, y="mmlu", group="family", method="map")
    pred = fit.predict({"C": [1e24]}, discrepancy=None).set_index("family")["median"]
    assert 0.6 < pred["Llama 2"] < 0.95 and (pred > 0.6).all() and (pred < 1).all()


# ------------------------------------------------------------------ the two-stage forecast
@pytest.fixture(scope="module")
def two_stage():
    rng = np.random.default_rng(1)
    c = np.geomspace(1e19, 1e23, 8)
    loss = (1.7 + 30 * c**-0.07) * np.exp(0.005 * rng.standard_normal(c.size))
    law = 0.25 + 0.75 / (1 + np.exp(4 * (loss - 2.3)))
    score = 1 / (1 + np.exp(-(np.log(law / (1 - law)) + 0.05 * rng.standard_normal(c.size))))
    with warnings.catch_warnings():  # Laplace fits of 8 points: k often above 0.7
        warnings.filterwarnings("ignore", ".*Laplace approximation Pareto k", bs.FitWarning)
        loss_fit = bs.fit(pd.DataFrame({"C": c, "loss": loss}), law="power_law", x="C", method="laplace", draws=300)
        score_fit = bs.fit(pd.DataFrame({"L": loss, "score": score}), law=bs.laws.sigmoid_loss(floor=0.25),
                           y="score", method="laplace", draws=200)
    return loss_fit, score_fit


def test_forecast_score_shapes_and_bounds(two_stage):
    loss_fit, score_fit = two_stage
    out = bs.forecast_score(loss_fit, score_fit, {"C": [1e20, 1e24, 1e27]})
    assert list(out.columns) == ["C", "loss_median", "loss_lower", "loss_upper", "mean", "median", "lower", "upper"]
    assert len(out) == 3
    assert (out["lower"] >= 0.25).all() and (out["upper"] <= 1).all()
    assert (out["loss_lower"] < out["loss_median"]).all() and (out["loss_median"] < out["loss_upper"]).all()
    assert out["median"].is_monotonic_increasing  # more compute, lower loss, higher score
    # truth at 1e20 FLOP (inside the data): 0.25 + 0.75 sigmoid(-4 (L - 2.3))
    truth = 0.25 + 0.75 / (1 + np.exp(4 * (1.7 + 30 * 1e20**-0.07 - 2.3)))
    assert out["lower"][0] < truth < out["upper"][0]
    # both stages' uncertainty: wider than the score law's band at the loss median alone
    alone = score_fit.predict({"L": out["loss_median"]}, discrepancy=None)
    assert ((out["upper"] - out["lower"]).to_numpy()[1:] > (alone["upper"] - alone["lower"]).to_numpy()[1:]).all()
    obs = bs.forecast_score(loss_fit, score_fit, {"C": [1e24]}, kind="observation", discrepancy=None)
    assert 0 < obs["lower"][0] < obs["upper"][0] < 1


def test_forecast_score_pairs_groups_and_rejects_mismatches(two_stage, family_fit):
    import dataclasses

    loss_fit, score_fit = two_stage
    # a grouped score fit (the family fit's draws, read as a law of the loss): one row block per family
    grouped = dataclasses.replace(family_fit, spec=family_fit.spec._replace(law=bs.laws.sigmoid_loss(floor=FLOOR)),
                                  inputs={"L": family_fit.inputs["C"]})
    out = bs.forecast_score(loss_fit, grouped, {"C": [1e22, 1e23]}, discrepancy=None)
    assert out["family"].tolist() == ["f0", "f0", "f1", "f1", "f2", "f2"]
    assert (out["lower"] >= FLOOR).all() and (out["upper"] <= 1).all()
    two_inputs = dataclasses.replace(score_fit, spec=score_fit.spec._replace(law=bs.laws.get("chinchilla")))
    with pytest.raises(ValueError, match="must take one input"):
        bs.forecast_score(loss_fit, two_inputs, {"C": [1e22]})
    with pytest.raises(ValueError, match="paired by label"):
        bs.forecast_score(grouped, dataclasses.replace(grouped, groups=["a", "b", "c"]), {"L": [2.0]},
                          discrepancy=None)
    with pytest.raises(TypeError, match="loss_fit must be a bayescale Fit"):
        bs.forecast_score("fit.nc", score_fit, {"C": [1e22]})
    with pytest.raises(ValueError, match="kind must be"):
        bs.forecast_score(loss_fit, score_fit, {"C": [1e22]}, kind="law")


# ------------------------------------------------------------------ statistical
@pytest.mark.statistical
def test_pooled_fit_recovers_shared_slope_and_family_offsets():
    midpoints, slope = [22.3, 23.0, 21.9, 22.6], 1.4
    hits, total = 0, 0
    for seed in range(3):
        df = simulate_families(midpoints, slope=slope, seed=seed, sizes=4)
        fit = bs.fit(df, law=bs.laws.sigmoid_compute(floor=FLOOR), y="score", group="family", pooling="partial",
                     pooled=["slope", "sigma"], seed=seed, chains=2, draws=500, warmup=500,
                     target_accept_prob=0.95)
        summary = fit.summary()
        population = fit.hyper["slope_population"].ravel()
        assert np.quantile(population, 0.05) < slope < np.quantile(population, 0.95)
        for i, m in enumerate(midpoints):
            row = summary.loc[(f"f{i}", "midpoint")]
            hits += row["hdi_5%"] < m < row["hdi_95%"]
            total += 1
    assert hits >= total - 2
