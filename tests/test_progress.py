"""Progress bars: silent in tests, drawn when forced on, one update per step under vmap."""

import jax
import jax.numpy as jnp
import pytest
from fixtures import BOOTSTRAP, fit_like, power_curves

import bayescale as bs
from bayescale._src import progress


@pytest.fixture
def restore_setting():
    before = progress.get_progress()
    yield
    bs.set_progress(before)


def test_resolution_order(restore_setting, monkeypatch):
    monkeypatch.setattr(progress, "_watched", lambda: True)
    bs.set_progress(False)  # what tests/conftest.py's BAYESCALE_PROGRESS=0 sets
    assert progress.get_progress() is False and progress.resolve(None, long=True) is False
    assert progress.resolve(True, long=False) is True
    bs.set_progress(None)
    assert progress.resolve(None, long=True) is True and progress.resolve(None, long=False) is False
    monkeypatch.setattr(progress, "_watched", lambda: False)
    assert progress.resolve(None, long=True) is False
    bs.set_progress(True)
    assert progress.resolve(None, long=False) is True and progress.resolve(False, long=True) is False
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        progress.resolve("yes", long=True)
    with pytest.raises(TypeError, match="set_progress takes"):
        bs.set_progress(1)


def test_compiled_loop_reports_once_per_update_under_vmap(monkeypatch):
    calls = []
    monkeypatch.setattr(progress, "_on_step", lambda step: calls.append(int(step)))
    steps = 100

    def chain(x):
        def body(c, i):
            progress.report_step(i, steps)
            return c * 0.5 + 1.0, None

        return jax.lax.scan(body, x, jnp.arange(steps))[0]

    out = jax.jit(jax.vmap(jax.vmap(chain)))(jnp.ones((3, 4)))
    jax.block_until_ready(out)
    jax.effects_barrier()
    # every 5 steps, not once per curve and chain
    assert calls == list(range(4, steps, 5))


@pytest.mark.statistical  # compiles a bootstrap program of its own (6 s); test_fit_bar_counts_chunks covers the bar
def test_bar_appears_when_forced_on(chinchilla_df, capsys):
    boot = bs.bootstrap(chinchilla_df, n=512, seed=0, progress=True, **BOOTSTRAP)  # two chunks of 256
    err = capsys.readouterr().err
    assert len(boot) == 512 and "bootstrap" in err and "100%" in err and "512/512" in err


def test_fit_bar_counts_chunks(capsys):
    """Six curves in two chunks of four: the POWER laplace program, run twice."""
    fit_like(power_curves(lengths=(20, 21, 22, 23, 24, 25)), "laplace", progress=True)
    err = capsys.readouterr().err
    assert "laplace 6 curve(s)" in err and "6/6" in err
