"""Resampling test of the population claim: how many Gaussian populations does the context-dependent task need?

A rank-1 network (512 units, linear readout, x0 = 0) is trained on the context-dependent decision task (256
trials, the settings of the acceptance test in tests/test_mixture.py); a mixture of P Gaussians is fitted to its
per-unit loadings (``GaussianMixtureRNN.from_network``, the more likely of two EM starts), networks of N units are
sampled from it, and their decision accuracy on 400 held-out trials is reported (mean +- std over the sampled
networks) for each P and N, and the accuracy of the mean-field outputs of each mixture (N -> infinity, no
finite-size fluctuations: what the Gaussian approximation of the loadings itself allows). The published
figures (Dubreuil, Valente et al. 2022): about 0.72-0.78 for one population and 0.90-0.97 for two.

With ``--direct``, a 2-population rank-1 GaussianMixtureRNN is trained on the task instead (the acceptance test's
settings: 512 units resampled at every step, 60 epochs) per seed, and the table gives the accuracy of 5 freshly
sampled networks of 512 units, and the distance of the latent trajectories of sampled networks of N units to the
mean-field trajectories (median over 12 draws of the RMSE and of R^2, on 40 held-out trials).

Usage::

    python benchmarks/bench_mixture.py                              # seed 0, N = 512, 2048, 8192, P = 1..4
    python benchmarks/bench_mixture.py --direct --seeds 0 1 2       # mixtures trained directly; mean field vs N
    python benchmarks/bench_mixture.py --seeds 0 1 2 --units 2048 --components 1 2
    python benchmarks/bench_mixture.py --context-scale 0.1          # the weak cue of the original module default
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings


def trained_network(seed, X, y):
    from sklearn_lowrank import LowRankRNNRegressor

    net = LowRankRNNRegressor(1, n_units=512, readout="linear", output_activation="tanh", noise_std=0.05,
                              initial_state="zero", max_iter=100, learning_rate_init=0.03,
                              n_iter_no_change=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return net.fit(X, y)


def trained_mixture(seed, X, y):
    from sklearn_lowrank import GaussianMixtureRNN

    mix = GaussianMixtureRNN(2, rank=1, n_units=512, noise_std=0.05, max_iter=60, learning_rate_init=0.03,
                             n_iter_no_change=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mix.fit(X, y)


def direct(args, X, y, X_test, y_test):
    import numpy as np

    from sklearn_lowrank.meanfield import mean_field_trajectories, simulate_latents
    from sklearn_lowrank.metrics import decision_accuracy

    w = sys.stdout.write
    w(f"{'seed':>5}  {'accuracy of 5 fresh networks of 512 units':<44}"
      + "".join(f"{'N=' + str(n) + ' RMSE / R^2':>22}" for n in args.units) + "\n")
    X_few = X_test[:40]
    for seed in args.seeds:
        start = time.perf_counter()
        mix = trained_mixture(seed, X, y)
        acc = [decision_accuracy(y_test, mix.sample_network(512, random_state=s).predict(X_test)) for s in range(5)]
        mf = mean_field_trajectories(mix, X_few)
        sst = ((mf - mf.mean(axis=(0, 1))) ** 2).sum()
        cells = []
        for n_units in args.units:
            sse = np.array([((simulate_latents(mix, X_few, n_units=n_units, random_state=s) - mf) ** 2).sum()
                            for s in range(12)])
            cells.append(f"{np.median(np.sqrt(sse / mf.size)):>13.4f} / {np.median(1 - sse / sst):.3f}")
        w(f"{seed:>5}  {', '.join(f'{a:.3f}' for a in acc):<44}" + "".join(cells)
          + f"   ({time.perf_counter() - start:.0f} s)\n")
        sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="training seeds of the rank-1 network")
    parser.add_argument("--units", type=int, nargs="*", default=[512, 2048, 8192], help="sizes of sampled networks")
    parser.add_argument("--components", type=int, nargs="*", default=[1, 2, 3, 4])
    parser.add_argument("--networks", type=int, default=5, help="sampled networks per (P, N)")
    parser.add_argument("--context-scale", type=float, default=0.5,
                        help="amplitude of the context cue (0.5: the published networks and the task's default)")
    parser.add_argument("--direct", action="store_true",
                        help="train 2-population mixtures directly; accuracy and mean-field distance vs N")
    args = parser.parse_args(argv)

    from sklearn_lowrank import GaussianMixtureRNN, resampling_scores
    from sklearn_lowrank.datasets import make_context_dependent_task
    from sklearn_lowrank.meanfield import mean_field_trajectories
    from sklearn_lowrank.metrics import decision_accuracy

    X, y, _ = make_context_dependent_task(n_trials=256, context_scale=args.context_scale, random_state=0)
    X_test, y_test, _ = make_context_dependent_task(n_trials=400, context_scale=args.context_scale, random_state=1)
    if args.direct:
        return direct(args, X, y, X_test, y_test)
    w = sys.stdout.write
    w(f"{'seed':>5}{'trained':>9}{'N':>7}" + "".join(f"{'P=' + str(p):>15}" for p in args.components) + "\n")
    for seed in args.seeds:
        start = time.perf_counter()
        net = trained_network(seed, X, y)
        accuracy = decision_accuracy(y_test, net.predict(X_test))
        for n_units in args.units:
            res = resampling_scores(net, X_test, y_test, args.components, n_networks=args.networks,
                                    n_units=n_units, scoring="accuracy", n_init=5, random_state=0)
            cells = "".join(f"{m:>9.3f}+-{s:.3f}" for m, s in zip(res.mean, res.std))
            w(f"{seed:>5}{accuracy:>9.3f}{n_units:>7}{cells}\n")
            sys.stdout.flush()
        mean_field = []
        for n_components in args.components:
            mix, _ = GaussianMixtureRNN.from_network(net, n_components=n_components, n_init=5, random_state=0)
            _, outputs = mean_field_trajectories(mix, X_test, return_outputs=True)
            mean_field.append(decision_accuracy(y_test, outputs))
        w(f"{seed:>5}{accuracy:>9.3f}{'inf':>7}" + "".join(f"{a:>15.3f}" for a in mean_field) + "   (mean field)\n")
        w(f"      ({time.perf_counter() - start:.0f} s)\n")


if __name__ == "__main__":
    main()
