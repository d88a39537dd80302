"""The inference methods ``bs.fit(..., method=name)`` takes, with the settings each one uses.

>>> import bayescale as bs
>>> bs.methods.names()        # ['auto', 'nuts', 'chees', 'smc', 'importance', 'laplace', 'map']
>>> bs.methods.table()        # one row per method: description, posterior, markov, settings

Every method is an engine of :mod:`bayescale._src.engines` (a ``Settings``
NamedTuple and a pure ``run(problem, settings, batch, keys)``); this module
lists them. A setting of ``bs.fit`` that the chosen method does not use is an
error naming the method's settings.
"""

from __future__ import annotations

import pandas as pd

from bayescale._src import engines
from bayescale._src.fit.fitting import ENGINE_OPTIONS, default_method


def names() -> list[str]:
    """Registered method names, the default first."""
    return engines.names()


def table() -> pd.DataFrame:
    """Every method (index ``method``): its description, whether its draws are a ``posterior`` (not only the
    mode) and come from ``markov`` chains (r_hat, ESS and divergences defined), whether it is the ``default``
    (of ``pooling="none"``), and the ``settings`` of ``bs.fit`` it uses with their defaults."""
    rows = []
    for name in engines.names():
        engine = engines.get(name)
        own = engine.Settings._field_defaults
        settings = ", ".join(f"{k}={own[k]!r}" for k in ENGINE_OPTIONS if k in own)
        rows.append({"method": name, "description": engine.description, "posterior": engine.posterior,
                     "markov": engine.markov, "default": name == default_method(), "settings": settings})
    return pd.DataFrame(rows).set_index("method")


__all__ = ["names", "table"]
