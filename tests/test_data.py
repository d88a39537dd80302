import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale._src.data import bucket_size


def frame(n=10):
    x = np.geomspace(1e6, 1e9, n)
    return pd.DataFrame({"tokens": x, "loss": 2 + 100 * x**-0.3, "run": np.arange(n) % 2})


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


def test_groups_with_too_few_points_are_named():
    df = frame(5)
    df["run"] = ["a", "a", "a", "a", "b"]
    with pytest.raises(ValueError, match="group 'b' of column 'run' has 1 point"):
        bs.fit(df, law="power_law", x="tokens", group="run", method="map")


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


def test_duplicated_rows_warn_and_are_kept():
    df = pd.concat([frame(), frame().iloc[:2]])
    with pytest.warns(UserWarning, match="2 duplicated row"):
        fit = bs.fit(df, law="power_law", x="tokens", method="map")
    assert len(fit.y) == len(df)


def test_bucket_sizes():
    assert [bucket_size(n) for n in (1, 8, 9, 240, 256, 257)] == [8, 8, 16, 256, 256, 512]
