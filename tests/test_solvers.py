"""The optimisers of the training loop (Adam, L-BFGS on all trials) and the Poisson stopping rule."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank._core import LowRankRNN
from sklearn_lowrank._core.losses import LOSSES, masked_poisson_nll, null_loss
from sklearn_lowrank._core.solvers import FullBatchObjective, adam_epoch, make_optimizer
from sklearn_lowrank._core.stopping import _improves
from sklearn_lowrank._core.training import evaluate_loss, train
from sklearn_lowrank.datasets import make_spiking_teacher


@pytest.fixture(scope="module")
def spikes():
    # Single trials of few conditions at low rates: the loss is mostly spiking noise, as in recordings.
    return make_spiking_teacher(n_neurons=30, n_conditions=4, n_trials_per_condition=10, n_timesteps=25,
                                rate_range=(5.0, 20.0), random_state=0)


def test_poisson_tol_is_a_fraction_of_the_explained_deviance():
    # Loss 1.00 against a null model at 1.01: the explained deviance is 0.01, so tol=1e-3 asks for 1e-5.
    assert _improves(0.99998, 1.0, 1e-3, 1.01)
    assert not _improves(0.999995, 1.0, 1e-3, 1.01)
    # Relative to the loss (squared error, or a model no better than the null) it would ask for 1e-3.
    assert not _improves(0.99998, 1.0, 1e-3, None)
    assert not _improves(0.99998, 1.0, 1e-3, 0.9)
    assert _improves(0.998, 1.0, 1e-3, 0.9)


def test_null_loss_is_the_mean_count_model():
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.poisson(0.3, size=(6, 5, 3)), dtype=torch.float32)
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[0, :, 0] = False
    y_masked = y * mask
    mean = y_masked.sum(dim=(0, 1)) / mask.sum(dim=(0, 1))
    expected = masked_poisson_nll(mean.expand_as(y), y_masked, mask)
    assert null_loss(y_masked, mask, y_masked, mask, "poisson") == pytest.approx(float(expected))


def test_full_batch_objective_is_the_loss_of_all_trials_in_any_chunks():
    gen = torch.Generator().manual_seed(0)
    net = LowRankRNN(12, 2, 12, 2, alpha=0.2, generator=gen)
    X = torch.randn(7, 9, 2, generator=gen)
    y = torch.poisson(torch.full((7, 9, 12), 0.7), generator=gen)
    mask = torch.rand(7, 9, 12, generator=gen) > 0.2
    y = y * mask
    params = [p for p in net.parameters() if p.requires_grad]

    class Softplus(torch.nn.Module):  # expected counts from the readout, as the Poisson readout gives
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, noise_std=0.0, generator=None):
            return torch.nn.functional.softplus(self.net(x, noise_std=noise_std, generator=generator))

    model = Softplus()
    net.zero_grad()
    whole = masked_poisson_nll(model(X), y, mask)
    whole.backward()
    grads = [p.grad.clone() for p in params]
    for chunk in (7, 3, 1):
        objective = FullBatchObjective(model, params, X, y, mask, torch.arange(7), chunk,
                                       LOSSES["poisson"], 0.0)
        assert float(objective()) == pytest.approx(float(whole.detach()), rel=1e-6)
        for p, g in zip(params, grads):
            torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
        # Cached at an unchanged point: same value, same gradient, no new evaluation needed.
        assert float(objective()) == pytest.approx(float(whole.detach()), rel=1e-6)


@pytest.mark.parametrize("masked", [False, True])
def test_adam_mini_batch_in_parts_takes_the_step_of_the_whole_batch(masked, training_config):
    # A mini-batch larger than the memory bound is simulated in parts (issue #21): the epoch's loss and the
    # parameters after its steps are those of whole batches, to float rounding.
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(10, 9, 2, generator=gen)
    y = torch.randn(10, 9, 12, generator=gen)
    mask = torch.rand(10, 9, 12, generator=gen) > 0.3 if masked else None
    if masked:
        y = y * mask
    config = training_config(batch_size=5)
    results = []
    for chunk in (None, 2):  # whole batches of 5 trials; parts of 2, 2 and 1 trials
        net = LowRankRNN(12, 2, 12, 2, alpha=0.2, generator=torch.Generator().manual_seed(1))
        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = make_optimizer(params, config)
        loss, n_batches, diverged = adam_epoch(net, params, optimizer, X, y, mask, torch.arange(10), 5,
                                               LOSSES["squared_error"], config, torch.Generator().manual_seed(2),
                                               None, chunk)
        results.append((loss, n_batches, diverged, [p.detach().clone() for p in params]))
    (loss_whole, batches_whole, _, params_whole), (loss_parts, batches_parts, diverged, params_parts) = results
    assert batches_whole == batches_parts == 2 and not diverged
    assert loss_parts == pytest.approx(loss_whole, rel=1e-5)
    for p, q in zip(params_parts, params_whole):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_lbfgs_lowers_the_loss_every_kept_step_and_is_deterministic(spikes, fit_quietly):
    X, y = spikes.X, spikes.y
    est = fit_quietly(LowRankRNNRegressor(rank=2, loss="poisson", solver="lbfgs", max_iter=15, random_state=0), X, y)
    curve = np.asarray(est.loss_curve_)
    assert est.n_iter_ == curve.size > 1
    assert curve[-1] < curve[0]
    assert np.all(np.diff(np.minimum.accumulate(curve)) <= 0)
    again = fit_quietly(LowRankRNNRegressor(rank=2, loss="poisson", solver="lbfgs", max_iter=15, random_state=0), X, y)
    np.testing.assert_array_equal(est.m_, again.m_)
    np.testing.assert_array_equal(est.loss_curve_, again.loss_curve_)


def test_auto_solver_polishes_poisson_fits_with_lbfgs(spikes, fit_quietly):
    X, y = spikes.X, spikes.y
    adam = fit_quietly(LowRankRNNRegressor(rank=2, loss="poisson", solver="adam", random_state=0), X, y)
    auto = fit_quietly(LowRankRNNRegressor(rank=2, loss="poisson", random_state=0), X, y)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    loss_adam = evaluate_loss(adam.module_, Xt, yt, None, loss="poisson")
    loss_auto = evaluate_loss(auto.module_, Xt, yt, None, loss="poisson")
    # The same Adam stage, then L-BFGS from where it stopped: more epochs, a lower likelihood loss.
    assert auto.n_iter_ > adam.n_iter_
    np.testing.assert_allclose(auto.loss_curve_[:adam.n_iter_], adam.loss_curve_, rtol=1e-6)
    assert loss_auto < loss_adam
    assert auto.score(X, y) > adam.score(X, y)


def test_lbfgs_step_backtracks_when_its_trial_step_overshoots(training_config):
    # A stiff quadratic: the first step of a fresh L-BFGS (length 1 / |g|_1 along -g) lands at 81 times the loss.
    # One step must search the line back to a lower loss instead of staying put, else a fit whose curvature
    # history was reset repeats the same failed step until the stopping rule ends it.
    x = torch.tensor([0.1], requires_grad=True)
    optimizer = make_optimizer([x], training_config(solver="lbfgs"))

    def closure():
        optimizer.zero_grad()
        loss = 50.0 * (x**2).sum()
        loss.backward()
        return loss

    start = float(closure().detach())
    optimizer.step(closure)
    assert float(closure().detach()) < 0.5 * start


def test_lbfgs_with_recurrent_noise_uses_one_draw_per_step():
    gen = torch.Generator().manual_seed(1)
    net = LowRankRNN(8, 1, 8, 1, alpha=0.2, generator=gen)
    X = torch.randn(4, 6, 1, generator=gen)
    y = torch.randn(4, 6, 8, generator=gen)
    params = [p for p in net.parameters() if p.requires_grad]
    objective = FullBatchObjective(net, params, X, y, None, torch.arange(4), 4, LOSSES["squared_error"], 0.5)
    objective.new_step(torch.Generator().manual_seed(0))
    first = float(objective())
    objective._cache = None  # evaluate again, at the same point: the same noise within a step
    assert float(objective()) == first
    objective.new_step(torch.Generator().manual_seed(1))
    assert float(objective()) != first


def test_warm_start_switches_solver_and_keeps_going(spikes, fit_quietly):
    X, y = spikes.X, spikes.y
    est = fit_quietly(LowRankRNNRegressor(rank=1, loss="poisson", solver="adam", max_iter=10, warm_start=True,
                                          random_state=0), X, y)
    first = est.loss_curve_[-1]
    fit_quietly(est.set_params(solver="lbfgs"), X, y)
    assert isinstance(est._optimizer, torch.optim.LBFGS)
    assert min(est.loss_curve_[10:]) < first


def test_train_core_lbfgs_on_squared_error(training_config, torch_teacher):
    _, X, y = torch_teacher(10, 6, 12)
    student = LowRankRNN(10, 1, 10, 1, alpha=0.2, generator=torch.Generator().manual_seed(3))
    start = evaluate_loss(student, X, y, None)
    result, optimizer = train(student, X, y, None, training_config(solver="lbfgs", max_iter=40),
                              torch.Generator().manual_seed(0))
    assert isinstance(optimizer, torch.optim.LBFGS)
    assert evaluate_loss(student, X, y, None) < 0.1 * start
    assert result.n_iter == len(result.loss_curve)


def test_max_iter_warning_names_what_helps_each_solver(spikes):
    X, y = spikes.X, spikes.y
    for solver, advice in (("adam", True), ("lbfgs", False), ("auto", False)):
        est = LowRankRNNRegressor(rank=1, loss="poisson", solver=solver, max_iter=1, tol=0.0, random_state=0)
        with pytest.warns(ConvergenceWarning, match="max_iter=1") as record:
            est.fit(X, y)
        assert ("learning_rate_init" in str(record[0].message)) is advice


def test_lbfgs_stage_keeps_adams_result_unless_it_beats_its_validation_loss(spikes, fit_quietly):
    X, y = spikes.X, spikes.y
    params = dict(rank=1, loss="poisson", early_stopping=True, validation_fraction=0.2, max_iter=15, random_state=0)
    adam = fit_quietly(LowRankRNNRegressor(solver="adam", **params), X, y)
    auto = fit_quietly(LowRankRNNRegressor(**params), X, y)
    assert len(auto.validation_loss_curve_) == len(auto.loss_curve_) == auto.n_iter_ > adam.n_iter_
    # The same held-out trials in both stages, and L-BFGS's parameters kept only where they beat Adam's there.
    np.testing.assert_allclose(auto.validation_loss_curve_[:adam.n_iter_], adam.validation_loss_curve_)
    assert auto.best_loss_ <= adam.best_loss_ * (1 + 1e-9)


def test_lbfgs_stops_on_the_gain_of_a_window_of_steps():
    from sklearn_lowrank._core.stopping import _Monitor

    net = LowRankRNN(4, 1, 4, 1, alpha=0.2)
    # Explained deviance about 0.1 (null 1.0, best 0.9): tol=1e-2 asks the last 2 steps together to gain 1e-3.
    monitor = _Monitor(1e-2, 1.0, patience=2, window=True)
    for loss, stop in ((0.9, False), (0.8994, False), (0.8988, False), (0.8986, True)):
        monitor.update(net, loss)
        assert (monitor.no_improve >= monitor.patience) is stop, loss
    # Epoch by epoch (Adam's rule) each of these steps would already count as no improvement.
    adam = _Monitor(1e-2, 1.0, patience=2)
    for loss in (0.9, 0.8994, 0.8988):
        adam.update(net, loss)
    assert adam.no_improve == 2


def test_both_stages_hold_out_the_same_trials(monkeypatch, training_config):
    import sklearn_lowrank._core.training as training

    splits = []
    original = training._split
    monkeypatch.setattr(training, "_split", lambda *a: splits.append(original(*a)) or splits[-1])
    gen = torch.Generator().manual_seed(0)
    net = LowRankRNN(8, 1, 8, 1, alpha=0.2, generator=gen)
    X = torch.randn(10, 6, 1, generator=gen)
    y = torch.randn(10, 6, 8, generator=gen)
    train(net, X, y, None, training_config(solver="adam+lbfgs", max_iter=3, early_stopping=True,
                                           validation_fraction=0.3), torch.Generator().manual_seed(1))
    assert len(splits) == 1  # one split, which both stages monitor


def test_keep_start_restores_the_start_when_training_only_worsens_it(training_config, torch_teacher):
    teacher, X, y = torch_teacher(8, 6, 10)
    start = {k: v.clone() for k, v in teacher.state_dict().items()}
    # Adam steps of size 1 from the exact solution can only make it worse.
    config = training_config(learning_rate_init=1.0, clip_grad_norm=None, max_iter=3)
    result, _ = train(teacher, X, y, None, config, torch.Generator().manual_seed(0), keep_start=True)
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, start[key])
    assert result.best_loss == pytest.approx(evaluate_loss(teacher, X, y, None), abs=1e-12)
    train(teacher, X, y, None, config, torch.Generator().manual_seed(0))
    assert not torch.equal(teacher.m, start["m"])
