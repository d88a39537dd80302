"""The suite's shared fits: each built once per session, with settings chosen so that they share compiled programs.

Imported by ``tests/conftest.py`` (its ``__all__``: the fixtures); tests import the helpers and constants.

Why this module exists: ``bs.fit`` compiles one XLA program per distinct (law,
priors, likelihood, method, method settings, ``num_starts``, bucket width of
the points -- the next power of two >= 8 -- and chunk size in curves). A
compile costs 5-25 s on 2 CPU cores (NUTS the most), a fit with a compiled
program well under a second. So the fast tier fits few programs, on purpose:

``POWER`` programs -- law ``power_law``, default priors and likelihood, curves
of 17..32 points (bucket width 32), ``chunk_size=CHUNK`` (4) curves, the
default ``num_starts``:

- ``power_map``: ``method="map"``
- ``power_laplace``: ``method="laplace", draws=200``
- ``power_nuts``: ``method="nuts", chains=2, warmup=100, draws=100``
- ``power_chees``: ``method="chees", chains=4, warmup=50, draws=50`` (test_chees)

``fit_like(table, method)`` fits any table of 17..32-point curves with exactly
these settings, so it reuses the same program (an explicit ``chunk_size`` pads
every chunk to ``CHUNK`` curves, whether the table has one curve or five).
Tests that need their own data on the shared programs call it:
test_fitting (determinism), test_results (a flat curve's diagnostics),
test_progress (a six-curve fit in two chunks), test_streaming (six curves in two chunks, Laplace and
NUTS, through bs.fit_stream), test_sbc (``bs.sbc`` with
Laplace on four data sets of 24 points), and the ``candidates`` fixture
below (whose power_law fit, and its hold-out refit inside ``bs.compare``,
run the Laplace program: four curves, so compare's default chunk is also 4).
Curves of at most 8 points compile the MAP program's bucket-8 twin once, shared
by test_batch (a fit spanning two buckets) and test_data (random tables).

``CHINCHILLA`` program -- law ``chinchilla``, default priors, the 240 bundled
runs (bucket width 256) as one curve (a chunk of 1), ``method="laplace",
draws=200``:

- ``chinchilla_laplace``, and ``chinchilla_two_copies`` (the runs twice, as
  two groups, ``chunk_size=1``: the same program run twice, for plots of
  grouped fits of a law of N and D). test_cli's ``bayescale fit`` of the same
  runs (one curve, so the default chunk is 1, ``--draws 200``) also reuses it.

The fast tier's other programs, each compiled once for a reason of its own:
test_batch's per-curve Laplace (chunks of one curve, against the chunks of 4),
test_runs' run-aware Laplace (a different problem: correlated checkpoints; its MAP and
bs.compare's refit share the mode finder and the program),
the pure_power_law and log_law candidates, test_laws' user-defined law,
test_priors' MAP fit of a 5-point curve under a joint population prior (a joint prior is part of the program),
bs.bootstrap's two (``BOOTSTRAP`` below), and the pooled model of
``power_table`` (test_pooling: MAP and Laplace share its compiled mode finder;
test_chees runs ChEES on it, 4 x (50 + 50)).

Statistical tier only (requested by tests marked ``statistical``):

- ``chinchilla_nuts``: NUTS with the default settings (4 x 1000) on the 240 runs.
"""

import warnings

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayescale as bs

__all__ = ["power_table", "power_map", "power_laplace", "power_nuts", "power_chees", "power_auto", "candidates", "chinchilla_df",
           "chinchilla_laplace", "chinchilla_two_copies", "chinchilla_nuts"]

