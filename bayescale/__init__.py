"""bayescale: Bayesian fits of neural scaling laws, vectorized with JAX.

>>> import bayescale as bs
>>> df = bs.datasets.load("chinchilla")
>>> fit = bs.fit(df, law="chinchilla", method="nuts", seed=0)   # doctest: +SKIP
>>> bs.compute_optimal(fit, compute=[5.88e23])                  # doctest: +SKIP

The public API is ``__all__`` and the subpackages ``laws``, ``methods``, ``priors``,
``datasets``, ``theory``, ``design`` and ``plot``; everything under ``bayescale._src`` is
implementation and may change without notice.
"""

import importlib as _importlib
import warnings as _warnings


with _warnings.catch_warnings():
    # arviz 0.2x announces its 1.0 refactor on import; the API used here is stable across it
    _warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    import arviz as _arviz  # noqa: F401

from bayescale import datasets, design, laws, methods, priors, theory
from bayescale._src.analysis.allocate import compute_optimal
from bayescale._src.analysis.compare import compare
from bayescale._src.analysis.downstream import forecast_score
from bayescale._src.fit.diagnostics import FitWarning
from bayescale._src.fit.discrepancy import Discrepancy
from bayescale._src.analysis.evaluate import Evaluation, evaluate
from bayescale._src.analysis.isoflop import IsoFLOP, isoflop
from bayescale._src.model.distributed import initialize_distributed
from bayescale._src.fit.fitting import fit
from bayescale._src.model.model import Likelihood
from bayescale._src.analysis.prior_predictive import prior_predictive, prior_predictive_draws
from bayescale._src.progress import set_progress
from bayescale._src.analysis.resampling import bootstrap
from bayescale._src.analysis.io import load
from bayescale._src.fit.results import Fit
from bayescale._src.analysis.sbc import Calibration, sbc
from bayescale._src.analysis.streaming import StreamedFit, fit_stream
from bayescale._src.analysis.stacking import Stack, stack
from bayescale._src.version import __version__
from bayescale.laws import Law, Param

__all__ = [
    "fit",
    "Fit",
    "load",
    "fit_stream",
    "StreamedFit",
    "initialize_distributed",
    "bootstrap",
    "compute_optimal",
    "forecast_score",
    "isoflop",
    "IsoFLOP",
    "compare",
    "stack",
    "Stack",
    "evaluate",
    "Evaluation",
    "Discrepancy",
    "prior_predictive",
    "prior_predictive_draws",
    "sbc",
    "Calibration",
    "set_progress",
    "Law",
    "Param",
    "Likelihood",
    "FitWarning",
    "laws",
    "methods",
    "priors",
    "datasets",
    "theory",
    "design",
    "plot",
    "__version__",
]

_LAZY = ("plot",)  # imported on first use: matplotlib is not needed to fit


def __getattr__(name):
    if name in _LAZY:
        module = _importlib.import_module(f"bayescale.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'bayescale' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | {n for n in globals() if not n.startswith("_")})
