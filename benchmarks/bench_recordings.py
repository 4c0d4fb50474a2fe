"""Fit quality on recording-like data: held-out R^2 at each rank against the noise-free ceiling.

Cases (``--case``, several allowed):

- ``synthetic``: teachers of ranks 1-5 from :func:`~sklearn_lowrank.datasets.make_low_rank_teacher` with one
  pulse input per latent dimension (so that every dimension carries variance: a well-posed rank), N = 200, 275,
  350, 425, 500 units, recurrent noise 0.12 (``--noise``), 50 observed steps, 160 training / 40 held-out trials;
  ``--pre-period`` adds two context cues (one on throughout each trial) and 70 unobserved steps before the 50
  observed ones (``n_unobserved=70``), as when a recording starts after the cue. The default fit at the true rank
  is compared with the noise-free ceiling: the held-out R^2 of the teacher itself (its noise-free simulation) on
  the noisy observations. ``--seeds`` gives more teachers per rank.
- ``rank``: rank recovery on ten teachers of ranks 1-5 (:func:`rank_teacher`: four trial-averaged rate teachers,
  three noisy single-trial rate teachers, three Poisson count teachers), each through ``LowRankRNNRegressorCV``
  with its defaults (5 folds, grouped by condition where trials repeat conditions), beside the teacher's own
  held-out score (its ceiling) and, for counts, the identifiability of its weakest latent dimension.
- ``identifiability``: for the count teachers of ranks 1-5 (``--seeds``), the signal of each latent dimension in
  the condition averages against their sampling noise (:func:`count_identifiability`), with the generator
  settings of the ``rank`` case (:data:`COUNT_TEACHER`) and with the settings it used before (60 neurons, 30 bins,
  6 trials per condition, 5-20 Hz, a gain per neuron), under which the rank was not identifiable.
- ``search-cost``: ``LowRankRNNRegressorCV`` (its rank path, and ``rank_path=False``: independent fits) against
  ``GridSearchCV`` with the same rule, ranks and folds, on a single-trial, an averaged and a count teacher of the
  ``rank`` case (``--kinds`` selects, ``--repeats`` runs each search several times, interleaved).
- ``path-fits``: fit by fit, on the first two folds of the ``search-cost`` teachers and a synthetic rank-3
  teacher of 350 units: each rank fitted on its own and along the rank path of ``rank_path=True`` (from the same
  fold's lower-rank path fit), with the start the path kept, training losses, held-out scores and epochs.
- ``fullrank``: a full-rank teacher (rank-2 structure plus a random part of gain 0.5, 200 units, contexts and the
  70-step pre-period) fitted with ``rank=None``.
- ``monkey``: the monkey A networks of Valente et al. (2022), ``models/mante_monkeyA_subspace_rank{1..5}_22.pt``
  and ``data/conditions_monkeyA.csv`` read from a local snapshot of adrian-valente/lowrank_inference passed as
  ``--reference-repo``; skipped without it. The rank-5 network is the teacher (727 units, 72 conditions x 220
  steps of 5 ms, inputs as in its ``mante_fit_lowrank.py``: context cue alone for 350 ms, then the stimulus 650
  ms, delay 80 ms, decision 20 ms; the first 70 steps unobserved); 64 training / 8 held-out conditions (a fixed
  permutation). Each rank r is fitted with the defaults and compared with the published rank-r network on the
  same held-out conditions.

Every fit uses the defaults of ``LowRankRNNRegressor`` with ``random_state=0``; times are wall-clock seconds of
``fit`` on this machine (state its load when you quote them).

Usage::

    python benchmarks/bench_recordings.py --case synthetic --pre-period
    python benchmarks/bench_recordings.py --case rank search-cost
    python benchmarks/bench_recordings.py --case identifiability --seeds 0 1
    python benchmarks/bench_recordings.py --case rank --rank-path   # each rank started from the fit below
    python benchmarks/bench_recordings.py --case monkey --reference-repo /path/to/lowrank_inference --ranks 1 5
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

PRE_PERIOD = 70


def _r2(y, pred):
    """Variance-weighted R^2 over the observed (finite) entries of y."""
    from sklearn_lowrank.metrics import r2_score_trials

    return float(r2_score_trials(y, pred))


def _fit(rank, X, y, X_te, y_te):
    from sklearn_lowrank import LowRankRNNRegressor

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LowRankRNNRegressor(rank=rank, random_state=0).fit(X, y)
    return est.score(X_te, y_te), time.perf_counter() - start, est.n_iter_


def make_teacher(rank, seed, pre_period, full_rank_gain=0.0, n_units=None, noise_std=0.12):
    """A teacher of the synthetic cases, its train / held-out split and its noise-free ceiling."""
    from sklearn_lowrank.datasets import make_low_rank_teacher, simulate_rnn

    n_units = n_units or 200 + 75 * (rank - 1)
    extra = {"n_contexts": 2, "n_unobserved": PRE_PERIOD} if pre_period else {}
    data = make_low_rank_teacher(n_units=n_units, rank=rank, n_inputs=rank, n_trials=200,
                                 n_timesteps=50 + (PRE_PERIOD if pre_period else 0), noise_std=noise_std,
                                 full_rank_gain=full_rank_gain, random_state=1000 * seed + rank, **extra)
    X, y = data.X, data.y
    clean = simulate_rnn(data.J, data.input_weights, X[160:], alpha=data.alpha)
    return X[:160], y[:160], X[160:], y[160:], _r2(y[160:], clean)


def run_synthetic(pre_period, seeds, ranks, noise_std):
    print(f"\nsynthetic teachers, {'70-step unobserved pre-period' if pre_period else 'observed from step 0'}")
    print(f"{'rank':>4} {'seed':>4} {'N':>4} {'ceiling':>8} {'fit R2':>8} {'gap':>7} {'epochs':>6} {'time s':>7}")
    gaps = []
    for seed in seeds:
        for rank in ranks:
            X, y, X_te, y_te, ceiling = make_teacher(rank, seed, pre_period, noise_std=noise_std)
            score, elapsed, epochs = _fit(rank, X, y, X_te, y_te)
            gaps.append(ceiling - score)
            print(f"{rank:>4} {seed:>4} {y.shape[-1]:>4} {ceiling:8.4f} {score:8.4f} "
                  f"{ceiling - score:7.4f} {epochs:>6} {elapsed:7.1f}", flush=True)
    print(f"within 0.003 of the ceiling: {sum(g <= 0.003 for g in gaps)}/{len(gaps)}")


# ---------------------------------------------------------------------------------------------------------------
# Rank recovery: ten teachers of ranks 1-5 seen three ways, through LowRankRNNRegressorCV with its defaults
# ---------------------------------------------------------------------------------------------------------------

#: (kind, true rank) of the rank-recovery teachers: trial-averaged rates, noisy single trials, Poisson counts.
RANK_TEACHERS = [("averaged", 1), ("averaged", 3), ("averaged", 4), ("averaged", 5),
                 ("single-trial", 1), ("single-trial", 2), ("single-trial", 3),
                 ("counts", 1), ("counts", 2), ("counts", 3)]


#: The count teachers of the ``rank`` case (:func:`make_spiking_teacher` settings, trials per condition).
#: Chosen by :func:`count_identifiability`, before any fit: the smallest realistic recording of those tried (150 or
#: 200 neurons; 40-60 bins of 10 ms; 8-20 trials per condition; 1-60 Hz as in ``bench_scales.py``) in which
#: every latent dimension of the rank-1, -2 and -3 teachers of seeds 0 and 1 carries at least 5 times the
#: detection threshold (q >= 5). One gain shared by all neurons, as the estimator's Poisson readout has: a gain
#: per neuron puts the teacher outside the model class (the tanh makes the scale of a unit's state matter), and
#: the true rank is then no longer the rank of the best model in the class. Under the settings used before (60
#: neurons, 30 bins, 6 trials, 5-20 Hz, a gain per neuron) q of the weakest latent was 0.07-0.45 for ranks 2-3.
COUNT_TEACHER = dict(n_neurons=150, n_timesteps=50, n_repeats=10, rate_range=(1.0, 60.0), shared_gain=True)
#: The settings of the count teachers before :data:`COUNT_TEACHER`, kept for the ``identifiability`` case.
OLD_COUNT_TEACHER = dict(n_neurons=60, n_timesteps=30, n_repeats=6, rate_range=(5.0, 20.0), shared_gain=False)


def count_teacher(rank, seed=0, n_conditions=16, **settings):
    """The spiking teacher of the ``rank`` case (:data:`COUNT_TEACHER`, overridden by ``settings``): a Bunch."""
    from sklearn_lowrank.datasets import make_spiking_teacher

    kw = {**COUNT_TEACHER, **settings}
    return make_spiking_teacher(n_neurons=kw["n_neurons"], rank=rank, n_inputs=rank, n_conditions=n_conditions,
                                n_trials_per_condition=kw["n_repeats"], n_timesteps=kw["n_timesteps"],
                                rate_range=kw["rate_range"], shared_gain=kw["shared_gain"],
                                random_state=100 * seed + 10 * rank + 2)


def count_identifiability(data):
    """How far above the detection threshold each latent dimension of a spiking teacher lies: q, shape (rank,).

    Independent of any fitter. A deterministic network predicts the same expected counts on every trial of a
    condition, so the condition means of the counts are what its likelihood sees; each mean count has Poisson
    sampling variance ``rate / n_trials_per_condition``. The teacher's state is exactly
    ``x_t = m kappa_t + W_in^T v_t`` (``v`` the inputs low-pass filtered by ``alpha``), so latent r moves neuron
    i's expected count by ``link'(z) gain_i m_ir kappa_r`` to first order. These contributions, whitened by the
    sampling SD of each condition mean, form a (conditions x steps) by neurons matrix; the time courses a model
    gets from its inputs for free (the filtered inputs, a constant) are projected out, since input weights can
    take over that part of any latent. Its singular values s_r (one per latent dimension) are compared with the
    threshold of the spiked random-matrix model: a rank-one signal of singular value s in a p x N matrix of
    unit-variance noise is detectable by any method, asymptotically, only when s^2 > sqrt(p N) (Baik, Ben Arous &
    Peche 2005). q_r = s_r^2 / sqrt(p N): q < 1, undetectable from the condition averages; s^2 is also the
    deviance the dimension is worth, against about 2 N parameters (its columns of m and n) that a fit of one more
    rank must pay for on held-out data. The measure ignores the temporal smoothness a dynamical model exploits,
    so it is conservative near q = 1.
    """
    n_conditions = int(data.condition.max()) + 1
    first = np.array([np.flatnonzero(data.condition == c)[0] for c in range(n_conditions)])
    n_repeats = len(data.condition) // n_conditions
    x, u = data.states[first], data.X[first].astype(np.float64)
    v, filt = np.empty_like(u), np.zeros_like(u[:, 0])
    for t in range(u.shape[1]):
        filt = (1.0 - data.alpha) * filt + data.alpha * u[:, t]
        v[:, t] = filt
    n_rows, n_neurons = x.shape[0] * x.shape[1], x.shape[2]
    recurrent = (x - v @ data.input_weights).reshape(n_rows, n_neurons)
    kappa = np.linalg.lstsq(data.m, recurrent.T, rcond=None)[0].T
    z = data.gain * x + data.offset
    slope = 1.0 / (1.0 + np.exp(-z)) if data.link == "softplus" else np.exp(z)
    sd = np.sqrt(data.rates[first] / n_repeats)
    signal = ((slope * data.gain / sd).reshape(n_rows, n_neurons)) * (kappa @ data.m.T)
    free, _ = np.linalg.qr(np.concatenate([v.reshape(n_rows, -1), np.ones((n_rows, 1))], axis=1))
    signal = signal - free @ (free.T @ signal)
    s = np.linalg.svd(signal, compute_uv=False)[: data.m.shape[1]]
    return s**2 / np.sqrt(n_rows * n_neurons)


def run_identifiability(seeds, ranks=(1, 2, 3, 4, 5)):
    print("\ncount teachers: q of each latent dimension (signal^2 / detection threshold in the condition averages; "
          "< 1: not identifiable), spikes per neuron, ceiling (the teacher's own D^2 on its single trials)")
    from sklearn_lowrank.metrics import d2_poisson_score_trials

    for name, settings in (("before", OLD_COUNT_TEACHER), ("rank case", COUNT_TEACHER)):
        print(f"{name}: {settings}")
        for seed in seeds:
            for rank in ranks:
                data = count_teacher(rank, seed, **settings)
                q = " ".join(f"{v:.2f}" for v in count_identifiability(data))
                print(f"  seed {seed} rank {rank}: spikes/neuron {data.y.sum(axis=(0, 1)).mean():6.0f}  ceiling "
                      f"{d2_poisson_score_trials(data.y, data.rates):.4f}  q {q}", flush=True)


def rank_teacher(kind, rank, seed=0, n_units=60, n_conditions=16, n_repeats=6, n_timesteps=30):
    """One rank-recovery teacher: (X, y, groups, loss, ceiling), the ceiling the teacher's own held-out score.

    ``averaged``: a rank-r network of :func:`make_low_rank_teacher` (one pulse input per latent, recurrent noise
    0.02), each of n_conditions x n_repeats trials a distinct input pattern, y its states (as trial averages
    are). ``single-trial``: n_conditions input patterns repeated n_repeats times, y the noise-free states plus
    independent Gaussian noise of the states' SD on every trial and entry (groups: the conditions).
    ``counts``: :func:`count_teacher`, single-trial Poisson counts of n_conditions conditions (groups) with the
    neurons, bins and trials per condition of :data:`COUNT_TEACHER` (``n_units``, ``n_repeats`` and
    ``n_timesteps`` are the rate teachers'), fitted with ``loss="poisson"``.
    """
    from sklearn_lowrank.datasets import make_low_rank_teacher, simulate_rnn
    from sklearn_lowrank.metrics import d2_poisson_score_trials

    random_state = 100 * seed + 10 * rank + {"averaged": 0, "single-trial": 1, "counts": 2}[kind]
    n_trials = n_conditions * n_repeats
    groups = np.repeat(np.arange(n_conditions), n_repeats)
    if kind == "counts":
        data = count_teacher(rank, seed, n_conditions)
        return data.X, data.y, data.condition, "poisson", float(d2_poisson_score_trials(data.y, data.rates))
    data = make_low_rank_teacher(n_units=n_units, rank=rank, n_inputs=rank, n_trials=n_trials if kind == "averaged"
                                 else n_conditions, n_timesteps=n_timesteps, random_state=random_state)
    if kind == "averaged":
        clean = simulate_rnn(data.J, data.input_weights, data.X, alpha=data.alpha)
        return data.X, data.y, None, "squared_error", _r2(data.y, clean)
    X, clean = np.repeat(data.X, n_repeats, axis=0), np.repeat(data.states, n_repeats, axis=0)
    rng = np.random.default_rng(random_state)
    y = (clean + rng.normal(scale=clean.std(), size=clean.shape)).astype(np.float32)
    return X, y, groups, "squared_error", _r2(y, clean)


def _search(X, y, groups, loss, max_rank, rank_path=False):
    from sklearn.model_selection import GroupKFold

    from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV

    cv = 5 if groups is None else GroupKFold(5, shuffle=True, random_state=0)
    return LowRankRNNRegressorCV(ranks=range(1, max_rank + 1), cv=cv, rank_path=rank_path,
                                 estimator=LowRankRNNRegressor(loss=loss, random_state=0))


def run_rank(seeds, max_rank=5, n_init=1, kinds=None, solver="auto", n_conditions=16, n_repeats=6, rank_path=False):
    from sklearn_lowrank import LowRankRNNRegressor
    from sklearn_lowrank.metrics import d2_poisson_score_trials

    print(f"\nrank recovery, LowRankRNNRegressorCV(ranks=1..{max_rank}) with its defaults (paired rule, tol='auto'; "
          f"5 folds, GroupKFold over conditions when trials repeat them; estimator random_state=0, n_init={n_init}, "
          f"solver={solver!r}; {n_conditions} conditions x {n_repeats} trials (counts: {COUNT_TEACHER}); "
          f"rank_path={rank_path}; counts: folds, the teacher's own mean held-out score on the search's folds, and "
          "q_min, the weakest latent's identifiability, count_identifiability)")
    print(f"{'teacher':>12} {'true':>4} {'seed':>4} {'ceiling':>8} {'folds':>6} {'q_min':>6} {'chosen':>6} "
          f"{'time s':>7}  mean held-out score per rank (paired SE to the best)")
    hits = total = 0
    for seed in seeds:
        for kind, rank in [t for t in RANK_TEACHERS if kinds is None or t[0] in kinds]:
            X, y, groups, loss, ceiling = rank_teacher(kind, rank, seed, n_conditions=n_conditions,
                                                       n_repeats=n_repeats)
            search = _search(X, y, groups, loss, max_rank, rank_path)
            search.set_params(estimator=LowRankRNNRegressor(loss=loss, n_init=n_init, solver=solver,
                                                               random_state=0))
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(X, y, groups=groups)
            hits, total = hits + (search.rank_ == rank), total + 1
            res = search.cv_results_
            scores = " ".join(f"{m:.4f}({s:.4f})" for m, s in zip(res["mean_test_score"], res["rule_se_test_score"]))
            q = fold = f"{'-':>6}"
            if kind == "counts":  # the teacher's own held-out score on the same folds, as the fits are scored
                data = count_teacher(rank, seed, n_conditions)
                q = f"{count_identifiability(data).min():6.2f}"
                own = [d2_poisson_score_trials(y[te], data.rates[te]) for _, te in search.cv.split(X, y, groups)]
                fold = f"{np.mean(own):6.4f}"
            print(f"{kind:>12} {rank:>4} {seed:>4} {ceiling:8.4f} {fold} {q} {search.rank_:>6} "
                  f"{time.perf_counter() - start:7.1f}  {scores}", flush=True)
    print(f"true rank chosen: {hits}/{total}")


#: Teachers of the search-cost case: (kind, true rank) of :func:`rank_teacher`.
SEARCH_COST_TEACHERS = [("single-trial", 2), ("averaged", 3), ("counts", 2)]


def run_search_cost(max_rank=5, repeats=1, kinds=None):
    """LowRankRNNRegressorCV (rank path, and independent fits) against GridSearchCV, same rule, grid and folds.

    The three searches run alternately on each teacher (odd runs in reverse order), after a warm-up fit; each line
    gives the wall-clock and CPU seconds of ``fit`` (cross-validation and refit; with ``OMP_NUM_THREADS=1`` and
    ``n_jobs=None`` the CPU time is the work done, which a shared machine's load barely changes), the chosen rank
    and the mean held-out score of every rank.
    """
    import functools

    import torch
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from sklearn_lowrank import one_standard_error_rule

    print(f"\nsearch cost: ranks 1-{max_rank} x 5 folds + refit, run alternately (n_jobs=None; torch threads: "
          f"{torch.get_num_threads()})")
    print(f"{'teacher':>14} {'search':>22} {'run':>3} {'time s':>7} {'CPU s':>7} {'chosen':>6}  mean held-out score "
          "per rank")
    for kind, rank in [t for t in SEARCH_COST_TEACHERS if kinds is None or t[0] in kinds]:
        X, y, groups, loss, _ = rank_teacher(kind, rank)
        independent = _search(X, y, groups, loss, max_rank)
        path = clone(independent).set_params(rank_path=True)
        grid = GridSearchCV(path.estimator, {"rank": list(range(1, max_rank + 1))}, cv=path.cv,
                            refit=functools.partial(one_standard_error_rule, tol="auto", paired=True))
        searches = (("GridSearchCV", grid), ("CV(rank_path=False)", independent), ("CV(rank_path=True)", path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clone(path.estimator).set_params(max_iter=2).fit(X, y)  # the first fit of a process pays a warm-up
            for run in range(repeats):
                for name, est in searches[::-1] if run % 2 else searches:  # odd runs in reverse: load drifts
                    start, cpu = time.perf_counter(), time.process_time()
                    est.fit(X, y, groups=groups)
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                    chosen = est.rank_ if hasattr(est, "rank_") else est.best_params_["rank"]
                    scores = " ".join(f"{m:.4f}" for m in est.cv_results_["mean_test_score"])
                    print(f"{kind + str(rank):>14} {name:>22} {run:>3} {elapsed:7.1f} {cpu:7.1f} {chosen:>6}  "
                          f"{scores}", flush=True)


def run_path_fits(kinds=None, n_folds=2, max_rank=5):
    """Fit by fit: each rank of a fold fitted on its own and along the rank path (from the fold's lower-rank fit)."""
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, KFold

    import sklearn_lowrank._lowrank as lowrank
    from sklearn_lowrank import LowRankRNNRegressor

    starts, extend = [], lowrank.extend_rank_start

    def recorded(*args, **kwargs):  # which start the path's fit kept: "path" or its own
        starts.append(extend(*args, **kwargs))
        return starts[-1]

    lowrank.extend_rank_start = recorded
    print(f"\nrank path, fit by fit (first {n_folds} of 5 folds): training loss (best_loss_), held-out score, epochs")
    print(f"{'teacher':>14} {'fold':>4} {'rank':>4} {'start':>5} {'loss':>9} {'path loss':>9} {'score':>7} "
          f"{'path':>7} {'epochs':>6} {'path':>5}")
    teachers = [(k, r, rank_teacher(k, r)[:4]) for k, r in SEARCH_COST_TEACHERS if kinds is None or k in kinds]
    teachers.append(("synthetic", 3, make_teacher(3, 0, False)[:2] + (None, "squared_error")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind, true_rank, (X, y, groups, loss) in teachers:
            cv = KFold(5) if groups is None else GroupKFold(5, shuffle=True, random_state=0)
            base = LowRankRNNRegressor(loss=loss, random_state=0)
            for k, (train, test) in list(enumerate(cv.split(X, y, groups)))[:n_folds]:
                lower = None
                for rank in range(1, max_rank + 1):
                    own = clone(base).set_params(rank=rank).fit(X[train], y[train])
                    starts.clear()
                    path = clone(base).set_params(rank=rank)
                    path = path.fit(X[train], y[train]) if lower is None else \
                        path._fit_extending(X[train], y[train], lower)
                    lower = path.module_
                    print(f"{kind + str(true_rank):>14} {k:>4} {rank:>4} {starts[0] if starts else '-':>5} "
                          f"{own.best_loss_:9.5f} {path.best_loss_:9.5f} {own.score(X[test], y[test]):7.4f} "
                          f"{path.score(X[test], y[test]):7.4f} {own.n_iter_:>6} {path.n_iter_:>5}", flush=True)
    lowrank.extend_rank_start = extend


def run_fullrank(seeds, noise_std):
    print("\nfull-rank teacher (rank-2 structure + random part of gain 0.5, 200 units, 70-step pre-period), "
          "rank=None")
    print(f"{'seed':>4} {'ceiling':>8} {'fit R2':>8} {'epochs':>6} {'time s':>7}")
    for seed in seeds:
        X, y, X_te, y_te, ceiling = make_teacher(2, seed, True, full_rank_gain=0.5, n_units=200, noise_std=noise_std)
        score, elapsed, epochs = _fit(None, X, y, X_te, y_te)
        print(f"{seed:>4} {ceiling:8.4f} {score:8.4f} {epochs:>6} {elapsed:7.1f}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Monkey A networks of the reference repository
# ---------------------------------------------------------------------------------------------------------------


def monkey_inputs(repo: Path):
    """Inputs of the 72 correct-trial conditions of monkey A, as built by the reference's mante_fit_lowrank.py."""
    with open(repo / "data" / "conditions_monkeyA.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if float(r["correct"]) == 1]
    stim_end = PRE_PERIOD + 130
    response = stim_end + 16
    u = np.zeros((len(rows), response + 4, 4), np.float32)
    for i, row in enumerate(rows):
        u[i, PRE_PERIOD:stim_end, 0] = float(row["stim_dir"])
        u[i, PRE_PERIOD:stim_end, 1] = float(row["stim_col"])
        u[i, :response, 2 if float(row["context"]) == 1 else 3] = 1.0
    return u


def monkey_network(repo: Path, rank: int):
    """(J as m, n, input weights) of a published network; its biases and initial state are zero."""
    import torch

    state = torch.load(repo / "models" / f"mante_monkeyA_subspace_rank{rank}_22.pt", map_location="cpu")
    for key in ("b", "h0"):
        if float(state[key].abs().max()) != 0.0:
            raise ValueError(f"the rank-{rank} network has a non-zero {key}, outside the model class")
    return (state["m"].double().numpy(), state["n"].double().numpy(),
            (state["wi"] * state["si"][:, None]).double().numpy())


def _simulate_low_rank(m, n, w_in, u, alpha=0.2):
    x = np.zeros((u.shape[0], m.shape[0]))
    out = np.empty((u.shape[0], u.shape[1], m.shape[0]))
    drive = alpha * (u.astype(np.float64) @ w_in)
    for t in range(u.shape[1]):
        x = (1 - alpha) * x + alpha * ((np.tanh(x) @ n) @ m.T / m.shape[0]) + drive[:, t]
        out[:, t] = x
    return out


def run_monkey(repo: Path, ranks):
    X = monkey_inputs(repo)
    y = _simulate_low_rank(*monkey_network(repo, 5), X).astype(np.float32)
    y[:, :PRE_PERIOD] = np.nan
    perm = np.random.RandomState(0).permutation(X.shape[0])
    tr, te = perm[:64], perm[64:]
    print(f"\nmonkey A, rank-5 network as teacher ({y.shape[-1]} units, 64 / 8 conditions, first {PRE_PERIOD} "
          "steps unobserved)")
    print(f"{'rank':>4} {'published':>9} {'fit R2':>8} {'epochs':>6} {'time s':>7}")
    for rank in ranks:
        published = _r2(y[te], _simulate_low_rank(*monkey_network(repo, rank), X[te]))
        score, elapsed, epochs = _fit(rank, X[tr], y[tr], X[te], y[te])
        print(f"{rank:>4} {published:9.4f} {score:8.4f} {epochs:>6} {elapsed:7.1f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", nargs="+", default=["synthetic"],
                        choices=["synthetic", "rank", "identifiability", "search-cost", "path-fits", "fullrank",
                                 "monkey"])
    parser.add_argument("--pre-period", action="store_true", help="synthetic / rank: 70 unobserved steps")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--noise", type=float, default=0.12, help="recurrent noise of the synthetic teachers")
    parser.add_argument("--n-init", type=int, default=1, help="rank: starts per fit (the estimator's n_init)")
    parser.add_argument("--solver", default="auto", help="rank: the estimator's solver (default: its default)")
    parser.add_argument("--n-conditions", type=int, default=16, help="rank: conditions per teacher")
    parser.add_argument("--n-repeats", type=int, default=6, help="rank: trials per condition (rate teachers)")
    parser.add_argument("--kinds", nargs="+", choices=["averaged", "single-trial", "counts"],
                        help="rank, search-cost: only these teachers (default: all)")
    parser.add_argument("--repeats", type=int, default=1, help="search-cost: runs of each search per teacher")
    parser.add_argument("--rank-path", action="store_true",
                        help="rank: LowRankRNNRegressorCV(rank_path=True), each rank started from the one below")
    parser.add_argument("--reference-repo", type=Path, help="local snapshot of adrian-valente/lowrank_inference")
    args = parser.parse_args(argv)
    if "synthetic" in args.case:
        run_synthetic(args.pre_period, args.seeds, args.ranks, args.noise)
    if "rank" in args.case:
        run_rank(args.seeds, n_init=args.n_init, kinds=args.kinds, solver=args.solver,
                 n_conditions=args.n_conditions, n_repeats=args.n_repeats, rank_path=args.rank_path)
    if "identifiability" in args.case:
        run_identifiability(args.seeds)
    if "search-cost" in args.case:
        run_search_cost(repeats=args.repeats, kinds=args.kinds)
    if "path-fits" in args.case:
        run_path_fits(kinds=args.kinds)
    if "fullrank" in args.case:
        run_fullrank(args.seeds, args.noise)
    if "monkey" in args.case:
        if args.reference_repo is None:
            print("\nmonkey A: skipped (pass --reference-repo PATH)")
        else:
            run_monkey(args.reference_repo, args.ranks)


if __name__ == "__main__":
    main()
