"""Population priors learned from real curves: the ones shipped with bayescale, and saving your own.

A :class:`~bayescale.priors.PopulationPrior` from :func:`~bayescale.priors.from_curves` is plain data
(per-parameter marginals plus the joint Student-t of :mod:`bayescale._src.model.joint_prior`), so it is
saved as JSON and loaded again without refitting the corpus (:func:`save_population`, :func:`load_population`).

bayescale ships one such prior per domain of the bundled ``revisiting_lang`` curves
(Alabdulmohsin, Neyshabur and Zhai 2022, "Revisiting neural scaling laws in language and vision",
NeurIPS; their benchmark's language half): ``power_law`` learned from every curve of the domain by
``from_curves`` with its defaults (one batched Laplace fit, ``pseudo_curves=1``). Each file records
the recipe (data set, domain, columns, law, settings), so
:func:`bayescale.priors.population.relearn` rebuilds it from the
bundled data and the statistical test tier checks that it does. ``bs.fit(curve, "power_law",
priors="revisiting_lm")`` uses one by name; ``bs.priors.table()`` lists them.

What a learned prior knows is tied to its corpus: the amplitude is coded as the law's value at the
corpus's reference input ``x_0`` (its mean ``log x``), and ``sigma`` is the corpus's noise level, so
it suits new curves of the same kind, measured in the same units of ``x`` (``Seen Examples`` here).
Leave-one-curve-out on these curves (``benchmarks/bench_priors.py --part curves``): a domain's prior
learned from its other curves, used on a curve's first 5 points, lowers the held-out RMSLE of the
median from 0.0471 to 0.0421 on average over the 20 curves (13 of 20 better).
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from bayescale._src.model.joint_prior import PopulationPrior, joint_from_record, joint_record
from bayescale._src.model.prior_records import decode_prior, encode_prior

FORMAT = 1
_DATA = "data"


def save_population(priors: PopulationPrior, path: str | Path, **recipe: Any) -> Path:
    """Write ``priors`` (from :func:`~bayescale.priors.from_curves`) to a JSON file; ``recipe``: how it was
    learned (any JSON-able keys, e.g. the corpus and its columns), kept in the file. Returns the path."""
    if not isinstance(priors, PopulationPrior):
        raise TypeError(f"save_population writes a PopulationPrior (from bs.priors.from_curves), got {type(priors).__name__}")
    record = {
        "format": FORMAT,
        "law": priors.joint.law,
        "marginals": {name: encode_prior(prior) for name, prior in priors.items()},
        "joint": joint_record(priors.joint),
        "recipe": recipe,
    }
    path = Path(path)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_population(path: str | Path) -> PopulationPrior:
    """The population prior saved by :func:`save_population` at ``path``."""
    return _from_record(json.loads(Path(path).read_text()), str(path))


def names() -> list[str]:
    """Names of the population priors shipped with bayescale."""
    return list(_names())


@functools.cache
def _names() -> tuple[str, ...]:
    # the package's files do not change while it runs: list them once (every string prior of bs.fit asks)
    folder = resources.files(__package__).joinpath(_DATA)
    return tuple(sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")))


def learned(name: str) -> PopulationPrior:
    """The shipped population prior ``name`` (see ``bs.priors.table()``), e.g. ``"revisiting_lm"``."""
    return _from_record(_record(name), name)


def recipe(name: str) -> dict:
    """How the shipped prior ``name`` was learned: data set, domain, columns, law and ``from_curves`` settings."""
    return dict(_record(name)["recipe"])


def learned_table() -> pd.DataFrame:
    """The shipped population priors: corpus, curves, columns, law, reference inputs ``x_0`` and source."""
    rows = []
    for name in names():
        record = _record(name)
        r = record["recipe"]
        reference = ", ".join(f"{k} = {math.exp(v):.3g}" for k, v in record["joint"]["log_reference"])
        rows.append({"prior": name, "law": record["law"], "dataset": r["dataset"], "domain": r["domain"],
                     "curves": len(r["curves"]), "x": r["x"], "y": r["y"], "reference inputs": reference,
                     "source": r["source"]})
    return pd.DataFrame(rows).set_index("prior")


def _record(name: str) -> dict:
    if name not in _names():
        raise ValueError(f"no shipped population prior {name!r}; shipped: {', '.join(names())}")
    text = resources.files(__package__).joinpath(_DATA, f"{name}.json").read_text()
    return json.loads(text)


def _from_record(record: dict, where: str) -> PopulationPrior:
    if record.get("format") != FORMAT:
        raise ValueError(f"{where}: not a bayescale population prior file (format {record.get('format')!r}, "
                         f"expected {FORMAT})")
    marginals = {name: decode_prior(r) for name, r in record["marginals"].items()}
    return PopulationPrior(marginals, joint_from_record(record["joint"]))
