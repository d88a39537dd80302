"""The bundled data sets: columns, row counts, values the laws need, licences and citations (no fitting)."""

from importlib import resources

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

# name -> (options, rows, columns, numeric columns that must be positive and finite)
EXPECTED = {
    "chinchilla": ({}, 240, ["N", "D", "C", "loss"], ["N", "D", "C", "loss"]),
    "chinchilla/all": ({"drop_outliers": False}, 245, ["N", "D", "C", "loss"], ["N", "D", "C", "loss"]),
    "datablations": (
        {},
        182,
        ["run_key", "params_N", "tokens_D", "unique_tokens_U", "epochs_D_over_U", "val_loss"],
        ["params_N", "tokens_D", "unique_tokens_U", "epochs_D_over_U", "val_loss"],
    ),
    "datablations/all": (
        {"subset": "all"},
        296,
        ["run_key", "normalized_name", "params_N", "tokens_D", "unique_tokens_U", "epochs_D_over_U", "val_loss"],
        ["params_N", "tokens_D", "unique_tokens_U", "epochs_D_over_U", "val_loss"],
    ),
    "bnsl_addition": (
        {},
        17,
        ["train_dataset_size", "test_cross_entropy", "split"],
        ["train_dataset_size", "test_cross_entropy"],
    ),
    "revisiting_lang": (
        {},
        712,
        ["Domain", "Task", "Model", "Seen Examples", "Loss", "Training", "curve"],
        ["Seen Examples", "Loss"],
    ),
    "downstream_scores": (
        {},
        12,
        ["family", "model", "N", "D", "C", "code", "commonsense", "world_knowledge", "reading", "math", "mmlu", "bbh",
         "agi_eval", "score_source", "size_source"],
        ["N", "D", "C", "commonsense", "world_knowledge", "reading", "mmlu", "bbh", "agi_eval"],
    ),
    "revisiting_lang/raw": (
        {"drop_duplicates": False},
        1399,
        ["Domain", "Task", "Model", "Seen Examples", "Loss", "Training", "curve"],
        ["Seen Examples", "Loss"],
    ),
}


def test_every_bundled_set_is_covered_here():
    assert set(bs.datasets.names()) == {key.split("/")[0] for key in EXPECTED}


@pytest.mark.parametrize("key", list(EXPECTED))
def test_loads_with_the_documented_columns_rows_and_positive_finite_values(key):
    name = key.split("/")[0]
    options, rows, columns, positive = EXPECTED[key]
    df = bs.datasets.load(name, **options)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == columns
    assert len(df) == rows
    assert not df.isna().any().any()
    for col in positive:
        values = df[col].to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values > 0).all(), col
    assert df.attrs["name"] == name
    assert df.attrs["citation"] == bs.datasets.citation(name)
    assert df.attrs["licence"] and df.attrs["source"]
    # the docstring of load() names every column
    for col in columns:
        assert f"``{col}``" in bs.datasets.load.__doc__, col


def test_datablations_default_is_the_subset_of_all_runs_with_the_same_losses():
    default, every = bs.datasets.load("datablations"), bs.datasets.load("datablations", subset="all")
    merged = default.merge(every, on="run_key", suffixes=("", "_all"), validate="one_to_one")
    assert len(merged) == 182
    np.testing.assert_array_equal(merged["val_loss"], merged["val_loss_all"])
    np.testing.assert_allclose(default["epochs_D_over_U"], default["tokens_D"] / default["unique_tokens_U"], rtol=1e-5)
    assert (default["unique_tokens_U"] <= default["tokens_D"]).all()


def test_bnsl_addition_split_and_monotone_curve():
    df = bs.datasets.load("bnsl_addition")
    assert df["split"].tolist() == ["fit"] * 14 + ["extrapolate"] * 3
    assert df["train_dataset_size"].is_monotonic_increasing
    assert (np.diff(df["test_cross_entropy"]) < 0).all()


def test_revisiting_lang_curves_split_fit_before_held_out():
    df = bs.datasets.load("revisiting_lang")
    assert df["curve"].nunique() == 20
    assert df.groupby("Domain")["curve"].nunique().to_dict() == {"BB": 10, "LM": 5, "NMT": 5}
    assert ((df["Loss"] > 0) & (df["Loss"] < 1)).all()  # logit likelihoods need 0 < y < 1
    assert set(df["Training"]) == {0, 1}
    for curve, points in df.groupby("curve"):
        assert not points["Seen Examples"].duplicated().any(), curve
        assert points.loc[points["Training"] == 1, "Seen Examples"].max() < \
            points.loc[points["Training"] == 0, "Seen Examples"].min(), curve


