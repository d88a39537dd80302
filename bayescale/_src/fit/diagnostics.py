"""Convergence diagnostics and the warnings a fit raises when it should not be trusted."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np


class FitWarning(UserWarning):
    """A fit finished but its result should not be trusted as is."""


class Thresholds(NamedTuple):
    max_r_hat: float = 1.01
    min_ess: float = 100.0  # per parameter, bulk and tail (Vehtari et al. 2021)
    max_divergences: int = 0
    min_contraction: float = 0.5  # of a default (weakly-informative) prior, see prior_contraction


def check(summary, divergences: np.ndarray, labels: list[Any], thresholds: Thresholds = Thresholds()) -> list[str]:
    """Problems of a Markov-chain fit (NUTS, ChEES), one message per curve and kind; also issued as :class:`FitWarning`.

    ``summary`` is the per-parameter table (with ``r_hat``, ``ess_bulk``,
    ``ess_tail``); ``divergences`` counts divergent transitions per curve.
    """
    problems = []
    for i, label in enumerate(labels):
        where = "" if label is None else f"curve {label!r}: "
        n_div = int(divergences[i])
        if n_div > thresholds.max_divergences:
            problems.append(
                f"{where}{n_div} divergent transition(s) after warmup; the posterior may be biased "
                "(raise target_accept_prob or reparameterize)"
            )
        rows = summary if label is None else summary.xs(label, level=0)
        bad_rhat = rows.index[rows["r_hat"] > thresholds.max_r_hat].tolist()
        if bad_rhat:
            problems.append(f"{where}r_hat > {thresholds.max_r_hat} for {bad_rhat}; chains disagree (run longer)")
        low_ess = rows.index[(rows["ess_bulk"] < thresholds.min_ess) | (rows["ess_tail"] < thresholds.min_ess)]
        if len(low_ess):
            problems.append(f"{where}effective sample size < {thresholds.min_ess:g} for {low_ess.tolist()}")
    for msg in problems:
        warnings.warn(msg, FitWarning, stacklevel=4)
    return problems


def check_mode(mode_ok: np.ndarray, labels: list[Any]) -> list[str]:
    """Problems of a mode-based fit (Laplace, MAP): curves whose Hessian at the mode is not positive-definite."""
    bad = [label for label, ok in zip(labels, mode_ok) if not ok]
    if not bad:
        return []
    where = "the curve" if bad == [None] else f"curve(s) {bad}"
    msg = (
        f"the Hessian at the mode of {where} is not positive-definite (a saddle, or a flat direction): "
        "the Laplace approximation is not to be trusted; use method='nuts'"
    )
    warnings.warn(msg, FitWarning, stacklevel=4)
    return [msg]


def check_tempering(log_evidence: np.ndarray, labels: list[Any]) -> list[str]:
    """Curves whose tempered SMC (:mod:`bayescale._src.engines.smc`) stopped at its ``max_stages`` before the
    posterior (temperature 1; its ``log_evidence`` is then NaN); also issued as :class:`FitWarning`."""
    problems = []
    for label, value in zip(labels, log_evidence):
        if not np.isfinite(value):
            where = "" if label is None else f"curve {label!r}: "
            problems.append(f"{where}tempered SMC stopped before reaching the posterior (max_stages): its draws "
                            "are of a tempered posterior, wider than the posterior; raise max_stages or use "
                            "method='nuts'")
    for msg in problems:
        warnings.warn(msg, FitWarning, stacklevel=4)
    return problems


def check_nonfinite(share: np.ndarray, labels: list[Any]) -> list[str]:
    """Curves where a share of the Laplace draws had natural values float64 cannot hold (an amplitude beyond
    1e308, or below 1e-323) and were drawn again (:mod:`bayescale._src.engines.laplace`); also issued as
    :class:`FitWarning`.

    Such draws have zero posterior density, so redrawing them is the Gaussian
    restricted to the finite values; but a Gaussian whose tail reaches them is
    far from the posterior in those directions.
    """
    bad = [(label, float(v)) for label, v in zip(labels, share) if v > 0]
    problems = []
    for label, v in bad:
        where = "" if label is None else f"curve {label!r}: "
        problems.append(
            f"{where}{100 * v:.1f}% of the Laplace draws had a parameter beyond float64 (inf, NaN, or an amplitude "
            "rounded to 0) and were drawn again: the Gaussian at the mode reaches far outside the posterior; "
            "use method='auto' or 'nuts'"
        )
    for msg in problems:
        warnings.warn(msg, FitWarning, stacklevel=4)
    return problems


MAX_NAMED = 5  # curves named one warning each by check_importance; more are counted in one warning


def check_importance(pareto_k: np.ndarray, labels: list[Any], threshold: float = 0.7,
                     method: str = "importance") -> list[str]:
    """Curves whose importance weights have a Pareto ``k`` above ``threshold``; also issued as :class:`FitWarning`.

    Above 0.7 the Pareto-smoothed importance sampling estimate is unreliable
    (Vehtari, Simpson, Gelman, Yao and Gabry 2024, JMLR): the proposal around
    the mode misses part of the posterior. With ``method="laplace"`` the weights
    are the posterior's over the Gaussian's at the Gaussian's own draws, so a
    large ``k`` says that the Laplace approximation misses part of the posterior
    (Yao, Vehtari, Simpson and Gelman 2018, "Yes, but did it work?: evaluating
    variational inference", ICML). Laplace fits of many curves flag some of them
    (about one in ten well-identified power-law curves of 20-32 points), so
    beyond ``MAX_NAMED`` curves the warning is one message that counts them and
    names the first; the returned problems stay one per curve.
    """
    bad = [(label, k) for label, k in zip(labels, pareto_k) if not k <= threshold]
    if not bad:
        return []
    if method == "laplace":
        what = "Laplace approximation"
        fix = ("use method='auto' (which corrects the draws by importance sampling and samples the curves where "
               "that fails with NUTS) or method='nuts'")
    else:
        what, fix = "importance sampling", "use method='auto' (which samples such curves with NUTS) or method='nuts'"
    problems = []
    for label, k in bad:
        where = "" if label is None else f"curve {label!r}: "
        problems.append(f"{where}{what} Pareto k = {k:.2f} > {threshold:g}: the draws do not represent the "
                        f"posterior; {fix}")
    if len(problems) > MAX_NAMED:
        named = ", ".join(repr(label) for label, _ in bad[:MAX_NAMED])
        worst = max(k for _, k in bad)
        warnings.warn(f"{what} Pareto k > {threshold:g} on {len(bad)} of {len(labels)} curves ({named}, ...; "
                      f"largest k {worst:.2f}): their draws do not represent the posterior; {fix} "
                      "(fit.diagnostics()['pareto_k'] has every curve's k)", FitWarning, stacklevel=4)
        return problems
    for msg in problems:
        warnings.warn(msg, FitWarning, stacklevel=4)
    return problems


def prior_contraction(spec, posterior: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """Posterior contraction ``1 - Var_post / Var_prior`` per curve and parameter, ``[curves, params]``.

    Variances are taken in the unconstrained space of each parameter's support
    (``log`` for positive parameters), where a log-normal prior's variance is
    finite and scale-free. Near 1: the data determined the parameter; near 0:
    the posterior is the prior (Schad, Betancourt and Vasishth 2021, "Toward a
    principled Bayesian workflow in cognitive science", Psychol. Methods).
    """
    import jax
    from numpyro.distributions.transforms import biject_to

    priors = spec.prior_dict
    out = []
    for name in names:
        to_free = biject_to(priors[name].support).inv
        prior_draws = priors[name].sample(jax.random.PRNGKey(0), (20_000,))
        prior_var = float(np.var(np.asarray(to_free(prior_draws))))
        post = np.asarray(to_free(posterior[name]))
        post_var = post.reshape(post.shape[0], -1).var(axis=1)
        out.append(1.0 - post_var / prior_var)
    return np.stack(out, axis=-1)


def check_prior(
    spec, posterior: dict[str, np.ndarray], num_points: list[int], labels: list[Any],
    thresholds: Thresholds = Thresholds(),
) -> list[str]:
    """Curves whose posterior is dominated by a default prior; also issued as :class:`FitWarning`.

    Two signs, checked on the parameters that kept their default
    (weakly-informative) prior, whose spread says nothing about the
    parameter: fewer observed points than free parameters (law parameters plus
    ``sigma``), and a posterior contraction below ``min_contraction``. A
    parameter with an informative prior the user chose (a preset, a transferred
    posterior) is expected to be prior-dominated in a few-run fit and is not
    flagged.
    """
    from bayescale._src.model.prior_records import is_default

    law = spec.law
    names = [n for n in law.param_names if is_default(law, n, spec.prior_dict[n])]
    if not names:
        return []
    contraction = prior_contraction(spec, posterior, names)
    free = len(law.param_names) + 1
    problems = []
    for i, label in enumerate(labels):
        where = "" if label is None else f"curve {label!r}: "
        weak = [n for n, c in zip(names, contraction[i]) if not c >= thresholds.min_contraction]
        few = num_points[i] < free
        if not (weak or few):
            continue
        parts = []
        if few:
            parts.append(f"{num_points[i]} points for {free} free parameters")
        if weak:
            shown = ", ".join(f"{n} ({c:.2f})" for n, c in zip(names, contraction[i]) if n in weak)
            parts.append(f"posterior contraction below {thresholds.min_contraction:g} for {shown}")
        problems.append(
            f"{where}the posterior is dominated by the default priors ({'; '.join(parts)}): the data do not "
            "determine these parameters; give informative priors (bs.priors.table(), bs.priors.from_fit) "
            "or more runs"
        )
    for msg in problems:
        warnings.warn(msg, FitWarning, stacklevel=4)
    return problems
