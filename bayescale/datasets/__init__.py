"""Reference data shipped with bayescale.

``chinchilla``
    The 245 (N, C, loss) points of Hoffmann et al. (2022), Figure 4 (left), as
    extracted from the figure's SVG by Epoch AI (Besiroglu, Erdil, Barnett and
    You 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102;
    file ``data/svg_extracted_data.csv`` of github.com/epoch-research/analyzing-chinchilla
    at commit 9225883). Tokens are derived as D = C / (6 N). By default the
    5 highest-loss points are dropped, as in Epoch's fit, leaving 240 rows.
    Cite both papers when using these numbers: Hoffmann et al. 2022,
    "Training Compute-Optimal Large Language Models", arXiv:2203.15556.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

CITATIONS = {
    "chinchilla": (
        "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556; "
        "data extracted by Besiroglu, Erdil, Barnett and You 2024, Chinchilla Scaling: A replication "
        "attempt, arXiv:2404.10102 (github.com/epoch-research/analyzing-chinchilla)"
    ),
}


def names() -> list[str]:
    """Names of the bundled data sets."""
    return list(CITATIONS)


def citation(name: str) -> str:
    """How to cite a bundled data set."""
    _check(name)
    return CITATIONS[name]


def load(name: str, *, drop_outliers: bool = True) -> pd.DataFrame:
    """Load a bundled data set as a DataFrame.

    Parameters
    ----------
    name
        ``"chinchilla"``: columns ``N`` (parameters), ``D`` (tokens, C / 6N),
        ``C`` (training FLOP) and ``loss``.
    drop_outliers
        Drop the 5 highest-loss Chinchilla points as Epoch AI do (240 rows
        left); ``False`` keeps all 245.
    """
    _check(name)
    with resources.files(__name__).joinpath("data/chinchilla_svg_extracted_data.csv").open() as f:
        raw = pd.read_csv(f)
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
    df.attrs["citation"] = CITATIONS[name]
    return df


def _check(name: str) -> None:
    if name not in CITATIONS:
        raise ValueError(f"unknown data set {name!r}; bundled: {', '.join(names())}")
