"""Command line: ``python -m sklearn_lowrank demo`` (and the ``sklearn-lowrank`` console script)."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main"]


def _demo(args) -> int:
    from . import LowRankRNNRegressor
    from .datasets import make_low_rank_teacher
    from .metrics import connectivity_cosine, effective_connectivity

    data = make_low_rank_teacher(n_units=args.n_units, rank=args.rank, n_inputs=2, n_trials=250, n_timesteps=50,
                                 random_state=args.random_state)
    X_tr, y_tr, X_te, y_te = data.X[:200], data.y[:200], data.X[200:], data.y[200:]
    start = time.perf_counter()
    est = LowRankRNNRegressor(rank=args.rank, random_state=args.random_state, device=args.device,
                              verbose=args.verbose).fit(X_tr, y_tr)
    elapsed = time.perf_counter() - start
    cos_eff = connectivity_cosine(effective_connectivity(est.m_, est.n_, est.input_weights_),
                                  effective_connectivity(data.m, data.n, data.input_weights))
    out = sys.stdout
    out.write(f"Synthetic rank-{args.rank} teacher: {args.n_units} neurons, 200 training / 50 held-out trials "
              "x 50 steps, 2 inputs\n")
    out.write(f"Fitted LowRankRNNRegressor(rank={args.rank}) in {elapsed:.1f} s ({est.n_iter_} epochs)\n")
    out.write(f"  held-out R^2                       : {est.score(X_te, y_te):.4f}\n")
    out.write(f"  cosine(J_eff fitted, J_eff true)   : {cos_eff:.4f}\n")
    out.write(f"  cosine(J fitted, J true)           : {connectivity_cosine(est.connectivity_, data.J):.4f}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sklearn-lowrank",
                                     description="Fit low-rank RNNs to neural activity.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit a low-rank RNN to a built-in synthetic teacher and report recovery")
    demo.add_argument("--rank", type=int, default=2)
    demo.add_argument("--n-units", type=int, default=200)
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--device", default="cpu")
    demo.add_argument("--verbose", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    """Entry point of ``python -m sklearn_lowrank`` and the ``sklearn-lowrank`` script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    status : int
        0 on success, 2 on bad arguments or data.

    Examples
    --------
    >>> from sklearn_lowrank.__main__ import main
    >>> main(["demo", "--n-units", "40", "--rank", "1"])  # doctest: +ELLIPSIS
    Synthetic rank-1 teacher: 40 neurons, ...
    0
    """
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"sklearn-lowrank: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
