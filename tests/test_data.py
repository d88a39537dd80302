"""Input tables (bayescale._src.model.data): every error and warning a bad table or bad argument of bs.fit gives.

Validation fails before anything is compiled, so these tests are cheap; the few
that do fit use the shared POWER map program (tests/fixtures.py).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from fixtures import fit_like
from forms_truth import simulate as simulate_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayescale as bs
from bayescale._src.model.data import bucket_size, collinear_compute, pad, prepare, resolve_columns


def frame(n=10):
    x = np.geomspace(1e6, 1e9, n)
    return pd.DataFrame({"tokens": x, "loss": 2 + 100 * x**-0.3, "run": np.arange(n) % 2})


def curves(n=10, groups=("a", "b")):
    x = np.geomspace(1e6, 1e9, n)
    frames = [pd.DataFrame({"tokens": x, "loss": (2 + 100 * x**-0.3) * (1 + 0.01 * i), "run": g})
              for i, g in enumerate(groups)]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.assign(tokens=-d["tokens"]), "column 'tokens'.*must be positive"),
        (lambda d: d.assign(loss=d["loss"].where(d.index != 3)), "column 'loss'.*non-finite"),
        (lambda d: d.assign(loss=np.inf), "column 'loss'.*non-finite"),
        (lambda d: d.assign(tokens="a"), "column 'tokens'.*must be numeric"),
        (lambda d: d.drop(columns="loss"), "column 'loss'.*not found"),
        (lambda d: d.iloc[:0], "empty"),
        (lambda d: d.iloc[:1], "1 point"),
    ],
)
def test_bad_input_names_the_column(mutate, match):
    bad = mutate(frame())
    before = bad.copy()
    with pytest.raises(ValueError, match=match):
        bs.fit(bad, law="power_law", x="tokens", method="map")
    pd.testing.assert_frame_equal(bad, before)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.assign(loss=d["loss"].astype(str)), "column 'loss'.*must be numeric"),
        (lambda d: d.assign(tokens=d["tokens"] > 1e7), "column 'tokens'.*must be numeric"),
        (lambda d: d.assign(tokens=d["tokens"].where(d.index != 4, 0.0)), "column 'tokens'.*positive.*row 4"),
        (lambda d: d.assign(loss=d["loss"].where(d.index != 2, -np.inf)), "column 'loss'.*non-finite.*row 2"),
        (lambda d: d.assign(run=d["run"].where(d.index != 0)), "group column 'run' has missing values"),
        (lambda d: d[(d["run"] == "a") | (d.index == 10)], "group 'b' of column 'run' has 1 point"),
    ],
)
def test_bad_values_name_the_column_or_group(mutate, match):
    bad = mutate(curves())
    before = bad.copy()
    with pytest.raises(ValueError, match=match):
        bs.fit(bad, x="tokens", group="run", method="map")
    pd.testing.assert_frame_equal(bad, before)


def test_groups_with_too_few_points_are_named():
    df = frame(5)
    df["run"] = ["a", "a", "a", "a", "b"]
    with pytest.raises(ValueError, match="group 'b' of column 'run' has 1 point"):
        bs.fit(df, law="power_law", x="tokens", group="run", method="map")


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x="token"), ValueError, r"column 'token' .*not found \(did you mean 'tokens'\?\)"),
        (dict(x="tokens", y="Loss"), ValueError, r"column 'Loss' .*did you mean 'loss'"),
        (dict(x="tokens", group="runs"), ValueError, r"group column 'runs' not found \(did you mean 'run'\?\)"),
        (dict(x="tokens", law="power_lw"), ValueError, r"unknown law 'power_lw' \(did you mean 'power_law'\?\)"),
        (dict(x="tokens", method="laplce"), ValueError, r"unknown method 'laplce' \(did you mean 'laplace'\?\)"),
        (dict(x="tokens", method=3), TypeError, "method must be a string"),
        (dict(x="tokens", seed=1.5), TypeError, "seed must be an integer"),
        (dict(x="tokens", seed=-1), ValueError, r"seed must be in \[0, 2\*\*32\)"),
        (dict(x="tokens", chains=0, method="nuts"), ValueError, "chains must be a positive integer"),
        (dict(x="tokens", draws=2.5, method="laplace"), TypeError, "draws must be an integer"),
        (dict(x="tokens", warmup=10, method="nuts"), ValueError, "warmup must be at least 20"),
        (dict(x="tokens", warmup=-1, method="nuts"), ValueError, "warmup must be a positive integer"),
        (dict(x="tokens", target_accept_prob=1.0, method="nuts"), ValueError, "target_accept_prob must be strictly between 0 and 1"),
        (dict(x="tokens", target_accept_prob="high", method="nuts"), TypeError, "target_accept_prob must be a number"),
        (dict(x="tokens", chunk_size=0), ValueError, "chunk_size must be a positive integer"),
        (dict(x=["tokens"]), TypeError, "must be a column name"),
        (dict(law="chinchilla", columns={"N": "tokens", "P": "x"}), ValueError, "law 'chinchilla' takes no input 'P'"),
        (dict(x="tokens", likelihood="cauchy"), ValueError, "unknown likelihood 'cauchy'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    df = curves()
    before = df.copy()
    kwargs = {"method": "map", **kwargs}
    with pytest.raises(error, match=match):
        bs.fit(df, **kwargs)
    pd.testing.assert_frame_equal(df, before)


def test_input_mapping_errors():
    with pytest.raises(ValueError, match="law 'chinchilla' takes no input 'x'"):
        bs.fit(frame(), law="chinchilla", columns={"x": "tokens"})
    with pytest.raises(ValueError, match="x= names the single input"):
        bs.fit(frame(), law="chinchilla", x="tokens")
    with pytest.raises(ValueError, match="column 'N'.*not found"):
        bs.fit(frame(), law="chinchilla")
    with pytest.raises(ValueError, match="unknown method 'hmc'"):
        bs.fit(frame(), law="power_law", x="tokens", method="hmc")


def test_dict_input_and_mismatched_lengths():
    with pytest.raises(ValueError, match="mismatched lengths"):
        bs.fit({"x": [1.0, 2.0, 3.0], "loss": [1.0, 2.0]}, law="power_law", method="map")


def test_data_that_is_not_a_table():
    with pytest.raises(TypeError, match="DataFrame or a dict of columns"):
        bs.fit([[1.0, 2.0], [2.0, 1.0]], method="map")


def test_bounded_likelihood_checks_the_metric():
    df = simulate_form("m4", 0)
    bad = df.assign(loss=df["loss"] + 0.5)
    with pytest.raises(ValueError, match=r"column 'loss' has \d+ value\(s\) >= 1"):
        bs.fit(bad, law="m4", likelihood="logit_normal", method="map")
    with pytest.raises(ValueError, match="unknown likelihood"):
        bs.fit(df, law="m4", likelihood="logit", method="map")


# ---------------------------------------------------------------------- warnings
def test_duplicated_rows_warn_and_are_kept():
    df = pd.concat([frame(20), frame(20).iloc[:2]])  # 22 points: the POWER map program
    with pytest.warns(UserWarning, match="2 duplicated row"):
        fit = fit_like(df, "map", x="tokens", y="loss", group=None)
    assert len(fit.y) == len(df)


def test_compute_inconsistent_with_6ND_warns():
    law = bs.laws.get("chinchilla")
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 3), np.geomspace(1e9, 1e11, 3))
    df = pd.DataFrame({"N": n.ravel(), "D": d.ravel(), "loss": 3.0})
    df["C"] = 6 * df["N"] * df["D"]
    cols = resolve_columns(law, "loss", None, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare(df, law, cols)  # consistent: silent
    df.loc[3, "C"] *= 2.0
    with pytest.warns(UserWarning, match=r"compute column 'C' differs from 6 \* 'N' \* 'D'.*1 of 9 row"):
        prepare(df, law, cols)


def _compute_grid(scatter=0.0, seed=0):
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 5), np.geomspace(1e9, 1e11, 5))
    df = pd.DataFrame({"N": n.ravel(), "D": d.ravel(), "loss": 3.0})
    df["C"] = 6 * df["N"] * df["D"] * np.exp(scatter * np.random.default_rng(seed).standard_normal(len(df)))
    return df


@pytest.mark.parametrize("name", ["multiplicative_compute", "additive_compute"])
def test_compute_proportional_to_ND_is_detected_per_curve(name):
    law = bs.laws.get(name)
    cols = resolve_columns(law, "loss", None, None, "run")
    exact, rounded, scattered = _compute_grid(), _compute_grid(), _compute_grid(scatter=0.05)
    rounded["C"] = [float(f"{c:.3g}") for c in rounded["C"]]  # three significant digits: still 6ND within noise
    df = pd.concat([exact.assign(run=0), rounded.assign(run=1), scattered.assign(run=2)], ignore_index=True)
    batch, groups, _ = prepare(df, law, cols)
    assert collinear_compute(law, batch).tolist() == [True, True, False]
    # laws without a C input never count
    chin = bs.laws.get("chinchilla")
    batch, _, _ = prepare(df, chin, resolve_columns(chin, "loss", None, None, "run"))
    assert not collinear_compute(chin, batch).any()


# ---------------------------------------------------------------------- padding
def test_bucket_sizes():
    assert [bucket_size(n) for n in (1, 8, 9, 240, 256, 257)] == [8, 8, 16, 256, 256, 512]


def test_pad_masks_padding():
    batch = pad({"x": np.arange(1.0, 4.0)}, np.array([3.0, 2.0, 1.5]), [np.arange(3)])
    assert batch.mask.tolist() == [[True] * 3 + [False] * 5]
    assert np.all(np.isfinite(batch.log_y)) and np.all(batch.inputs["x"] > 0)


# ---------------------------------------------------------------------- random tables
# A random table: x and loss columns of random (possibly bad) values or types, sometimes misnamed.
_values = st.one_of(
    st.floats(min_value=1e-3, max_value=1e12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, np.nan, np.inf]),
)
_column = st.one_of(
    st.lists(_values, min_size=0, max_size=8),
    st.lists(st.text(max_size=3), min_size=1, max_size=8),
    st.lists(st.booleans(), min_size=1, max_size=8),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_column, loss=_column, x_name=st.sampled_from(["x", "X", "size"]))
def test_random_tables_give_a_valid_fit_or_a_documented_error(x, loss, x_name):
    """Tables of at most 8 rows, fitted with the shared MAP settings: every valid example runs the POWER map
    program's bucket-8 twin (compiled once, also by test_batch's two-bucket fit)."""
    n = min(len(x), len(loss))
    df = pd.DataFrame({x_name: x[:n], "loss": loss[:n]})
    before = df.copy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_like(df, "map", x=x_name, y="loss", group=None)
    except (ValueError, TypeError) as err:
        assert str(err)
    else:
        for name in ("E", "A", "alpha", "sigma"):
            assert np.isfinite(fit.posterior[name]).all()
        assert np.isfinite(fit.predict({x_name: [1e13]})[["mean", "lower", "upper"]].to_numpy()).all()
    pd.testing.assert_frame_equal(df, before)


# ---------------------------------------------------------------------- bundled data
def test_chinchilla_dataset_matches_epoch_protocol(chinchilla_df):
    # (belongs with the bundled data sets' tests, tests/test_datasets.py, once that file exists)
    assert list(chinchilla_df.columns) == ["N", "D", "C", "loss"]
    assert len(chinchilla_df) == 240
    assert len(bs.datasets.load("chinchilla", drop_outliers=False)) == 245
    np.testing.assert_allclose(chinchilla_df["C"], 6 * chinchilla_df["N"] * chinchilla_df["D"], rtol=1e-12)
    assert "Hoffmann" in bs.datasets.citation("chinchilla")
