"""Downstream benchmark scores: sigmoids in log compute or in loss, between a chance floor and a ceiling.

A benchmark score (accuracy on multiple-choice questions, say) stays near
chance for small models, rises over a few decades of compute and levels off
below a ceiling. The forms here are the ones published forecasts fit
(Owen 2024, "How predictable is language model benchmark performance?",
arXiv:2401.04757, fits a sigmoid in log compute; Ruan, Maddison and
Hashimoto 2024, "Observational scaling laws and the predictability of
language model performance", arXiv:2405.10938, a sigmoid of a capability
measure; the Llama 3 report, Dubey et al. 2024, arXiv:2407.21783, section
3.2.1, a sigmoid of the negative log-likelihood of the correct answer, fed
by a power law of compute for that loss):

.. math::

    \\text{sigmoid\\_compute:}\\quad y &= f + (c - f)\\,
        \\sigma\\big(k\\,(\\log_{10} C - m)\\big) \\\\
    \\text{sigmoid\\_loss:}\\quad y &= f + (c - f)\\,
        \\sigma\\big(-k\\,(L - m)\\big)

with ``sigma`` the logistic function, ``f`` the chance floor (0.25 for
four-way multiple choice, 0 for exact-match generation), ``c`` the ceiling
(1, or a parameter when a benchmark has noisy or wrong labels), ``k`` the
slope (per decade of compute, or per nat of loss) and ``m`` the midpoint:
the log10 compute, or the loss, at which the score is halfway between the
floor and the ceiling. The score falls as the loss rises.

The floor is known for a benchmark, not estimated: it is a constant of the
law, fixed by its factory, ``bs.laws.sigmoid_compute(floor=0.25)``, and named
so (``"sigmoid_compute(floor=0.25)"``, which ``bs.fit(law=...)``, the
command line and saved fits accept). ``ceiling=None`` makes the ceiling a
parameter with a uniform prior on ``(floor, 1)``.

Every value of the law lies in ``[floor, ceiling]`` (:attr:`Law.bounds`), and
the bands of ``Fit.predict`` (the law's value, ``kind="mean"``) stay there: the
discrepancy term drifts in ``logit((y - f) / (c - f))``. Observations
(``kind="observation"``) are noisy scores in ``(0, 1)`` and may fall below
chance, as small models' scores do. Fit with a bounded likelihood
(``likelihood="logit_normal"``, the laws' default, or ``"logit_student_t"``),
which models the score on ``logit(y)``.

Pooling across model families (each family its own compute efficiency, one
slope) is ``bs.fit(table, law=..., group="family", pooling="partial")``: the
slope ``k`` is the law's default pooled parameter, the midpoint ``m`` (the
family's offset in log compute) stays per family.
"""

from __future__ import annotations

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Param

_OWEN_2024 = "Owen 2024, How predictable is language model benchmark performance?, arXiv:2401.04757"
_LLAMA3_2024 = "Dubey et al. 2024, The Llama 3 Herd of Models, arXiv:2407.21783, sec. 3.2.1"
_PATTERN = re.compile(r"^(sigmoid_compute|sigmoid_loss)(?:\((.*)\))?$")
KINDS = ("sigmoid_compute", "sigmoid_loss")


def _check_bounds(floor, ceiling) -> tuple[float, float | None]:
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not math.isfinite(floor):
        raise ValueError(f"floor must be a number in [0, 1), got {floor!r}")
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1) (the chance score of the benchmark), got {floor!r}")
    if ceiling is None:
        return float(floor), None
    if isinstance(ceiling, bool) or not isinstance(ceiling, (int, float)) or not math.isfinite(ceiling):
        raise ValueError(f"ceiling must be a number in (floor, 1] or None (a parameter), got {ceiling!r}")
    if not floor < ceiling <= 1.0:
        raise ValueError(f"ceiling must be in (floor, 1] = ({floor:g}, 1], got {ceiling!r}")
    return float(floor), float(ceiling)


def law_name(kind: str, floor: float, ceiling: float | None) -> str:
    """The registry name of a sigmoid law: ``sigmoid_compute`` (floor 0, ceiling 1), else with its arguments,
    e.g. ``sigmoid_compute(floor=0.25)``, ``sigmoid_loss(floor=0.25,ceiling=free)``."""
    args = []
    if floor != 0.0:
        args.append(f"floor={floor:g}")
    if ceiling != 1.0:
        args.append("ceiling=free" if ceiling is None else f"ceiling={ceiling:g}")
    return kind if not args else f"{kind}({','.join(args)})"


def _make_fn(kind: str, floor: float, ceiling: float | None):
    def fn(p, x):
        top = p["ceiling"] if ceiling is None else ceiling
        if kind == "sigmoid_compute":
            u = p["slope"] * (jnp.log10(x["C"]) - p["midpoint"])
        else:
            u = -p["slope"] * (x["L"] - p["midpoint"])
        return floor + (top - floor) * jax.nn.sigmoid(u)

    return fn


