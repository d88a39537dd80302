"""Named literature priors: what published fits say about exponents and irreducible losses.

A preset is a set of priors, per law, centred on a published fit and widened so
that it informs a new data set without dictating it. The widths follow one rule:

- exponents: log-normal with log-sd 0.3 (one sd = x/1.35; 90% within x/1.64).
  Published refits of the *same* runs differ by that much: Hoffmann et al.'s
  beta = 0.28 against Epoch AI's 0.366 on the Chinchilla data is 0.27 in log.
  The width was 0.2 before; then the ``hoffmann2022`` preset on 4 small runs
  simulated from Epoch AI's refit gave a 90% band at 100x compute that missed
  the truth. With 0.3 each preset's band covers every published
  truth in that study (benchmarks/bench_priors.py ``--part presets``, whose
  table has the bands' widths against the default priors');
- irreducible loss ``E``: log-normal with log-sd 0.3. ``E`` depends on the data
  set and the tokenizer, so it transfers least;
- amplitudes and critical sizes: log-normal with log-sd 1.5 (they absorb
  units, tokenizers and the shear against the exponents; informative only
  about their order of magnitude);
- the noise scale ``sigma`` keeps its default.

On one-input laws (``power_law``, ``pure_power_law``) a preset reads ``x`` as
the model size ``N`` and uses the paper's parameter-count exponent.

A preset may also carry the range its law was checked on: ``Preset.source``,
the largest runs of the paper's fitted data. The priors carry how far the
paper's *parameters* transfer to new data; the range says how far the law's
*form* was seen to hold. The default discrepancy of a fit with such a preset
measures its progress beyond the furthest of the user's data and these runs
(:mod:`bayescale._src.fit.discrepancy`), so inside the paper's range the band is
the law's own.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np
import numpyro.distributions as dist

from bayescale._src.model.prior_records import prior_key

EXPONENT_SD = 0.3
IRREDUCIBLE_SD = 0.3
SCALE_SD = 1.5


class Preset(NamedTuple):
    """A named prior set: per law name, per parameter, a NumPyro distribution.

    Attributes
    ----------
    name, citation, note
        The preset's name, the paper, and the published values it is centred on.
    laws
        Per law name, per parameter, the prior.
    source
        The largest runs of the data the paper fitted its law on, as points: ``{"N": (...), "D": (...)}``,
        one entry per run (model size and training tokens). The law's form was checked up to these runs; a
        one-input law reads ``x`` as ``N``. ``None``: the range is not recorded, and the discrepancy is
        measured from the user's data alone.
    """

    name: str
    citation: str
    note: str
    laws: Mapping[str, Mapping[str, dist.Distribution]]
    source: Mapping[str, tuple[float, ...]] | None = None


def _exponent(value: float) -> dist.Distribution:
    return dist.LogNormal(math.log(value), EXPONENT_SD)


def _irreducible(value: float) -> dist.Distribution:
    return dist.LogNormal(math.log(value), IRREDUCIBLE_SD)


def _scale(value: float) -> dist.Distribution:
    return dist.LogNormal(math.log(value), SCALE_SD)


def _chinchilla_type(E: float, A: float, B: float, alpha: float, beta: float) -> dict[str, dict]:
    """Priors for L = E + A/N^alpha + B/D^beta, and the one-input laws read in N."""
    e, a, b, al, be = _irreducible(E), _scale(A), _scale(B), _exponent(alpha), _exponent(beta)
    return {
        "chinchilla": {"E": e, "A": a, "B": b, "alpha": al, "beta": be},
        "power_law": {"E": e, "A": a, "alpha": al},
        "pure_power_law": {"alpha": al},
    }


def _kaplan() -> dict[str, dict]:
    # Kaplan et al. 2020, Table 2 (joint L(N, D) fit) and eq. 1.1 for L(N)
    alpha_n, alpha_d = _exponent(0.076), _exponent(0.103)
    n_c, d_c = _scale(6.4e13), _scale(1.8e13)
    return {
        "kaplan": {"alpha_N": alpha_n, "alpha_D": alpha_d, "N_c": n_c, "D_c": d_c},
        "additive": {"alpha_N": alpha_n, "alpha_D": alpha_d, "N_c": n_c, "D_c": d_c},
        "pure_power_law": {"alpha": _exponent(0.076)},
        "power_law": {"alpha": _exponent(0.076)},
    }


REPETITION_SD = 0.4


def _muennighoff() -> dict[str, dict]:
    """Chinchilla-type priors at the paper's C4 fit, plus the repetition constants of ``data_constrained``.

    ``R_D_star = 15.39`` and ``R_N_star = 5.31`` (Muennighoff et al. 2023,
    section 3) get log-sd 0.4: the paper's own bootstrap spread is of that order.
    """
    laws = _chinchilla_type(E=1.87, A=521.0, B=1488.0, alpha=0.353, beta=0.353)
    laws["data_constrained"] = {
        **laws["chinchilla"],
        "R_D_star": dist.LogNormal(math.log(15.39), REPETITION_SD),
        "R_N_star": dist.LogNormal(math.log(5.31), REPETITION_SD),
    }
    return laws


#: The largest runs of Hoffmann et al. 2022's Approach-3 fit (their Figure 4, left), as extracted by Besiroglu
#: et al. 2024 (``bs.datasets.load("chinchilla")``, 245 runs of 5.7e7-1.6e10 parameters and 1.4e18-1.3e22 FLOP):
#: the largest model (N = 1.62e10 parameters, D = C / 6N = 3.02e10 tokens, 2.93e21 FLOP) and the largest budget
#: (N = 6.80e9, D = 3.18e11, 1.30e22 FLOP). The paper's text agrees: "over 400 language models ranging from 70
#: million to over 16 billion parameters on 5 to 500 billion tokens" (section 1). Chinchilla itself (70B, 1.4T
#: tokens, 5.8e23 FLOP) was trained on the fit's prediction, not fitted, so it is not part of the range.
CHINCHILLA_SOURCE = {"N": (1.618335e10, 6.795615e9), "D": (3.016332e10, 3.177545e11)}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "kaplan2020",
            "Kaplan et al. 2020, Scaling Laws for Neural Language Models, arXiv:2001.08361 (Table 2, eq. 1.1)",
            "alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13 (WebText2, non-embedding parameters)",
            _kaplan(),
        ),
        Preset(
            "hoffmann2022",
            "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556 (Approach 3, eq. 10)",
            "E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28 (MassiveText)",
            _chinchilla_type(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
            CHINCHILLA_SOURCE,
        ),
        Preset(
            "epoch2024",
            "Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt, arXiv:2404.10102 (Table 1)",
            "E = 1.82, A = 482.0, B = 2085.4, alpha = 0.3478, beta = 0.3658 (Chinchilla's runs, refitted)",
            _chinchilla_type(E=1.82, A=482.0, B=2085.4, alpha=0.3478, beta=0.3658),
            CHINCHILLA_SOURCE,
        ),
        Preset(
            "muennighoff2023",
            "Muennighoff et al. 2023, Scaling Data-Constrained Language Models, arXiv:2305.16264 (section 3)",
            "E = 1.87, A = 521, B = 1488, alpha = beta = 0.353 (C4, GPT-2 tokenizer); R_D* = 15.39, R_N* = 5.31",
            _muennighoff(),
        ),
    )
}


def names() -> list[str]:
    """Names of the literature presets."""
    return list(PRESETS)


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown prior preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def for_law(name: str, law_name: str) -> dict[str, dist.Distribution]:
    """The priors preset ``name`` gives law ``law_name`` (a dict of parameter -> distribution)."""
    preset = get(name)
    if law_name not in preset.laws:
        raise ValueError(
            f"prior preset {name!r} has no priors for law {law_name!r}; it covers {', '.join(preset.laws)}"
        )
    return dict(preset.laws[law_name])


def source_inputs(name: str, law) -> dict[str, np.ndarray] | None:
    """The preset's source runs (:attr:`Preset.source`) as inputs of ``law`` (a one-input law's ``x`` is ``N``):
    ``{input: [runs]}``, or ``None`` where the preset records no range or the law has an input it lacks."""
    source = get(name).source
    if source is None:
        return None
    inputs = {"x": source["N"]} if tuple(law.inputs) == ("x",) else source
    if not set(law.inputs) <= set(inputs):
        return None
    return {k: np.asarray(inputs[k], float) for k in law.inputs}


def matching(law, priors: Mapping[str, dist.Distribution]) -> str | None:
    """The preset whose priors for ``law`` are exactly those in ``priors`` (by value, ``prior_key``), else
    ``None``: a fit made with ``priors="epoch2024"`` or with the unedited dict of ``bs.priors.preset``."""
    for preset in PRESETS.values():
        own = preset.laws.get(law.name)
        if own and all(k in priors and prior_key(priors[k]) == prior_key(p) for k, p in own.items()):
            return preset.name
    return None
