"""Plots of fits (matplotlib). Every function returns the Figure; save it with ``fig.savefig``.

- :func:`predictive`: the data on log-log axes, the posterior predictive band
  and the extrapolation region.
- :func:`grid`: small multiples of the same, one panel per curve of a batched fit.
- :func:`frontier`: the compute-optimal N_opt(C) and D_opt(C) with bands.
- :func:`isoflop`: IsoFLOP profiles with their posterior optima, and the frontier beside Approach 3's.
- :func:`prior_posterior`: prior against posterior density of each parameter.
- :func:`design`: candidate runs by value per cost, the picks, and the target's band now and after.
"""

from bayescale.plot.allocation import frontier
from bayescale.plot.curves import grid, predictive
from bayescale.plot.design import design
from bayescale.plot.isoflop import isoflop
from bayescale.plot.params import prior_posterior

__all__ = ["predictive", "grid", "frontier", "isoflop", "prior_posterior", "design"]
