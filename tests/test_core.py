"""The torch core: simulation against an independent numpy implementation, gradients, the training loop."""

import ast
import math
import pathlib

import numpy as np
import pytest
import torch

import sklearn_lowrank._core as core
from sklearn_lowrank._core import FullRankRNN, LowRankRNN, masked_mse, train
from sklearn_lowrank._core.regression import regression_init
from sklearn_lowrank.datasets import make_low_rank_teacher, simulate_rnn
from sklearn_lowrank.inspection import effective_connectivity


def test_core_imports_no_sklearn():
    core_dir = pathlib.Path(core.__file__).parent
    files = sorted(core_dir.glob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.level:  # relative imports must stay inside _core
                    assert not (node.module or "").startswith(".."), path
                    assert node.level == 1, f"{path} imports outside _core"
            for name in names:
                assert not name.startswith("sklearn"), f"{path.name} imports {name}"


@pytest.mark.parametrize("rank", [1, 3, None])
def test_simulate_matches_numpy(rank):
    gen = torch.Generator().manual_seed(0)
    n_units, n_inputs = 20, 2
    kwargs = {"alpha": 0.3}
    if rank is None:
        net = FullRankRNN(n_units, n_inputs, n_units, generator=gen, gain=1.5, dtype=torch.float64, **kwargs)
        J = net.J.detach().numpy()
    else:
        net = LowRankRNN(n_units, n_inputs, n_units, rank, generator=gen, dtype=torch.float64, **kwargs)
        J = (net.m @ net.n.T).detach().numpy() / n_units
    with torch.no_grad():
        net.initial_state.normal_(generator=gen)
    u = np.random.default_rng(0).normal(size=(4, 15, n_inputs))
    expected = simulate_rnn(J, net.input_weights.detach().numpy(), u, alpha=0.3,
                            initial_state=net.initial_state.detach().numpy())
    got = net(torch.from_numpy(u)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_identity_readout_reads_first_units_and_tanh():
    gen = torch.Generator().manual_seed(0)
    net = LowRankRNN(10, 1, 4, 1, alpha=0.2, output_activation="tanh", generator=gen)
    u = torch.randn(3, 5, 1, generator=gen)
    out, states = net(u, return_states=True)
    assert out.shape == (3, 5, 4) and states.shape == (3, 5, 10)
    torch.testing.assert_close(out, torch.tanh(states[..., :4]))


def test_linear_readout_shape_and_formula():
    gen = torch.Generator().manual_seed(0)
    net = LowRankRNN(16, 2, 3, 2, alpha=0.2, readout="linear", generator=gen)
    u = torch.randn(2, 7, 2, generator=gen)
    out, states = net(u, return_states=True)
    torch.testing.assert_close(out, states @ net.readout_weights / 16 + net.readout_bias)


@pytest.mark.parametrize("return_states", [True, False])
@pytest.mark.parametrize("low_rank", [True, False])
def test_gradcheck_float64(low_rank, return_states):
    """The hand-written backward through time against finite differences, for every input of the recurrence
    (with the states among the outputs, and with the rates alone, as a tanh readout asks)."""
    from sklearn_lowrank._core.recurrence import recurrence

    gen = torch.Generator().manual_seed(0)
    n_units, rank = 6, 2

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)

    x0, drive = rand(3, n_units), rand(4, 3, n_units)  # drive is time-major
    if low_rank:
        left, right = rand(n_units, rank), rand(rank, n_units)
    else:
        left, right = rand(n_units, n_units), None

    def f(x0, drive, left, right=None):
        states, rates = recurrence(x0, drive, left, right, 0.7, return_rates=True, return_states=return_states)
        return rates if states is None else (states, rates)

    inputs = (x0, drive, left) if right is None else (x0, drive, left, right)
    assert torch.autograd.gradcheck(f, inputs)


def test_hand_written_backward_matches_autograd():
    """Same gradients as autograd through a plain per-step loop, with noise and per-trial initial states."""
    gen = torch.Generator().manual_seed(1)
    net = LowRankRNN(12, 2, 12, 2, alpha=0.2, generator=gen, dtype=torch.float64, output_activation="tanh")
    u = torch.randn(4, 9, 2, generator=gen, dtype=torch.float64)
    target = torch.randn(4, 9, 12, generator=gen, dtype=torch.float64)
    loss = (net(u, noise_std=0.1, generator=torch.Generator().manual_seed(5)) - target).square().mean()
    grads = torch.autograd.grad(loss, list(net.parameters()))

    def plain(params):
        m, n, w_in, x0 = params
        # The network draws its noise time-major, (n_timesteps, n_trials, n_units), in one call.
        noise = 0.1 * torch.randn(9, 4, 12, generator=torch.Generator().manual_seed(5),
                                  dtype=torch.float64).transpose(0, 1)
        x, out = x0.expand(4, 12), []
        for t in range(9):
            x = x + 0.2 * (-x + torch.tanh(x) @ n @ m.T / 12 + u[:, t] @ w_in) + noise[:, t]
            out.append(torch.tanh(x))
        return (torch.stack(out, 1) - target).square().mean()

    params = [net.m, net.n, net.input_weights, net.initial_state]
    expected = torch.autograd.grad(plain(params), params)
    by_name = dict(zip([name for name, _ in net.named_parameters()], grads))
    for name, exp in zip(["m", "n", "input_weights", "initial_state"], expected):
        torch.testing.assert_close(by_name[name], exp)


def test_simulate_explicit_noise_matches_numpy():
    """An explicit noise tensor is added after each update, like simulate_rnn's noise (here passed through)."""
    gen = torch.Generator().manual_seed(2)
    net = LowRankRNN(10, 1, 10, 2, alpha=0.25, generator=gen, dtype=torch.float64)
    u = torch.randn(3, 6, 1, generator=gen, dtype=torch.float64)
    noise = 0.2 * torch.randn(3, 6, 10, generator=gen, dtype=torch.float64)
    got = core.simulate(net.weights(), u, 0.25, noise=noise).detach().numpy()
    J = (net.m @ net.n.T).detach().numpy() / 10
    x = np.broadcast_to(net.initial_state.detach().numpy(), (3, 10))
    expected = []
    for t in range(6):
        x = x + 0.25 * (-x + np.tanh(x) @ J.T + u[:, t].numpy() @ net.input_weights.detach().numpy()) \
            + noise[:, t].numpy()
        expected.append(x)
    np.testing.assert_allclose(got, np.stack(expected, 1), rtol=1e-10, atol=1e-10)


def test_noise_is_drawn_from_generator_only():
    net = LowRankRNN(8, 1, 8, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    u = torch.zeros(2, 5, 1)
    state = torch.random.get_rng_state()
    a = net(u, noise_std=0.1, generator=torch.Generator().manual_seed(3))
    b = net(u, noise_std=0.1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(state, torch.random.get_rng_state()), "the global torch RNG must not be touched"
    assert not torch.equal(a, net(u))


def test_masked_mse():
    pred = torch.tensor([[[1.0], [2.0]]])
    target = torch.tensor([[[0.0], [0.0]]])
    assert float(masked_mse(pred, target, None)) == pytest.approx(2.5)
    assert float(masked_mse(pred, target, torch.tensor([[[True], [False]]]))) == pytest.approx(1.0)


@pytest.mark.parametrize("masked", [False, True])
def test_masked_mse_gradient_across_layouts(masked):
    """The fused node's value and gradient against mse_loss, for time-major predictions against trial-major
    targets (the training loop's layouts); the gradient keeps the predictions' layout."""
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(5, 3, 4, generator=gen, dtype=torch.float64).transpose(0, 1).requires_grad_()
    target = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    mask = torch.rand(3, 5, 4, generator=gen) > 0.3 if masked else None
    loss = masked_mse(pred, target * (1 if mask is None else mask), mask)
    (grad,) = torch.autograd.grad(loss, pred)
    keep = torch.ones_like(target, dtype=torch.bool) if mask is None else mask
    expected = torch.nn.functional.mse_loss(pred[keep], target[keep])
    (expected_grad,) = torch.autograd.grad(expected, pred)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, expected_grad)
    assert grad.stride() == pred.stride()
    assert torch.autograd.gradcheck(lambda p: masked_mse(p, target, mask), (pred,))


def _toy_problem():
    data = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=30, n_timesteps=15, random_state=0)
    return torch.from_numpy(data.X), torch.from_numpy(data.y)


def test_train_decreases_loss_and_restores_best(training_config):
    X, y = _toy_problem()
    net = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    config = training_config(max_iter=15, batch_size=8, learning_rate_init=1e-2)
    result, _ = train(net, X, y, None, config, torch.Generator().manual_seed(0))
    assert result.n_iter == 15 and result.stop_reason == "max_iter"
    assert result.loss_curve[-1] < result.loss_curve[0]
    assert result.best_loss == pytest.approx(min(result.loss_curve))


def test_train_early_stopping_records_validation(training_config):
    X, y = _toy_problem()
    net = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    config = training_config(max_iter=200, batch_size=8, early_stopping=True, validation_fraction=0.2,
                             n_iter_no_change=3, tol=0.5)
    result, _ = train(net, X, y, None, config, torch.Generator().manual_seed(0))
    assert result.stop_reason == "converged"
    assert len(result.validation_loss_curve) == result.n_iter < 200
    assert result.best_loss == pytest.approx(min(result.validation_loss_curve))


def test_train_divergence_restores_finite_parameters(training_config):
    X, y = _toy_problem()
    net = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    config = training_config(max_iter=50, batch_size=8, learning_rate_init=1e25, clip_grad_norm=None)
    result, _ = train(net, X, y, None, config, torch.Generator().manual_seed(0))
    assert result.stop_reason == "diverged"
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_train_keyboard_interrupt_keeps_best(training_config):
    X, y = _toy_problem()
    net = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    calls = {"n": 0}
    original = net.forward

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 12:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    net.forward = interrupting
    config = training_config(max_iter=100, batch_size=8)
    result, _ = train(net, X, y, None, config, torch.Generator().manual_seed(0))
    assert result.stop_reason == "interrupted"
    assert 1 <= result.n_iter < 100
    assert math.isfinite(result.best_loss)


def _cos(a, b):
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("output", ["states", "rates"])
def test_regression_init_recovers_teacher(output):
    data = make_low_rank_teacher(n_units=60, rank=2, n_inputs=2, n_trials=80, n_timesteps=40, noise_std=0.05,
                                 output=output, random_state=0)
    est = regression_init(torch.from_numpy(data.X), torch.from_numpy(data.y), None, alpha=0.2, rank=2,
                          n_units=60, output_activation="identity" if output == "states" else "tanh")
    m, n, w = est["m"].numpy(), est["n"].numpy(), est["input_weights"].numpy()
    j_eff = effective_connectivity(m, n, w)
    assert _cos(j_eff, effective_connectivity(data.m, data.n, data.input_weights)) > 0.95
    assert _cos(w, data.input_weights) > 0.9
    if output == "states":
        assert _cos(m @ n.T, data.J) > 0.9


def test_regression_init_censors_saturated_rates():
    """Rates beyond the saturation level are censored targets: clipping them instead degrades the fit."""
    data = make_low_rank_teacher(n_units=60, rank=1, n_inputs=1, n_trials=100, n_timesteps=40, noise_std=0.05,
                                 output="rates", overlap=2.0, random_state=0)
    assert (np.abs(data.y) > 0.999).mean() > 0.003, "the test needs saturated rates"
    j_true = effective_connectivity(data.m, data.n, data.input_weights)

    def cosine(y, sat):
        est = regression_init(torch.from_numpy(data.X), torch.from_numpy(y), None, alpha=0.2, rank=1,
                              n_units=60, output_activation="tanh", saturation=sat)
        return _cos(effective_connectivity(est["m"].numpy(), est["n"].numpy(), est["input_weights"].numpy()),
                    j_true)

    ours = cosine(data.y, 0.999)
    naive = cosine(np.clip(data.y, -0.999, 0.999), 1.0)  # arctanh of clipped rates, kept as targets
    assert ours > 0.95
    assert ours > naive + 0.05


def test_resolve_batch_size():
    from sklearn_lowrank._core.training import resolve_batch_size

    assert resolve_batch_size("auto", 800) == 32  # large data: batches of 32
    assert resolve_batch_size("auto", 32) == 4  # condition averages: still 8 steps per epoch
    assert resolve_batch_size("auto", 3) == 1
    assert resolve_batch_size(64, 10) == 10  # an int is capped at the number of training trials


def test_data_driven_start_regresses_on_condition_averages_of_noisy_single_trials():
    """Noise in single trials shrinks the one-step regression (attenuation): of trials that repeat their inputs,
    the start regresses on the condition averages when that predicts the trials better, as it does here."""
    import copy

    from sklearn_lowrank._core.start import _load_regression, data_driven_start
    from sklearn_lowrank._core.training import evaluate_loss

    data = make_low_rank_teacher(n_units=30, rank=1, n_inputs=1, n_trials=6, n_timesteps=25, random_state=0)
    clean = np.repeat(data.states, 8, axis=0)
    noise = np.random.default_rng(0).normal(scale=clean.std(), size=clean.shape)
    u, y = torch.from_numpy(np.repeat(data.X, 8, axis=0)), torch.from_numpy((clean + noise).astype(np.float32))
    net = LowRankRNN(30, 1, 30, 1, alpha=data.alpha, generator=torch.Generator().manual_seed(0))
    single = copy.deepcopy(net)  # the regression of the single trials, as the start did before
    est = regression_init(u, y, None, alpha=data.alpha, rank=1, n_units=30, output_activation="identity")
    _load_regression(single, est, 30, True)
    assert data_driven_start(net, u, y, None) == "regression"
    assert evaluate_loss(net, u, y, None) < 0.99 * evaluate_loss(single, u, y, None)
    # and it is closer to the noise-free trials
    clean = torch.from_numpy(clean)
    assert evaluate_loss(net, u, clean, None) < evaluate_loss(single, u, clean, None)


@pytest.mark.parametrize("chunk_entries", [2**21, 8])  # all trials at once; one trial per chunk
def test_condition_floor_is_the_loss_of_the_condition_averages(chunk_entries, monkeypatch):
    from sklearn_lowrank._core import conditions
    from sklearn_lowrank._core.conditions import condition_floor

    monkeypatch.setattr(conditions, "FLOOR_CHUNK_ENTRIES", chunk_entries)

    rng = np.random.default_rng(0)
    u = torch.from_numpy(np.repeat(rng.normal(size=(3, 4, 1)), [2, 3, 1], axis=0).astype(np.float32))
    y = torch.from_numpy(rng.normal(size=(6, 4, 2)).astype(np.float32))
    mask = torch.from_numpy(rng.random((6, 4, 2)) > 0.3)
    group = np.array([0, 0, 1, 1, 1, 2])
    yn, w = y.numpy(), mask.numpy()
    expected = 0.0
    for g in range(3):
        rows = group == g
        means = (yn[rows] * w[rows]).sum(axis=0) / np.maximum(w[rows].sum(axis=0), 1)
        expected += (((yn[rows] - means) ** 2) * w[rows]).sum()
    y = torch.where(mask, y, 0.0)
    assert condition_floor(u, y, mask) == pytest.approx(expected / w.sum(), rel=1e-6)
    assert condition_floor(u, y, mask, idx=torch.tensor([0, 2, 5])) == 0.0  # no repeated inputs: no floor
    rows = torch.tensor([2, 3, 4])  # the trials of condition 1 only
    m1 = (yn[2:5] * w[2:5]).sum(axis=0) / np.maximum(w[2:5].sum(axis=0), 1)
    expected1 = (((yn[2:5] - m1) ** 2) * w[2:5]).sum() / w[2:5].sum()
    assert condition_floor(u, y, mask, idx=rows) == pytest.approx(expected1, rel=1e-6)
    unmasked = ((yn[2:5] - yn[2:5].mean(axis=0)) ** 2).mean()
    assert condition_floor(u, torch.from_numpy(yn), None, idx=rows) == pytest.approx(unmasked, rel=1e-6)


def test_stopping_rule_measures_tol_above_the_floor():
    from sklearn_lowrank._core.stopping import _improves, _tol_scale

    assert _tol_scale(3.0, None) == 3.0 and _tol_scale(3.0, None, floor=2.5) == 0.5
    assert _tol_scale(3.0, 4.0, floor=2.5) == 1.0  # Poisson: the deviance explained
    assert _tol_scale(2.0, None, floor=2.5) == 2.0  # not above the floor: the loss itself
    # a gain of 1e-3 on a loss of 3: below tol=1e-3 of the loss, above tol of the part above a floor of 2.5
    assert not _improves(2.999, 3.0, 1e-3, None) and _improves(2.999, 3.0, 1e-3, None, floor=2.5)
