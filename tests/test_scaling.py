"""Large recordings: the mechanisms that bound a fit's memory and tell its progress (issue #21), not the clock."""

import io
import re
import warnings
import weakref

import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank._core.losses import masked_poisson_nll
from sklearn_lowrank._core.progress import Reporter
from sklearn_lowrank._core.solvers import CHUNK_ENTRIES, lbfgs_chunk
from sklearn_lowrank.datasets import make_spiking_teacher


def _reference_poisson(pred, target, mask):
    """The Poisson loss written out with autograd's element-wise operations (the formula of the docstring)."""
    per_entry = pred - torch.xlogy(target, pred.clamp_min(1e-8)) + (torch.xlogy(target, target) - target)
    if mask is None:
        return per_entry.sum(dtype=torch.float64) / per_entry.numel()
    return (per_entry * mask).sum(dtype=torch.float64) / mask.sum()


@pytest.mark.parametrize("masked", [False, True])
def test_fused_poisson_loss_matches_the_formula_and_its_gradient(masked):
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(4, 6, 5, generator=gen) * 2.0
    pred[0, 0, 0] = 1e-12  # below the floor of the log: gradient 1, as through clamp_min
    target = torch.poisson(torch.full((4, 6, 5), 0.8), generator=gen)
    mask = torch.rand(4, 6, 5, generator=gen) > 0.3 if masked else None
    if masked:
        target = target * mask
    grads = []
    for fn in (masked_poisson_nll, _reference_poisson):
        p = pred.clone().requires_grad_(True)
        loss = fn(p, target, mask)
        loss.backward()
        grads.append((loss.item(), p.grad))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-9)


def test_lbfgs_chunks_are_bounded_in_entries_not_in_trials():
    assert lbfgs_chunk("auto", 320, 100, 2000) * 100 * 2000 <= CHUNK_ENTRIES
    assert lbfgs_chunk("auto", 1000, 100, 8000) == 2  # 2 x 100 x 8000 entries: the largest under the bound
    assert lbfgs_chunk("auto", 10, 10, 10) == 10  # small data: all trials at once
    assert lbfgs_chunk(7, 320, 100, 2000) == 7  # an explicit batch_size chunks the gradient as asked


def test_verbose_output_names_the_stages_and_counts_on():
    d = make_spiking_teacher(n_neurons=12, n_conditions=3, n_trials_per_condition=4, n_timesteps=15,
                             random_state=0)
    est = LowRankRNNRegressor(rank=1, loss="poisson", max_iter=4, verbose=1, random_state=0)
    out = io.StringIO()
    import sklearn_lowrank._core.training as training

    original = training.Reporter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        training.Reporter = lambda *a, **k: original(*a, **{**k, "stream": out})
        try:
            est.fit(d.X, d.y)
        finally:
            training.Reporter = original
    text = out.getvalue()
    assert "stage adam (up to 4 iterations)" in text and "stage lbfgs (up to 4 iterations)" in text
    assert text.index("stage adam") < text.index("(adam 1)") < text.index("stage lbfgs") < text.index("(lbfgs 1)")
    # One counter over both stages (never restarted), with the time spent on every line.
    numbers = [int(n) for n in re.findall(r"^Iteration (\d+) \(", text, flags=re.M)]
    assert numbers == list(range(1, est.n_iter_ + 1))
    assert all(re.search(r", \d+\.\d s", line) for line in text.splitlines() if line.startswith("Iteration"))


def test_reporter_estimates_the_time_left_from_the_epochs_left():
    out = io.StringIO()
    reporter = Reporter(1, 10, stream=out)
    reporter.stage("lbfgs", 10)
    reporter.epoch(1, 1.0, None, epochs_left=4.0)
    reporter.epoch(2, 0.5, 0.6, epochs_left=None)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("Iteration 1 (lbfgs 1), loss = 1.00000000") and lines[1].endswith(" s left")
    assert "validation loss = 0.60000000" in lines[2] and "left" not in lines[2]


def _peak_saved_bytes(fit):
    """Peak bytes of the tensors autograd holds for backward while ``fit()`` runs (distinct storages)."""
    live, state = {}, {"peak": 0}

    def release(key):
        live.pop(key, None)

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in live and storage.nbytes() > 0:
            live[key] = storage.nbytes()
            state["peak"] = max(state["peak"], sum(live.values()))
            weakref.finalize(tensor, release, key)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fit()
    return state["peak"]


def test_full_batch_graph_memory_is_bounded_by_the_chunk_not_the_recording():
    # A mid-size recording: 256 trials x 50 steps x 600 neurons = 7.7 M entries, above one chunk's bound. The graph
    # of an L-BFGS evaluation holds 5 tensors of one chunk (rates, states, link input, predictions, counts), 41 MB;
    # with chunks of 256 trials whatever their size (before issue #21), 6 tensors of all trials, 184 MB.
    d = make_spiking_teacher(n_neurons=600, rank=1, n_conditions=8, n_trials_per_condition=32, n_timesteps=50,
                             rate_range=(1.0, 60.0), random_state=0)
    est = LowRankRNNRegressor(rank=1, loss="poisson", solver="lbfgs", init="random", max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        peak = _peak_saved_bytes(lambda: est.fit(d.X, d.y))
    assert 0 < peak <= 6 * 4 * CHUNK_ENTRIES  # 6 float32 tensors of one chunk: 50 MB, whatever the recording


def test_adam_graph_memory_is_bounded_by_the_chunk_not_the_batch():
    # A mini-batch of 256 trials x 50 steps x 600 neurons (7.7 M entries) is simulated in parts of at most
    # CHUNK_ENTRIES entries: the graph holds the tensors of one part (41 MB), not those of the batch (154 MB).
    d = make_spiking_teacher(n_neurons=600, rank=1, n_conditions=8, n_trials_per_condition=32, n_timesteps=50,
                             rate_range=(1.0, 60.0), random_state=0)
    est = LowRankRNNRegressor(rank=1, loss="poisson", solver="adam", batch_size=256, init="random", max_iter=1,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        peak = _peak_saved_bytes(lambda: est.fit(d.X, d.y))
    assert 0 < peak <= 6 * 4 * CHUNK_ENTRIES