# ---------------------------------------------------------------------- the POWER programs
CHUNK = 4
POWER_LAW = "power_law"
SETTINGS = {
    "map": dict(method="map"),
    "laplace": dict(method="laplace", draws=200),
    "nuts": dict(method="nuts", chains=2, warmup=100, draws=100),
    "chees": dict(method="chees", chains=4, warmup=50, draws=50),
    # auto's sampler pass has the nuts settings above, so an escalated chunk reuses the NUTS program
    "auto": dict(method="auto", chains=2, warmup=100, draws=100),
    "importance": dict(method="importance", chains=2, draws=100),
}
POWER_TRUTH = {"E": 1.7, "A": 400.0, "alpha": 0.3}
POWER_LENGTHS = (20, 25, 30)  # ragged inside one bucket (width 32): padding is masked in every shared fit
COLUMNS = dict(x="tokens", y="val_loss", group="run")  # custom names: every shared fit maps columns


def power_curves(lengths=POWER_LENGTHS, seed=1, truth=POWER_TRUTH, sigma=0.01, labels=None) -> pd.DataFrame:
    """Noisy power-law curves (columns tokens, val_loss, run), ``lengths[i]`` points each over 1e7..1e10 tokens."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(lengths):
        x = np.geomspace(1e7, 1e10, n)
        mean = truth["E"] + truth["A"] * x ** -truth["alpha"]
        loss = mean * np.exp(sigma * rng.standard_normal(n))
        frames.append(pd.DataFrame({"tokens": x, "val_loss": loss, "run": i if labels is None else labels[i]}))
    return pd.concat(frames, ignore_index=True)


def fit_like(data, method: str, law: str = POWER_LAW, seed: int = 0, **options) -> bs.Fit:
    """``bs.fit`` with the shared settings of ``method``: a table of 17..32-point curves reuses the POWER program.

    ``options`` override :data:`COLUMNS` (e.g. ``group=None`` for an ungrouped fit) or add ``progress``;
    they never change the compiled program. Another ``law`` compiles that law's program once, shared by
    every later call with it.
    """
    return bs.fit(data, law=law, seed=seed, chunk_size=CHUNK, **{**COLUMNS, **options}, **SETTINGS[method])


@pytest.fixture(scope="session")
def power_table() -> pd.DataFrame:
    """Three simulated power-law curves of 20, 25 and 30 points (E 1.7, A 400, alpha 0.3, noise 1%); groups 0, 1, 2."""
    return power_curves()


@pytest.fixture(scope="session")
def power_map(power_table) -> bs.Fit:
    """MAP fit of ``power_table`` (POWER map program).

    Used by test_batch, test_fitting, test_results, test_allocate, test_plot.
    """
    return fit_like(power_table, "map")


@pytest.fixture(scope="session")
def power_laplace(power_table) -> bs.Fit:
    """Laplace fit of ``power_table`` (POWER laplace program, 200 draws).

    Used by test_batch, test_fitting, test_results, test_netcdf, test_plot, test_theory.
    """
    return fit_like(power_table, "laplace")


@pytest.fixture(scope="session")
def power_auto(power_table) -> bs.Fit:
    """``method="auto"`` fit of ``power_table`` (2 x 100 importance-resampled draws; its proposal and
    resampling programs are also those of ``method="importance"`` with the same settings). Used by test_auto.
    """
    return fit_like(power_table, "auto")


@pytest.fixture(scope="session")
def power_nuts(power_table) -> bs.Fit:
    """NUTS fit of ``power_table`` (the fast tier's one NUTS program: 2 chains x 100 draws after 100 warmup).

    Short chains: r_hat/ESS warnings are expected and silenced here. Used by test_fitting, test_results, test_netcdf.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return fit_like(power_table, "nuts")


@pytest.fixture(scope="session")
def power_chees(power_table) -> bs.Fit:
    """ChEES-HMC fit of ``power_table`` (POWER chees program: 4 chains x 50 draws after 50 warmup).

    Short chains: r_hat/ESS warnings are expected and silenced here. Used by test_chees.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return fit_like(power_table, "chees")


# ---------------------------------------------------------------------- compare and stack candidates
CANDIDATES = ("power_law", "pure_power_law", "log_law")
CANDIDATE_TRUTH = {"E": 0.8, "A": 20.0, "alpha": 0.5}  # a curve with a clear floor
CANDIDATE_SEEDS = range(CHUNK)  # four curves: bs.compare's hold-out refit (default chunk) is a chunk of CHUNK too
CANDIDATE_POINTS = 24  # the refit on 18 points has the same bucket width (32)
# log_law's default prior puts its zero crossing beyond 1e12, too far for these steep curves
# (7 to 0.9 over x = 10..1e5): the documented override lets it follow them, and miss only their bend
CANDIDATE_OPTIONS = {"log_law": {"priors": {"x0": dist.LogNormal(np.log(1e6), 3.0)}}}


def candidate_curves() -> pd.DataFrame:
    """Four noisy curves (column ``seed``) of E + A x^-alpha, 24 points over x = 10..1e5, noise 2%."""
    frames = []
    for seed in CANDIDATE_SEEDS:
        rng = np.random.default_rng(seed)
        x = np.geomspace(10, 1e5, CANDIDATE_POINTS)
        t = CANDIDATE_TRUTH
        loss = (t["E"] + t["A"] * x ** -t["alpha"]) * np.exp(0.02 * rng.standard_normal(x.size))
        frames.append(pd.DataFrame({"x": x, "loss": loss, "seed": seed}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def candidates() -> dict[str, bs.Fit]:
    """Laplace fits of ``candidate_curves()`` by each law of CANDIDATES (power_law: the POWER laplace program;
    pure_power_law and log_law: one program each, reused by bs.compare's refit). Used by test_compare, test_stacking.
    """
    df = candidate_curves()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return {law: fit_like(df, "laplace", law=law, x="x", y="loss", group="seed", **CANDIDATE_OPTIONS.get(law, {}))
                for law in CANDIDATES}


# ---------------------------------------------------------------------- the CHINCHILLA program
CHINCHILLA_LAPLACE = dict(law="chinchilla", method="laplace", draws=200, seed=0)


@pytest.fixture(scope="session")
def chinchilla_df() -> pd.DataFrame:
    """The 240 bundled Chinchilla runs (Epoch AI's extraction): columns N, D, C, loss."""
    return bs.datasets.load("chinchilla")


@pytest.fixture(scope="session")
def chinchilla_laplace(chinchilla_df) -> bs.Fit:
    """Laplace fit (200 draws) of the 240 runs: one curve, the CHINCHILLA program.

    Used by test_allocate, test_results, test_netcdf, test_priors, test_plot, and test_cli, whose ``bayescale fit``
    of the same runs reuses its program and must give the same draws.
    """
    return bs.fit(chinchilla_df, **CHINCHILLA_LAPLACE)


@pytest.fixture(scope="session")
def chinchilla_two_copies(chinchilla_df) -> bs.Fit:
    """The 240 runs twice, as groups 'a' and 'b' (``chunk_size=1``: the CHINCHILLA program, run twice).

    A grouped fit of a law of N and D, with string labels, at no compile: test_plot (grid), test_netcdf.
    """
    df = pd.concat([chinchilla_df.assign(copy="a"), chinchilla_df.assign(copy="b")], ignore_index=True)
    return bs.fit(df, group="copy", chunk_size=1, **CHINCHILLA_LAPLACE)


# ---------------------------------------------------------------------- bootstrap
#: bs.bootstrap's settings in test_resampling (n=400) and test_progress (n=512): 256 resamples per compiled
#: call, so both reuse one program (and both runs have two chunks)
BOOTSTRAP = dict(law="chinchilla", chunk_size=256)


# ---------------------------------------------------------------------- statistical tier
@pytest.fixture(scope="session")
def chinchilla_nuts(chinchilla_df) -> bs.Fit:
    """NUTS on the 240 Chinchilla points with the default settings (statistical tier: test_fitting)."""
    return bs.fit(chinchilla_df, law="chinchilla", method="nuts", seed=0)