def _make_bounds(floor: float, ceiling: float | None):
    def bounds(p):
        return floor, (p["ceiling"] if ceiling is None else ceiling)

    return bounds


@functools.lru_cache(maxsize=None)
def _build(kind: str, floor: float, ceiling: float | None) -> Law:
    # cached: a law is a static argument of compiled programs and compares by its function, so the same
    # arguments must give the same object
    if kind == "sigmoid_compute":
        params = [
            Param("slope", dist.LogNormal(0.0, 1.0), "rise per decade of compute, in logits of the score's position"),
            Param("midpoint", dist.Normal(22.0, 4.0), "log10 compute (FLOP) where the score is halfway up"),
        ]
        inputs, formula = ("C",), "y = f + (c - f) sigmoid(slope (log10 C - midpoint))"
        reference = _OWEN_2024 + "; " + _LLAMA3_2024
    else:
        params = [
            Param("slope", dist.LogNormal(math.log(3.0), 1.0), "fall per nat of loss, in logits of the score"),
            Param("midpoint", dist.LogNormal(math.log(2.0), 1.0), "loss where the score is halfway up"),
        ]
        inputs, formula = ("L",), "y = f + (c - f) sigmoid(-slope (L - midpoint))"
        reference = _LLAMA3_2024 + " (accuracy from the loss of the correct answer)"
    if ceiling is None:
        params.append(Param("ceiling", dist.Uniform(floor, 1.0), "the score's limit as the model grows"))
    top = "c (a parameter)" if ceiling is None else f"c = {ceiling:g}"
    return Law(
        name=law_name(kind, floor, ceiling),
        fn=_make_fn(kind, floor, ceiling),
        inputs=inputs,
        params=tuple(params),
        formula=f"{formula}; f = {floor:g}, {top}",
        reference=reference,
        note="a benchmark score in (0, 1); the floor is the benchmark's chance score, set by the factory",
        likelihood="logit_normal",
        bounds=_make_bounds(floor, ceiling),
        pooled=("slope",),
        value_range=(0.0, 1.0),  # a score, whatever the floor: noise may put an observation below chance
    )


def sigmoid_compute(floor: float = 0.0, ceiling: float | None = 1.0) -> Law:
    """A benchmark score as a sigmoid in log10 compute, between a chance ``floor`` and a ``ceiling``.

    .. math:: y = f + (c - f)\\,\\sigma\\big(k\\,(\\log_{10} C - m)\\big)

    Parameters
    ----------
    floor
        The benchmark's chance score, in [0, 1) (0.25 for four-way multiple choice).
    ceiling
        The score's limit, in (floor, 1]; ``None`` makes it a parameter with
        a uniform prior on (floor, 1).

    Returns
    -------
    Law
        Input ``C`` (FLOP), parameters ``slope`` (per decade), ``midpoint``
        (log10 FLOP) [, ``ceiling``]; the same object for the same arguments.

    References
    ----------
    Owen 2024, arXiv:2401.04757; Dubey et al. 2024 (Llama 3), arXiv:2407.21783, sec. 3.2.1.
    """
    return _build("sigmoid_compute", *_check_bounds(floor, ceiling))


def sigmoid_loss(floor: float = 0.0, ceiling: float | None = 1.0) -> Law:
    """A benchmark score as a sigmoid in a loss ``L``, falling as the loss rises (the Llama 3 report's second
    stage: accuracy from the negative log-likelihood of the correct answer).

    .. math:: y = f + (c - f)\\,\\sigma\\big(-k\\,(L - m)\\big)

    Parameters and return value as :func:`sigmoid_compute`, with input ``L``
    (a loss, nats) and ``slope`` per nat, ``midpoint`` a loss.
    """
    return _build("sigmoid_loss", *_check_bounds(floor, ceiling))


def parse(name: str) -> Law | None:
    """The law of a name such as ``"sigmoid_compute(floor=0.25)"`` or ``"sigmoid_loss(floor=0.25, ceiling=free)"``,
    or None when ``name`` is not one of these laws."""
    match = _PATTERN.match(name.replace(" ", ""))
    if match is None:
        return None
    kind, args = match.group(1), match.group(2)
    values: dict = {"floor": 0.0, "ceiling": 1.0}
    for item in filter(None, (args or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in values:
            raise ValueError(f"law {name!r}: {kind} takes floor=NUMBER and ceiling=NUMBER|free, got {item!r}")
        try:
            values[key] = None if (key == "ceiling" and value == "free") else float(value)
        except ValueError:
            raise ValueError(f"law {name!r}: {key} must be a number{' or free' if key == 'ceiling' else ''}, "
                             f"got {value!r}") from None
    factory = sigmoid_compute if kind == "sigmoid_compute" else sigmoid_loss
    return factory(values["floor"], values["ceiling"])


__all__ = ["sigmoid_compute", "sigmoid_loss", "parse", "law_name", "KINDS"]
