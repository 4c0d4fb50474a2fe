"""Fitting speed and accuracy against the original LINT training procedure.

Reference workload (issue "fast, accurate fitting"): a random rank-1 teacher of 512 units (tanh, alpha 0.2,
recurrent noise 0.05, one input channel with pulses of several coherences), 800 training + 200 held-out trials of
75 steps, targets = rates tanh(x).

(a) ``reference``: a plain re-implementation of the original procedure (per-step autograd loop writing into a
    preallocated output, Adam lr 1e-2, random mini-batches of 32, gradient clipping at 1, recurrent noise 0.05
    during training, best epoch kept), timed epoch by epoch with the held-out R^2 evaluated between epochs (not
    timed);
(b) ``ours``: ``LowRankRNNRegressor(rank=1, output_activation="tanh")`` with its defaults, timed two ways: stage
    by stage like the reference (the initialisation, then one epoch at a time through ``warm_start``, the held-out
    R^2 evaluated between stages and not timed, stopped at the target), and as one whole default fit (which goes on
    refining until early stopping).

Each measurement runs in its own process so that its peak memory (max RSS) is its own, and every process first
runs a tiny fit, so that one-time costs of a fresh process (the first use of torch.optim imports torch._dynamo,
about 1 s) are timed for no procedure; the row "cold" shows a whole default fit without that warm-up.

Where the time of the default fit goes (profiled with cProfile, torch.profiler and ``perf`` on the 2-core
machine, one thread, December 2026; the machine was shared, load 3-8, so the shares are indicative):

- the regression start (about a quarter of the fit): two float32 GEMMs over the subsampled samples (the Gram
  matrix and A^T Z, 29,600 samples x 513 regressors each, about 16 GFLOP apiece) and the fill of the ~100,000
  saturated targets (per-unit products over the gathered rows, memory-bound); the rest is element-wise passes
  (atanh, clamps, masks). The default fit stops after 7 Adam epochs (the loss is flat from the second: the
  start is already near the optimum, and the stopping rule waits ``n_iter_no_change`` epochs).
- each Adam mini-batch (32 trials x 75 steps x 512 units, 1.2 million entries per full-size tensor): the per-step
  work is not mostly Python: a mini-batch of 1 trial takes ~4 ms against ~13 ms for 32 (same load), so per-step
  dispatch is about a third and the element work two thirds. Per step of the forward, the sigmoid (tanh is
  formed as 2 sigmoid(2x) - 1) costs ~16 us (1 ns per entry, compute-bound in Sleef's expf), the rank-1
  products and the in-place adds ~3 us each; the backward step is five such operations. The rest is full-size
  passes over the mini-batch (drive, rate conversion, the gathered targets, the loss, the gradient products),
  memory-bound: about 5 MB each, slow when other processes share the memory bandwidth, and each freshly
  allocated tensor is paid again in page faults (~30,000 per fit in steady state).

Cut in December 2026 (measured on the fit of this script and the micro-benchmarks it was profiled with): the
squared error is one autograd node keeping the residuals (``mse_loss`` forward and backward took ~2.4 ms per
mini-batch, the node ~0.7 ms) with the targets gathered trial by trial (the time-major gather took ~1.2 ms, the
trial-major one 0.3 ms); tanh' is formed per step in cache instead of as a full-size tensor; the states are not
converted when a tanh readout reads the rates only; the drive and the rates are converted in one pass each; a
full identity readout is not sliced. For ranks above 1, the (n_units, k) factor of the per-step product is laid
out column-major and the gradient of ``left`` is formed as (k, S) @ (S, N): MKL took 3x and 13x as long in the
other layouts (a rank-3 mini-batch step: 19.6 -> 13.6 ms). What is left per step (the sigmoid and small
products) is not Python overhead that batching could remove.

Threads (``n_threads=None`` keeps torch's setting, one per core): on the shared 2-core machine at load 4-9 the
whole default fit took 29-64 s with 2 threads (13-28 s of CPU: threads spinning while they wait for a busy
core), 9.6 s with ``OMP_WAIT_POLICY=PASSIVE`` and 19.5 s with one thread (3.7-4.2 s of CPU); loads differed
between these runs. With idle cores 2 threads are faster (2.86 s against about 3-3.8 s of CPU on one thread).
``n_threads=1`` or ``OMP_NUM_THREADS=1`` is the safe setting on shared machines (see the user guide on parallel
fits); the default was left unchanged.

Usage::

    python benchmarks/bench_fit.py                 # every table
    python benchmarks/bench_fit.py --table main    # reference vs ours only
    python benchmarks/bench_fit.py --table big     # the full rank-3 fit of 4096 units x 500 trials x 100 steps
    python benchmarks/bench_fit.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

TARGET_R2 = 0.97


def make_workload(n_units=512, rank=1, n_train=800, n_test=200, n_steps=75, seed=0):
    """The reference teacher: pulses of several coherences on one input channel, rates as targets."""
    from sklearn_lowrank.datasets import simulate_rnn

    rng = np.random.RandomState(seed)
    m = rng.standard_normal((n_units, rank))
    n = 1.3 * m + 0.5 * rng.standard_normal((n_units, rank))  # self-overlap ~1.3: slow, input-driven latents
    J = m @ n.T / n_units
    w_in = rng.standard_normal((1, n_units)) + 1.2 * n[:, :1].T / np.linalg.norm(n[:, 0]) * np.sqrt(n_units)
    n_trials = n_train + n_test
    coherences = np.array([-0.8, -0.4, -0.2, -0.1, 0.1, 0.2, 0.4, 0.8])
    u = np.zeros((n_trials, n_steps, 1))
    onset, width = n_steps // 5, n_steps // 3
    u[:, onset : onset + width, 0] = rng.choice(coherences, size=n_trials)[:, None]
    u += 0.05 * rng.standard_normal(u.shape) * (u != 0)
    if n_units <= 1024:
        states = simulate_rnn(J, w_in, u, alpha=0.2, noise_std=0.05, random_state=rng)
    else:  # the same dynamics through the low-rank core in float64 (an N x N numpy matmul per step is slow)
        states = _simulate_low_rank(m, n, w_in, u, rng)
    X, y = u.astype(np.float32), np.tanh(states, out=states).astype(np.float32, copy=False)
    del states
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], {"m": m, "n": n, "J": J, "w_in": w_in}


def _simulate_low_rank(m, n, w_in, u, rng, chunk=100):
    """The same dynamics through the low-rank core, in float32 and in chunks of trials (bounded memory)."""
    from sklearn_lowrank._core.network import NetworkWeights, simulate

    f32 = torch.float32
    weights = NetworkWeights(m=torch.from_numpy(m).to(f32), n=torch.from_numpy(n).to(f32), J=None,
                             input_weights=torch.from_numpy(w_in).to(f32), initial_state=torch.zeros(m.shape[0]))
    out = np.empty((u.shape[0], u.shape[1], m.shape[0]), dtype=np.float32)
    for start in range(0, u.shape[0], chunk):
        uc = torch.from_numpy(u[start : start + chunk]).to(f32)
        noise = torch.from_numpy(0.05 * rng.standard_normal((uc.shape[0], uc.shape[1], m.shape[0]))).to(f32)
        with torch.no_grad():
            out[start : start + chunk] = simulate(weights, uc, 0.2, noise=noise).numpy()
    return out


# ---------------------------------------------------------------------------------------------------------------
# (a) The original procedure, written plainly
# ---------------------------------------------------------------------------------------------------------------


class ReferenceLowRankRNN(torch.nn.Module):
    """The original code's network: a per-step loop writing into a preallocated output tensor."""

    def __init__(self, n_units, n_inputs, rank, alpha=0.2, noise_std=0.05, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.alpha, self.noise_std, self.n_units = alpha, noise_std, n_units
        self.wi = torch.nn.Parameter(torch.randn(n_inputs, n_units, generator=g))
        self.m = torch.nn.Parameter(torch.randn(n_units, rank, generator=g))
        self.n = torch.nn.Parameter(torch.randn(n_units, rank, generator=g))
        self.h0 = torch.nn.Parameter(torch.zeros(n_units))

    def forward(self, inputs, noise=True):
        batch, seq_len, _ = inputs.shape
        h = self.h0.expand(batch, self.n_units)
        r = torch.tanh(h)
        noise_t = torch.randn(batch, seq_len, self.n_units) if noise and self.noise_std > 0 else None
        output = torch.zeros(batch, seq_len, self.n_units)
        for i in range(seq_len):
            h = h + self.alpha * (-h + r.matmul(self.n).matmul(self.m.t()) / self.n_units
                                  + inputs[:, i, :].matmul(self.wi))
            if noise_t is not None:
                h = h + self.noise_std * noise_t[:, i, :]
            r = torch.tanh(h)
            output[:, i, :] = r
        return output


def _r2(y_true, y_pred):
    from sklearn_lowrank.metrics import r2_score_trials

    return r2_score_trials(y_true, y_pred)


def run_reference(max_epochs=60, seed=0):
    X, y, X_te, y_te, _ = make_workload()
    torch.manual_seed(seed)  # benchmark script only: the reference code used the global generator
    net = ReferenceLowRankRNN(y.shape[-1], X.shape[-1], 1, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    Xt, yt, Xte = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(X_te)
    elapsed, epoch_times, best, reached = 0.0, [], -np.inf, None
    best_state = None
    for _ in range(max_epochs):
        start = time.perf_counter()
        perm = torch.randperm(X.shape[0])
        for i in range(0, X.shape[0], 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = (net(Xt[idx]) - yt[idx]).pow(2).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        dt = time.perf_counter() - start
        elapsed += dt
        epoch_times.append(dt)
        with torch.no_grad():
            score = _r2(y_te, net(Xte, noise=False).numpy())
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
        if reached is None and score >= TARGET_R2:
            reached = elapsed
            break
    del best_state
    return {"time_to_target": reached, "s_per_epoch": float(np.median(epoch_times)), "epochs": len(epoch_times),
            "final_r2": best, "total_time": elapsed}


# ---------------------------------------------------------------------------------------------------------------
# (b) Ours
# ---------------------------------------------------------------------------------------------------------------


def run_scaling(device="cpu", n_units=512, n_train=800, n_steps=75, rank=1, n_epochs=2):
    """Initialisation time, held-out R^2 right after it, then seconds per epoch of BPTT (warm start)."""
    import warnings

    from sklearn_lowrank import LowRankRNNRegressor

    X, y, X_te, y_te, _ = make_workload(n_units=n_units, rank=rank, n_train=n_train, n_test=100, n_steps=n_steps)
    est = LowRankRNNRegressor(rank=rank, output_activation="tanh", random_state=0, device=device, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        est.fit(X, y)
        init_time = time.perf_counter() - start
        r2_init = est.score(X_te, y_te)
        est.set_params(warm_start=True, max_iter=n_epochs, tol=0.0)
        start = time.perf_counter()
        est.fit(X, y)
        per_epoch = (time.perf_counter() - start) / n_epochs
    return {"init_time": init_time, "r2_init": r2_init, "s_per_epoch": per_epoch}


def run_ours(device="cpu", batch_size=None, max_iter=None, n_units=512, n_train=800, n_steps=75, rank=1,
             per_epoch=False, init_only=False, trajectory=False, noise_std=None):
    import warnings

    from sklearn_lowrank import LowRankRNNRegressor

    X, y, X_te, y_te, _ = make_workload(n_units=n_units, rank=rank, n_train=n_train, n_test=200, n_steps=n_steps)
    params = {"rank": rank, "output_activation": "tanh", "random_state": 0, "device": device}
    if batch_size is not None:
        params["batch_size"] = batch_size
    if max_iter is not None:
        params["max_iter"] = max_iter
    if init_only:
        params["max_iter"] = 0
    if noise_std is not None:
        params["noise_std"] = noise_std
    if trajectory:
        # Timed like the reference: the default fit's stages (the initialisation, then one epoch of BPTT at a
        # time through warm_start), the held-out R^2 evaluated between stages (not timed), stopped at the target.
        est = LowRankRNNRegressor(**{**params, "max_iter": 0})
        elapsed, epochs, reached = 0.0, 0, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            while True:
                start = time.perf_counter()
                est.fit(X, y)
                elapsed += time.perf_counter() - start
                score = est.score(X_te, y_te)
                if score >= TARGET_R2:
                    reached = elapsed
                    break
                if epochs >= 60:
                    break
                est.set_params(warm_start=True, max_iter=1)
                epochs += 1
        return {"time_to_target": reached, "epochs": epochs, "final_r2": score, "total_time": elapsed}
    est = LowRankRNNRegressor(**params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    total = time.perf_counter() - start
    out = {"total_time": total, "epochs": est.n_iter_, "final_r2": est.score(X_te, y_te)}
    out["time_to_target"] = total if out["final_r2"] >= TARGET_R2 else None
    if per_epoch:
        # Seconds per epoch of the training loop alone, at this batch size, from random initialisation: the
        # difference between fits of 4 and 1 epochs, so that validation and set-up (paid once per fit) cancel.
        times = {}
        for n_epochs in (1, 4):
            timed = LowRankRNNRegressor(**{**params, "init": "random", "max_iter": n_epochs, "tol": 0.0})
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                timed.fit(X, y)
            times[n_epochs] = time.perf_counter() - start
        out["s_per_epoch"] = (times[4] - times[1]) / 3
    return out


def _warm_up():
    """Pay the one-time costs of a fresh process (torch.optim's first use imports torch._dynamo, ~1 s; BLAS and
    thread-pool start-up) before anything is timed, for every procedure alike."""
    import warnings

    from sklearn_lowrank import LowRankRNNRegressor

    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((8, 10, 1)).astype(np.float32), np.tanh(rng.standard_normal((8, 10, 16)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LowRankRNNRegressor(rank=1, max_iter=1, output_activation="tanh").fit(X, y.astype(np.float32))
        LowRankRNNRegressor(rank=1, max_iter=1, init="random", noise_std=0.05).fit(X, y.astype(np.float32))


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _job(spec):
    kind = spec.pop("kind")
    if spec.pop("warm", True):
        _warm_up()
    runner = {"reference": run_reference, "ours": run_ours, "scaling": run_scaling}[kind]
    result = runner(**spec)
    result["peak_mb"] = _peak_mb()
    return result


def _in_subprocess(spec):
    out = subprocess.run([sys.executable, __file__, "--job", json.dumps(spec)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(x, spec="{:.2f}"):
    return "-" if x is None else spec.format(x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", choices=["main", "scaling", "big", "all"], default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--units", type=int, nargs="*", default=[256, 1024, 4096],
                        help="network sizes of the scaling table")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        sys.stdout.write(json.dumps(_job(json.loads(args.job))) + "\n")
        return
    w = sys.stdout.write
    w(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}\n\n")
    if args.table in ("main", "all"):
        ref = _in_subprocess({"kind": "reference"})
        ours = _in_subprocess({"kind": "ours", "device": args.device, "per_epoch": True, "batch_size": 32})
        ours_noise = _in_subprocess({"kind": "ours", "device": args.device, "per_epoch": True, "batch_size": 32,
                                     "noise_std": 0.05})
        ours_traj = _in_subprocess({"kind": "ours", "device": args.device, "trajectory": True})
        ours_default = _in_subprocess({"kind": "ours", "device": args.device})
        ours_cold = _in_subprocess({"kind": "ours", "device": args.device, "warm": False})
        ours_init = _in_subprocess({"kind": "ours", "device": args.device, "init_only": True})
        w("Reference workload: 512 units, rank 1, 800 train / 200 held-out trials x 75 steps, rates\n")
        w("(every process warmed up by a tiny fit first, except the 'cold' row)\n")
        w(f"{'procedure':<38}{'time to R2>=0.97 (s)':>22}{'s/epoch (bs 32)':>17}{'epochs':>8}{'final R2':>10}"
          f"{'total (s)':>10}{'peak MB':>9}\n")
        rows = [("reference (original procedure)", ref), ("ours, bs 32, no noise (our default)", ours),
                ("ours, bs 32, noise_std=0.05", ours_noise), ("ours, defaults, stage by stage", ours_traj),
                ("ours, defaults, whole fit", ours_default), ("ours, defaults, whole fit, cold", ours_cold),
                ("ours, initialisation only", ours_init)]
        for name, r in rows:
            w(f"{name:<38}{_fmt(r['time_to_target']):>22}{_fmt(r.get('s_per_epoch'), '{:.3f}'):>17}"
              f"{r['epochs']:>8}{r['final_r2']:>10.4f}{_fmt(r.get('total_time')):>10}{r['peak_mb']:>9.0f}\n")
        if ref["time_to_target"] and ours_traj["time_to_target"]:
            w(f"speed-up to target (stage by stage): {ref['time_to_target'] / ours_traj['time_to_target']:.1f}x; "
              f"whole default fit vs reference to target: {ref['time_to_target'] / ours_default['total_time']:.1f}x\n")
        w(f"s/epoch ratio (ours/ref, bs 32): {ours['s_per_epoch'] / ref['s_per_epoch']:.2f} without noise, "
          f"{ours_noise['s_per_epoch'] / ref['s_per_epoch']:.2f} with noise_std=0.05 like the reference\n")
        w("\n")
    if args.table in ("scaling", "all"):
        w("Scaling (rates, tanh output): initialisation time, held-out R2 right after it, s/epoch of BPTT "
          "(default batch size)\n")
        w(f"{'N':>6}{'trials':>8}{'steps':>7}{'rank':>6}{'init (s)':>10}{'R2 init':>9}{'s/epoch':>9}"
          f"{'peak MB':>9}\n")
        for n_units in args.units:
            for n_train in (200, 1000):
                for n_steps in (50, 200):
                    for rank in (1, 3):
                        r = _in_subprocess({"kind": "scaling", "device": args.device, "n_units": n_units,
                                            "n_train": n_train, "n_steps": n_steps, "rank": rank})
                        w(f"{n_units:>6}{n_train:>8}{n_steps:>7}{rank:>6}{r['init_time']:>10.1f}{r['r2_init']:>9.3f}"
                          f"{r['s_per_epoch']:>9.2f}{r['peak_mb']:>9.0f}\n")
                        sys.stdout.flush()
        w("\n")
    if args.table in ("big", "all"):
        r = _in_subprocess({"kind": "ours", "device": args.device, "n_units": 4096, "n_train": 500,
                            "n_steps": 100, "rank": 3})
        w(f"Full default fit, rank 3, 4096 units x 500 trials x 100 steps: {r['total_time']:.1f} s, "
          f"{r['epochs']} epochs, held-out R2 {r['final_r2']:.4f}, peak {r['peak_mb']:.0f} MB\n")


if __name__ == "__main__":
    main()
