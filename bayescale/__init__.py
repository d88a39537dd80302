"""bayescale: Bayesian fits of neural scaling laws, vectorized with JAX.

>>> import bayescale as bs
>>> df = bs.datasets.load("chinchilla")
>>> fit = bs.fit(df, law="chinchilla", method="nuts", seed=0)   # doctest: +SKIP
>>> bs.compute_optimal(fit, compute=[5.88e23])                  # doctest: +SKIP
"""

import warnings as _warnings

from bayescale import _config  # noqa: F401  (precision must be set before arrays are made)

with _warnings.catch_warnings():
    # arviz 0.2x announces its 1.0 refactor on import; the API used here is stable across it
    _warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    import arviz as _arviz  # noqa: F401
from bayescale import datasets, diagnostics, laws, priors, theory
from bayescale.allocate import compute_optimal
from bayescale.compare import compare
from bayescale.resampling import bootstrap
from bayescale.diagnostics import FitWarning
from bayescale.fitting import fit
from bayescale.io import load
from bayescale.laws import Law, Param
from bayescale.model import Likelihood
from bayescale.progress import set_progress
from bayescale.prior_predictive import prior_predictive, prior_predictive_draws
from bayescale.results import Fit
from bayescale.sbc import SBCResult, sbc
from bayescale.stacking import Stack, stack

__version__ = "0.1.0"

__all__ = [
    "fit",
    "bootstrap",
    "load",
    "set_progress",
    "sbc",
    "SBCResult",
    "theory",
    "Fit",
    "compute_optimal",
    "compare",
    "stack",
    "Stack",
    "prior_predictive",
    "prior_predictive_draws",
    "Law",
    "Param",
    "Likelihood",
    "FitWarning",
    "laws",
    "priors",
    "datasets",
    "diagnostics",
    "__version__",
]
