"""bs.fit_stream (bayescale._src.analysis.streaming): a run chunk by chunk to a directory equals bs.fit; an interrupted run
resumes without refitting finished chunks; other data or settings are refused.

Every fit here runs the shared POWER programs (six curves of 17..32 points, ``chunk_size=CHUNK``: two chunks of 4),
so this module compiles nothing of its own.
"""

import os

import numpy as np
import pytest
from fixtures import CHUNK, COLUMNS, SETTINGS, fit_like, power_curves

import bayescale as bs
from bayescale._src.fit import fitting
from bayescale._src.analysis import streaming

LENGTHS = (20, 25, 30, 18, 22, 28)
NEW = {"tokens": [1e11, 1e12]}
# NUTS at the shared program's short settings flags r_hat/ESS; what is checked here is that the stream keeps them
pytestmark = pytest.mark.filterwarnings("ignore::bayescale.FitWarning")


@pytest.fixture(scope="module")
def six():
    return power_curves(lengths=LENGTHS)


def stream(table, path, method="laplace", **options):
    return bs.fit_stream(table, path, "power_law", chunk_size=CHUNK, **COLUMNS, **SETTINGS[method], **options)


def test_summary_equals_fit(six, tmp_path):
    """keep='summary': the summary, diagnostics, mode and prediction bands of bs.fit, curve by curve."""
    fit = fit_like(six, "laplace")
    run = stream(six, tmp_path / "run", predict=NEW)
    assert isinstance(run, bs.StreamedFit) and run.complete and len(run) == 6
    assert sorted(os.listdir(tmp_path / "run")) == ["chunk-000000.nc", "chunk-000001.nc", "manifest.json"]
    summary, expected = run.summary(), fit.summary()
    assert summary.index.equals(expected.index)
    np.testing.assert_array_equal(summary[expected.columns].to_numpy(), expected.to_numpy())
    for q in ("5%", "50%", "95%"):
        draws = {k: fit.draws(k) for k in fit.param_names}
        want = np.stack([np.quantile(draws[k], float(q[:-1]) / 100, axis=1) for k in fit.param_names], 1)
        np.testing.assert_allclose(summary[q].to_numpy(), want.reshape(-1), rtol=1e-12)
    diag, want = run.diagnostics(), fit.diagnostics()
    assert list(diag.index) == list(want.index) and list(diag.columns) == list(want.columns)
    np.testing.assert_array_equal(diag["ok"].to_numpy(), want["ok"].to_numpy())
    mode = run.mode()
    for k in fit.mode:
        np.testing.assert_array_equal(mode[k].to_numpy(), fit.mode[k])
    bands, want = run.predictions(), fit.predict(NEW)
    assert list(bands.columns) == list(want.columns)
    np.testing.assert_array_equal(bands.to_numpy(dtype=float), want.to_numpy(dtype=float))
    with pytest.raises(ValueError, match="kept no draws"):
        run.to_fit()
    again = bs.load(tmp_path / "run")  # a directory opens as its StreamedFit
    np.testing.assert_array_equal(again.summary().to_numpy(), summary.to_numpy())


def test_keep_all_and_thinned_rebuild_the_fit(six, tmp_path):
    """keep='all' rebuilds bs.fit's Fit bitwise (NUTS: sampler statistics, r_hat and ESS too); 'thinned' every
    thin-th draw of it."""
    fit = fit_like(six, "nuts")
    run = stream(six, tmp_path / "all", method="nuts", keep="all")
    whole = run.to_fit()
    for k in fit.posterior:
        np.testing.assert_array_equal(whole.posterior[k], fit.posterior[k])
    for k in fit.sample_stats:
        np.testing.assert_array_equal(whole.sample_stats[k], fit.sample_stats[k])
    summary = run.summary()
    np.testing.assert_array_equal(summary[fit.summary().columns].to_numpy(), fit.summary().to_numpy())
    assert run.problems == fit.problems
    one = run.to_fit([3])
    assert one.groups == [3] and one.posterior["E"].shape == (1, 2, 100)
    np.testing.assert_array_equal(one.y, fit[3].y)
    thinned = stream(six, tmp_path / "thin", method="nuts", keep="thinned", thin=10).to_fit()
    np.testing.assert_array_equal(thinned.posterior["alpha"], fit.posterior["alpha"][:, :, ::10])
    assert thinned.predict(NEW).shape == (12, 6)


def test_resume_fits_only_unfinished_chunks(six, tmp_path, monkeypatch):
    """Interrupted after one chunk (max_chunks=1, and a half-written file as a kill mid-write leaves), the rerun
    fits only the other chunk; the finished chunk's file is not rewritten; the result equals an uninterrupted run."""
    calls = []
    execute = fitting.execute

    def counting(plan, *args):
        calls.append([c.index.tolist() for c in plan.calls])
        return execute(plan, *args)

    monkeypatch.setattr(fitting, "execute", counting)
    path = tmp_path / "run"
    first = stream(six, path, max_chunks=1)
    assert not first.complete and len(calls) == 1 and len(first.summary()) == 4 * 4
    (path / "chunk-000001.nc.tmp").write_bytes(b"interrupted")
    stamp = os.stat(path / "chunk-000000.nc").st_mtime_ns
    second = stream(six, path)
    assert second.complete and len(calls) == 2 and calls[1] == [[4, 5]]
    assert os.stat(path / "chunk-000000.nc").st_mtime_ns == stamp
    stream(six, path)  # finished: nothing to fit
    assert len(calls) == 2
    whole = stream(six, tmp_path / "whole")
    np.testing.assert_array_equal(second.summary().to_numpy(), whole.summary().to_numpy())


def test_refuses_another_run(six, tmp_path):
    path = tmp_path / "run"
    stream(six, path, max_chunks=1)
    with pytest.raises(ValueError, match="other data or settings"):
        stream(six, path, seed=1)
    with pytest.raises(ValueError, match="other data or settings"):
        stream(six.iloc[1:], path)
    with pytest.raises(ValueError, match="chunks of"):
        bs.fit_stream(six, path, "power_law", chunk_size=2, **COLUMNS, **SETTINGS["laplace"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        stream(six, tmp_path / "other")


def test_arguments(six, tmp_path):
    with pytest.raises(ValueError, match="keep must be one of"):
        stream(six, tmp_path / "a", keep="draws")
    with pytest.raises(ValueError, match="thin"):
        stream(six, tmp_path / "a", keep="thinned", thin=0)
    with pytest.raises(ValueError, match="pooling='partial'"):
        bs.fit_stream(six, tmp_path / "a", "power_law", pooling="partial", **COLUMNS)
    with pytest.raises(TypeError, match="bs.fit's keywords"):
        bs.fit_stream(six, tmp_path / "a", "power_law", chains_per_curve=2, **COLUMNS)
    assert not (tmp_path / "a").exists()


def test_memory_bounds_the_chunk(six):
    """Without chunk_size, the host-memory bound sets the chunk: a budget of one curve's draws gives chunks of one
    curve (the plan only; nothing is run)."""
    options = fitting.FitOptions(law="power_law", y="val_loss", x="tokens", group="run", method="laplace",
                                 likelihood="student_t", draws=1000)
    per_curve = 1000 * (3 * 4 + 6) * 8  # draws x (3 x dim + 6) x 8 bytes: the estimate independent_plan uses
    job = fitting.setup(six, options, memory=per_curve)
    assert [c.real for c in job.plan.calls] == [1] * 6
    job = fitting.setup(six, options, memory=streaming.DEFAULT_MEMORY)
    assert [c.real for c in job.plan.calls] == [6]