def test_revisiting_lang_duplicates_are_the_four_copies_of_each_lm_curve():
    raw = bs.datasets.load("revisiting_lang", drop_duplicates=False)
    dedup = bs.datasets.load("revisiting_lang")
    counts = raw.groupby(["curve", "Seen Examples", "Loss", "Training"]).size()
    lm = counts.index.get_level_values("curve").str.startswith("LM/")
    assert (counts[lm] == 4).all() and (counts[~lm] == 1).all()
    pd.testing.assert_frame_equal(raw.drop_duplicates().reset_index(drop=True), dedup)


def test_list_has_one_row_per_set_with_licence_and_citation():
    table = bs.datasets.table().reset_index()
    assert table["name"].tolist() == bs.datasets.names()
    for col in ("name", "rows", "columns", "options", "description", "source", "licence", "citation"):
        assert col in table.columns, col
    for col in ("description", "source", "licence", "citation"):
        assert (table[col].str.len() > 0).all(), col
    assert table.set_index("name")["rows"].to_dict() == {
        "chinchilla": 240, "datablations": 182, "bnsl_addition": 17, "revisiting_lang": 712,
        "downstream_scores": 12}
    assert table.set_index("name").loc["datablations", "licence"] == "Apache-2.0"
    assert table.set_index("name").loc["revisiting_lang", "licence"] == "Apache-2.0"


@pytest.mark.parametrize("name, words", [
    ("chinchilla", ["Hoffmann", "arXiv:2203.15556", "arXiv:2404.10102"]),
    ("datablations", ["Muennighoff", "arXiv:2305.16264"]),
    ("bnsl_addition", ["Caballero", "arXiv:2210.14891"]),
    ("revisiting_lang", ["Alabdulmohsin", "arXiv:2209.06640"]),
    ("downstream_scores", ["Touvron", "arXiv:2307.09288", "Table 3"]),
])
def test_citations_name_the_papers(name, words):
    for word in words:
        assert word in bs.datasets.citation(name)
        assert word in bs.datasets.CITATIONS[name]


@pytest.mark.parametrize("name", ["chinchilla", "datablations", "bnsl_addition", "revisiting_lang",
                                  "downstream_scores"])
def test_each_set_ships_a_readme_with_source_licence_and_columns(name):
    text = bs.datasets.readme(name)
    assert "Licence" in text or "LICENSE" in text
    assert "## Columns" in text
    for col in bs.datasets.load(name).columns:
        if name != "chinchilla":  # chinchilla's README describes the raw SVG columns
            assert f"`{col}`" in text, col


def test_apache_licence_text_is_bundled():
    text = resources.files("bayescale.datasets").joinpath("data", "apache-2.0_LICENSE.md").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_unknown_name_lists_the_bundled_sets_and_suggests_one():
    with pytest.raises(ValueError, match=r"unknown data set 'datablation' \(did you mean 'datablations'\?\)") as err:
        bs.datasets.load("datablation")
    for name in bs.datasets.names():
        assert name in str(err.value)
    with pytest.raises(ValueError, match="unknown data set 'nope'; bundled: chinchilla"):
        bs.datasets.citation("nope")
    with pytest.raises(ValueError, match="unknown data set"):
        bs.datasets.readme("nope")


def test_unknown_options_are_errors_that_name_the_set_and_its_options():
    with pytest.raises(TypeError, match=r"'chinchilla' got unknown option\(s\) 'drop_outlier' "
                                        r"\(did you mean 'drop_outliers'\?\); it takes drop_outliers=True"):
        bs.datasets.load("chinchilla", drop_outlier=False)
    with pytest.raises(TypeError, match="'bnsl_addition' got unknown option.*it takes no options"):
        bs.datasets.load("bnsl_addition", subset="all")
    with pytest.raises(ValueError, match=r"unknown datablations subset 'al' \(did you mean 'all'\?\)"):
        bs.datasets.load("datablations", subset="al")
    with pytest.raises(TypeError, match="drop_duplicates must be True or False"):
        bs.datasets.load("revisiting_lang", drop_duplicates="no")


def test_names_is_a_list():
    assert isinstance(bs.datasets.names(), list)
