"""Reference data shipped with bayescale, with their sources, licences and citations.

Every data set is a CSV file in ``bayescale/datasets/data/`` with a
``<name>_README.md`` beside it (source repository and commit, licence,
citation, columns, quirks; :func:`readme` returns it). Nothing is downloaded.

>>> import bayescale as bs
>>> bs.datasets.table()                      # one row per data set
>>> df = bs.datasets.load("datablations")    # a pandas DataFrame
>>> bs.datasets.citation("datablations")     # also in df.attrs["citation"]

``chinchilla``
    The 245 (N, C, loss) points of Hoffmann et al. (2022), Figure 4 (left), as
    extracted from the figure's SVG by Epoch AI (Besiroglu, Erdil, Barnett and
    You 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102;
    file ``data/svg_extracted_data.csv`` of github.com/epoch-research/analyzing-chinchilla
    at commit 9225883). Tokens are derived as D = C / (6 N). By default the
    5 highest-loss points are dropped, as in Epoch's fit, leaving 240 rows.
    Cite both papers when using these numbers: Hoffmann et al. 2022,
    "Training Compute-Optimal Large Language Models", arXiv:2203.15556.
    No licence is stated upstream.
``datablations``
    Final C4 validation losses of the GPT-2-style runs of Muennighoff et al.
    (2023), "Scaling Data-Constrained Language Models", arXiv:2305.16264
    (github.com/huggingface/datablations, commit 1370131, Apache-2.0): the 182
    runs of the paper's default fit of R_D* and R_N*, or all 296 finished runs
    with ``subset="all"``.
``bnsl_addition``
    The 17-point 4-digit-addition curve (test cross-entropy against training
    set size) of Caballero et al. (2023), "Broken Neural Scaling Laws",
    arXiv:2210.14891, Figure 4 (left): 14 points to fit, 3 to extrapolate
    (github.com/ethancaballero/broken_neural_scaling_laws, commit ffa608f;
    no licence stated upstream).
``revisiting_lang``
    The 20 language curves (NMT, LM, BIG-Bench) of the extrapolation benchmark
    of Alabdulmohsin, Neyshabur and Zhai (2022), "Revisiting Neural Scaling
    Laws in Language and Vision", arXiv:2209.06640 (``benchmark.lang.csv`` of
    github.com/google-research/google-research, Apache-2.0), each split into
    fitting and held-out points.

``downstream_scores``
    Benchmark scores of 12 open base models in 4 families (MPT, Falcon, Llama 1,
    Llama 2) as Touvron et al. (2023b), "Llama 2: Open Foundation and
    Fine-Tuned Chat Models", arXiv:2307.09288, Table 3 report them (one
    evaluation harness for every model), with parameters N, training tokens D
    and C = 6 N D from each model's own report. Scores are fractions in (0, 1);
    ``df.attrs["chance"]`` holds each benchmark's chance score.

The Apache-2.0 text that covers ``datablations`` and ``revisiting_lang`` is in
``data/apache-2.0_LICENSE.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
from importlib import resources
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["CITATIONS", "citation", "heldout", "load", "names", "readme", "table"]


# ---------------------------------------------------------------------- readers
def _read_csv(file: str, **kwargs: Any) -> pd.DataFrame:
    with resources.files(__name__).joinpath("data", file).open() as f:
        return pd.read_csv(f, **kwargs)


def _chinchilla(drop_outliers: bool = True) -> pd.DataFrame:
    raw = _read_csv("chinchilla_svg_extracted_data.csv")
    df = pd.DataFrame(
        {
            "N": raw["Model Size"].astype(float),
            "D": raw["Training FLOP"] / (6.0 * raw["Model Size"]),
            "C": raw["Training FLOP"].astype(float),
            "loss": raw["loss"].astype(float),
        }
    )
    if drop_outliers:
        # Epoch's filter, kept verbatim: strictly below the fifth-highest loss
        df = df[df["loss"] < sorted(df["loss"])[-5]].reset_index(drop=True)
    return df


_DATABLATIONS_FILES = {"default": "datablations_c4_fit_default.csv", "all": "datablations_c4_all_runs.csv"}


def _datablations(subset: str = "default") -> pd.DataFrame:
    if subset not in _DATABLATIONS_FILES:
        raise ValueError(
            f"unknown datablations subset {subset!r}{_did_you_mean(subset, _DATABLATIONS_FILES)}; "
            f"choose one of {', '.join(map(repr, _DATABLATIONS_FILES))}"
        )
    return _read_csv(_DATABLATIONS_FILES[subset], dtype={"run_key": str, "normalized_name": str})


def _bnsl_addition() -> pd.DataFrame:
    return _read_csv("bnsl_four_digit_addition_dataset_size.csv", dtype={"split": str})


def _revisiting_lang(drop_duplicates: bool = True) -> pd.DataFrame:
    df = _read_csv("revisiting_lang_benchmark.lang.csv", dtype={"Domain": str, "Task": str, "Model": str})
    if drop_duplicates:
        # upstream stores each LM curve four times over (identical consecutive copies)
        df = df.drop_duplicates().reset_index(drop=True)
    df["curve"] = df["Domain"] + "/" + df["Task"] + "/" + df["Model"]
    return df


DOWNSTREAM_BENCHMARKS = ("code", "commonsense", "world_knowledge", "reading", "math", "mmlu", "bbh", "agi_eval")
#: The chance score of each benchmark of ``downstream_scores`` (see its README): the floor of its sigmoid law.
DOWNSTREAM_CHANCE = {"code": 0.0, "commonsense": 0.317, "world_knowledge": 0.0, "reading": 0.167, "math": 0.0,
                     "mmlu": 0.25, "bbh": 0.0, "agi_eval": 0.0}
_LLAMA2_TABLE3 = "Touvron et al. 2023b, arXiv:2307.09288, Table 3"


def _downstream_scores() -> pd.DataFrame:
    raw = _read_csv("downstream_scores.csv", dtype={"family": str, "model": str, "size_source": str})
    df = raw[["family", "model"]].copy()
    df["N"], df["D"] = raw["N"].astype(float), raw["D"].astype(float)
    df["C"] = 6.0 * df["N"] * df["D"]
    for name in DOWNSTREAM_BENCHMARKS:
        df[name] = raw[name].astype(float) / 100.0  # the paper reports percentages
    df["score_source"] = _LLAMA2_TABLE3
    df["size_source"] = raw["size_source"]
    df.attrs["chance"] = dict(DOWNSTREAM_CHANCE)
    return df


# ---------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class _DataSet:
    reader: Callable[..., pd.DataFrame]
    options: dict[str, Any]  # keyword -> default
    description: str
    source: str
    licence: str
    citation: str


_DATASETS: dict[str, _DataSet] = {
    "chinchilla": _DataSet(
        _chinchilla,
        {"drop_outliers": True},
        "Hoffmann et al. (2022) Fig. 4 runs: N, D = C/6N, C, loss (245 with drop_outliers=False)",
        "github.com/epoch-research/analyzing-chinchilla@9225883 data/svg_extracted_data.csv",
        "none stated upstream (no LICENSE file); values read off a published figure, shipped with attribution",
        "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556; "
        "data extracted by Besiroglu, Erdil, Barnett and You 2024, Chinchilla Scaling: A replication "
        "attempt, arXiv:2404.10102 (github.com/epoch-research/analyzing-chinchilla)",
    ),
    "datablations": _DataSet(
        _datablations,
        {"subset": "default"},
        "Muennighoff et al. (2023) C4 runs: params_N, tokens_D, unique_tokens_U, val_loss; the paper's "
        "default fit set (296 runs with subset='all')",
        "github.com/huggingface/datablations@1370131 utils/parametric_fit.ipynb (transcribed)",
        "Apache-2.0",
        "Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf and Raffel 2023, Scaling "
        "Data-Constrained Language Models, arXiv:2305.16264 (NeurIPS 2023); data from "
        "github.com/huggingface/datablations",
    ),
    "bnsl_addition": _DataSet(
        _bnsl_addition,
        {},
        "Caballero et al. (2023) 4-digit addition: test_cross_entropy vs train_dataset_size, "
        "split 'fit' (14) / 'extrapolate' (3)",
        "github.com/ethancaballero/broken_neural_scaling_laws@ffa608f "
        "fit_bnsl_and_extrapolate__4_digit_addition__dataset_size_x-axis.py (transcribed)",
        "none stated upstream (no LICENSE file); values from a published figure, shipped with attribution",
        "Caballero, Gupta, Rish and Krueger 2023, Broken Neural Scaling Laws, arXiv:2210.14891 "
        "(ICLR 2023), Figure 4 (left); data from github.com/ethancaballero/broken_neural_scaling_laws",
    ),
    "revisiting_lang": _DataSet(
        _revisiting_lang,
        {"drop_duplicates": True},
        "Alabdulmohsin et al. (2022) benchmark, 20 language curves (NMT, LM, BIG-Bench): Loss vs "
        "Seen Examples, Training 1 (fit) / 0 (held out); 1,399 rows with drop_duplicates=False",
        "github.com/google-research/google-research revisiting_neural_scaling_laws/data/benchmark.lang.csv "
        "(sha256 63c346db...)",
        "Apache-2.0",
        "Alabdulmohsin, Neyshabur and Zhai 2022, Revisiting Neural Scaling Laws in Language and Vision, "
        "arXiv:2209.06640 (NeurIPS 2022); data from github.com/google-research/google-research "
        "(revisiting_neural_scaling_laws)",
    ),
    "downstream_scores": _DataSet(
        _downstream_scores,
        {},
        "Benchmark scores (fractions) of 12 open base models in 4 families (MPT, Falcon, Llama 1, Llama 2): "
        "family, model, N, D, C = 6ND and 8 benchmark columns (MMLU 5-shot, BBH, AGI Eval, ...)",
        "Touvron et al. 2023b (Llama 2), arXiv:2307.09288, Table 3 (scores); sizes and tokens from each "
        "model's own report (size_source column)",
        "numbers reported in published papers, shipped with attribution (facts, no licence needed)",
        "Touvron et al. 2023b, Llama 2: Open Foundation and Fine-Tuned Chat Models, arXiv:2307.09288, Table 3; "
        "sizes from Touvron et al. 2023a, LLaMA: Open and Efficient Foundation Language Models, "
        "arXiv:2302.13971, Table 2; Almazrouei et al. 2023, The Falcon Series of Open Language Models, "
        "arXiv:2311.16867; MosaicML's MPT-7B and MPT-30B releases",
    ),
}

#: How to cite each bundled data set (the same strings as :func:`citation`).
CITATIONS: dict[str, str] = {name: ds.citation for name, ds in _DATASETS.items()}


# ---------------------------------------------------------------------- public API
def names() -> list[str]:
    """Names of the bundled data sets, for :func:`load`."""
    return [*_DATASETS]


def citation(name: str) -> str:
    """How to cite a bundled data set.

    Parameters
    ----------
    name
        A bundled data set (:func:`names`).

    Returns
    -------
    str
        The paper(s) to cite and where the numbers come from.
    """
    return _get(name).citation


def readme(name: str) -> str:
    """The ``<name>_README.md`` shipped next to a data set: source, licence, columns and quirks."""
    _get(name)
    return resources.files(__name__).joinpath("data", f"{name}_README.md").read_text(encoding="utf-8")


def load(name: str, **options: Any) -> pd.DataFrame:
    """Load a bundled data set as a DataFrame.

    Parameters
    ----------
    name
        One of :func:`names`; the columns of each are listed below, and its
        README (:func:`readme`) gives ranges and quirks.
    **options
        The keyword options of that data set (below); any other keyword is an
        error. ``chinchilla``: ``drop_outliers``; ``datablations``:
        ``subset``; ``revisiting_lang``: ``drop_duplicates``;
        ``bnsl_addition`` and ``downstream_scores`` take none.

    Returns
    -------
    pandas.DataFrame
        One row per run or point. ``df.attrs`` holds ``name``, ``citation``,
        ``licence`` and ``source``.

    Raises
    ------
    ValueError
        Unknown data set name (the message lists the bundled ones), or an
        unknown value of an option.
    TypeError
        A keyword option that the data set does not take, or a non-boolean flag.

    Notes
    -----
    ``"chinchilla"`` (240 rows; 245 with ``drop_outliers=False``)
        ``N`` (parameters), ``D`` (tokens, C / 6N), ``C`` (training FLOP) and
        ``loss`` (final training loss), all float.

        ``drop_outliers`` : bool, default True
            Drop the 5 highest-loss points as Epoch AI do.

        Fit: ``bs.fit(df, law="chinchilla")``.
    ``"datablations"`` (182 rows; 296 with ``subset="all"``)
        The upstream columns, unchanged: ``run_key`` (str, run name
        ``{params}{tokens}{unique_tokens}[suffix]``), ``params_N`` (N,
        parameters, int), ``tokens_D`` (D, total training tokens),
        ``unique_tokens_U`` (U, unique tokens), ``epochs_D_over_U`` (D / U)
        and ``val_loss`` (final C4 validation loss). ``subset="all"`` adds
        ``normalized_name`` (str, the run name without its seed/opt suffix,
        shared by seed replicates) after ``run_key``.

        ``subset`` : {"default", "all"}, default "default"
            ``"default"``: the 182 runs of the paper's default fit of R_D* and
            R_N* (outliers removed). ``"all"``: all 296 finished runs, with
            seed replicates, ``opt`` variants and the outliers.

        Fit: ``bs.fit(df, law="data_constrained", y="val_loss",
        columns={"N": "params_N", "D": "tokens_D", "U": "unique_tokens_U"})``.
    ``"bnsl_addition"`` (17 rows)
        ``train_dataset_size`` (int, training examples, 160 to 928),
        ``test_cross_entropy`` (float, 2.14 falling to 0.56) and ``split``
        (str: ``"fit"`` for the first 14 points, ``"extrapolate"`` for the
        last 3). No options.

        Fit: ``bs.fit(df[df["split"] == "fit"], law="bnsl(breaks=1)",
        x="train_dataset_size", y="test_cross_entropy")``.
    ``"revisiting_lang"`` (712 rows; 1,399 with ``drop_duplicates=False``)
        The upstream columns ``Domain`` (str: ``NMT``, ``LM`` or ``BB``),
        ``Task`` (str, e.g. ``log_perplexity``, ``val_loss`` or
        ``"('date', '1-shot')"``), ``Model`` (str, e.g. ``"6 Enc, 6 Dec"``,
        ``"1.07e+09"``, ``"262M"``), ``Seen Examples`` (x, float),
        ``Loss`` (y, in (0, 1)) and ``Training`` (int: 1 fitting point,
        0 held-out point), plus ``curve`` (str, ``"{Domain}/{Task}/{Model}"``,
        20 curves).

        ``drop_duplicates`` : bool, default True
            Drop exact duplicate rows: upstream stores each of the 5 LM curves
            four times over, which would make a likelihood 4x too confident.
            ``False`` returns the file's 1,399 rows as they are.

        Fit each curve's ``Training == 1`` points and predict the others:
        ``bs.fit(train, law="m4", x="Seen Examples", y="Loss", group="curve",
        likelihood="logit_student_t")``.

    ``"downstream_scores"`` (12 rows)
        ``family`` (str: ``MPT``, ``Falcon``, ``Llama 1``, ``Llama 2``),
        ``model`` (str, e.g. ``"Llama 2 70B"``), ``N`` (parameters), ``D``
        (training tokens), ``C`` (6 N D FLOP), the scores as fractions in
        (0, 1) of Touvron et al. (2023b) Table 3: ``code``, ``commonsense``,
        ``world_knowledge``, ``reading``, ``math``, ``mmlu`` (5-shot),
        ``bbh`` and ``agi_eval``; ``score_source`` and ``size_source`` (str,
        the paper and table of each number). ``df.attrs["chance"]`` maps each
        benchmark to its chance score. No options.

        Fit: ``bs.fit(df, law=bs.laws.sigmoid_compute(floor=0.25), y="mmlu",
        group="family", pooling="partial")``.

    Examples
    --------
    >>> df = bs.datasets.load("datablations", subset="all")
    >>> df.attrs["citation"]
    """
    ds = _get(name)
    unknown = [k for k in options if k not in ds.options]
    if unknown:
        takes = ", ".join(f"{k}={v!r}" for k, v in ds.options.items()) or "no options"
        hint = _did_you_mean(unknown[0], ds.options)
        raise TypeError(
            f"data set {name!r} got unknown option(s) {', '.join(map(repr, unknown))}{hint}; it takes {takes}"
        )
    for key, value in options.items():
        if isinstance(ds.options[key], bool) and not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{key} must be True or False, got {value!r}")
    df = ds.reader(**options)
    df.attrs.update(name=name, citation=ds.citation, licence=ds.licence, source=ds.source)
    return df


#: The held-out splits of :func:`heldout`: how many of the largest runs are held out, and how they are fitted.
HELDOUT = {
    "chinchilla": dict(by="C", threshold=1e21, law="chinchilla", y="loss", columns=None, x=None),
    "datablations": dict(by="tokens_D", threshold=1e11, law="data_constrained", y="val_loss",
                         columns={"N": "params_N", "D": "tokens_D", "U": "unique_tokens_U"}, x=None),
    "bnsl_addition": dict(by=None, threshold=None, law="bnsl", y="test_cross_entropy", columns=None,
                          x="train_dataset_size"),
    "revisiting_lang": dict(by=None, threshold=None, law="power_law", y="Loss", columns=None, x="Seen Examples",
                            group="curve"),
}


def heldout(name: str) -> pd.DataFrame:
    """A bundled data set with an extrapolation split: a ``Training`` column, 1 to fit and 0 to predict.

    The held-out rows are the largest runs, so that scoring them measures
    extrapolation (see :func:`bayescale.evaluate`):

    - ``"chinchilla"``: the 23 runs with compute ``C >= 1e21`` FLOP (up to
      1.3e22) held out; the 217 smaller runs fitted.
    - ``"datablations"``: the 26 longest runs, ``tokens_D >= 1e11`` (up to
      9e11 tokens), held out; 156 fitted.
    - ``"bnsl_addition"``: the upstream split (14 fitted, the 3 largest
      training sets held out).
    - ``"revisiting_lang"``: the benchmark's own ``Training`` column.

    ``df.attrs["evaluate"]`` holds the keywords of ``bs.evaluate`` for the
    split (the law used in ``benchmarks/bench_heldout.py``, ``y``, ``x`` or
    ``columns``, ``group``), e.g. ``bs.evaluate(df, **df.attrs["evaluate"])``.
    """
    if name not in HELDOUT:
        raise ValueError(f"no held-out split of {name!r}{_did_you_mean(name, HELDOUT)}; "
                         f"splits exist for {', '.join(map(repr, HELDOUT))}")
    rule = dict(HELDOUT[name])
    df = load(name)
    if name == "bnsl_addition":
        df["Training"] = (df["split"] == "fit").astype(int)
    elif rule["by"] is not None:
        df["Training"] = (df[rule["by"]] < rule["threshold"]).astype(int)
    df.attrs["evaluate"] = {k: v for k, v in rule.items() if k not in ("by", "threshold") and v is not None}
    return df


def table() -> pd.DataFrame:
    """A table of the bundled data sets, one row each (indexed by name).

    Returns
    -------
    pandas.DataFrame
        Index ``name``; columns ``rows`` (of ``load(name)`` with the default
        options), ``columns`` (comma-separated), ``options`` (keyword options
        and their defaults), ``description``, ``source``, ``licence`` and
        ``citation``.
    """
    rows = []
    for name, ds in _DATASETS.items():
        df = load(name)
        rows.append(
            {
                "name": name,
                "rows": len(df),
                "columns": ", ".join(map(str, df.columns)),
                "options": ", ".join(f"{k}={v!r}" for k, v in ds.options.items()),
                "description": ds.description,
                "source": ds.source,
                "licence": ds.licence,
                "citation": ds.citation,
            }
        )
    return pd.DataFrame(rows).set_index("name")


# ---------------------------------------------------------------------- helpers
def _get(name: str) -> _DataSet:
    if not isinstance(name, str) or name not in _DATASETS:
        hint = _did_you_mean(name, _DATASETS) if isinstance(name, str) else ""
        raise ValueError(f"unknown data set {name!r}{hint}; bundled: {', '.join(names())}")
    return _DATASETS[name]


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [*choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
