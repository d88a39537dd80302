"""Which runs to train next: Bayesian experimental design of a scaling-law sweep under a compute budget.

>>> import bayescale as bs
>>> fit = bs.fit(pilot, law="chinchilla", method="laplace", priors="hoffmann2022")      # doctest: +SKIP
>>> bs.design.next_runs(fit, candidates, target={"N": [7e10], "D": [1.4e12]}, budget=1e21)  # doctest: +SKIP

- :func:`next_runs`: candidates ranked by the expected reduction of the predictive
  variance at the target per unit cost; a greedy batch under ``k`` or a ``budget``.
- Baselines with the same output: :func:`random_runs`, :func:`cheapest_runs`,
  :func:`d_optimal_runs` (D-optimal for the point fit).
- :func:`replay`: the loop fit -> choose -> observe over a finished (or simulated)
  sweep, with the forecast at the target after every round.
- :func:`optimal_target`: a compute-optimal target (N, D) at a FLOP budget.
- :func:`chinchilla_sweeps`, :func:`data_constrained_sweeps`: simulated sweeps with a known truth, to replay.
"""

from bayescale._src.design.baselines import cheapest_runs, d_optimal_runs, random_runs
from bayescale._src.design.choose import next_runs
from bayescale._src.design.replay import STRATEGIES, optimal_target, replay
from bayescale._src.design.simulate import chinchilla_sweeps, data_constrained_sweeps

__all__ = ["next_runs", "random_runs", "cheapest_runs", "d_optimal_runs", "replay", "optimal_target",
           "chinchilla_sweeps", "data_constrained_sweeps", "STRATEGIES"]
