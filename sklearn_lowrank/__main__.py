"""Command line: ``python -m sklearn_lowrank`` (and the ``sklearn-lowrank`` console script).

Subcommands:

- ``demo``: fit a low-rank RNN to a built-in synthetic teacher and report the recovery of its connectivity;
- ``fit DATA --ranks 1-5 --cv 5 --out DIR``: choose the rank of a recording by cross-validation, refit, and write
  the fitted estimator and a report to DIR.

Errors in the arguments or the data end the command with a one-line message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["main", "parse_ranks"]

#: Most trials drawn in the latent-trajectories figure of the report.
_MAX_PLOTTED_TRIALS = 20


class CLIError(ValueError):
    """A problem with the arguments or the data, reported as one line with exit status 2."""


# ---------------------------------------------------------------------------------------------------------------
# Arguments and data
# ---------------------------------------------------------------------------------------------------------------


def parse_ranks(spec: str) -> list[int]:
    """Parse a rank specification such as ``"1-5"``, ``"1,2,4"`` or ``"1-3,6"`` into sorted distinct ranks.

    Parameters
    ----------
    spec : str
        Comma-separated positive integers and inclusive ranges ``a-b`` with ``a <= b``.

    Returns
    -------
    ranks : list of int
        The ranks in increasing order, without repeats.

    Raises
    ------
    ValueError
        If the specification is empty, malformed, or names a rank below 1.

    Examples
    --------
    >>> from sklearn_lowrank.__main__ import parse_ranks
    >>> parse_ranks("1-3,6")
    [1, 2, 3, 6]
    >>> parse_ranks("4, 2")
    [2, 4]
    """
    ranks: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if match is None:
            raise CLIError(f"bad --ranks {spec!r}: use positive integers and ranges, e.g. '1-5' or '1,2,4'.")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if low < 1 or high < low:
            raise CLIError(f"bad --ranks {spec!r}: ranks must be >= 1 and ranges increasing (a-b with a <= b).")
        ranks.update(range(low, high + 1))
    return sorted(ranks)


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CLIError(f"cannot read {path} as an .npz file: {exc}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CLIError(f"{path} holds a single array; save X and y together with np.savez(path, X=X, y=y).")
    with data:
        missing = [k for k in ("X", "y") if k not in data.files]
        if missing:
            raise CLIError(f"{path} has no array(s) {', '.join(missing)} (found {sorted(data.files)}); "
                           "save the data with np.savez(path, X=X, y=y).")
        try:
            return data["X"], data["y"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CLIError(f"cannot read the arrays of {path}: {exc}") from None


def _load_nwb(path: Path, args) -> tuple[np.ndarray, np.ndarray]:
    from .datasets import load_nwb_trials

    try:
        X, y, _ = load_nwb_trials(path, align_to=args.align_to, window=tuple(args.window), bin_size=args.bin_size,
                                  input_columns=args.input_columns or ())
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except (OSError, KeyError) as exc:
        raise CLIError(f"cannot read {path} as an NWB file: {exc}") from None
    return X, y


def _load_data(args) -> tuple[np.ndarray, np.ndarray]:
    """Read and check DATA: X (n_trials, n_timesteps, n_inputs) and y (n_trials, n_timesteps, n_neurons)."""
    path = Path(args.data)
    if not path.is_file():
        raise CLIError(f"no such file: {path}")
    X, y = _load_nwb(path, args) if path.suffix.lower() == ".nwb" else _load_npz(path)
    for name, arr in (("X", X), ("y", y)):
        if arr.dtype.kind not in "biuf":
            raise CLIError(f"{name} must be a numeric array, got dtype {arr.dtype}.")
    if X.ndim != 3 or y.ndim != 3:
        raise CLIError(f"X and y must be 3D, (n_trials, n_timesteps, n_inputs) and (n_trials, n_timesteps, "
                       f"n_neurons); got X {X.shape} and y {y.shape}.")
    if X.shape[:2] != y.shape[:2]:
        raise CLIError(f"X {X.shape} and y {y.shape} must have the same number of trials and time steps.")
    if y.shape[0] < 2 or y.shape[1] < 1 or y.shape[2] < 1:
        raise CLIError(f"y {y.shape} needs at least 2 trials, 1 time step and 1 neuron.")
    if not np.isfinite(X).all():
        raise CLIError("X holds NaN or inf; inputs must be finite (NaN is allowed in y only).")
    if np.isinf(y).any():
        raise CLIError("y holds inf; use NaN for missing observations.")
    if np.isnan(y).all():
        raise CLIError("y holds no observation (every entry is NaN).")
    return X.astype(np.float32), y.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def _plot_rank_curve(path: Path, ranks, mean, se, chosen: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2), layout="constrained")
    ax.errorbar(ranks, mean, yerr=se, marker="o", capsize=3, color="k")
    ax.axvline(chosen, color="C3", linestyle="--", label=f"chosen rank {chosen}")
    ax.set_xlabel("rank")
    ax.set_ylabel("cross-validated $R^2$")
    ax.set_xticks(ranks)
    ax.legend(frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_latents(path: Path, kappa: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rank = kappa.shape[-1]
    n_panels = rank + (rank >= 2)
    fig, axes = plt.subplots(1, n_panels, figsize=(3.2 * n_panels, 3.0), layout="constrained", squeeze=False)
    shown = kappa[:_MAX_PLOTTED_TRIALS]
    colors = plt.cm.viridis(np.linspace(0, 1, len(shown)))
    for r in range(rank):
        ax = axes[0, r]
        for trial, c in zip(shown, colors):
            ax.plot(trial[:, r], color=c, lw=1)
        ax.set_xlabel("time step")
        ax.set_ylabel(rf"$\kappa_{r + 1}$")
    if rank >= 2:
        ax = axes[0, rank]
        for trial, c in zip(shown, colors):
            ax.plot(trial[:, 0], trial[:, 1], color=c, lw=1)
        ax.set_xlabel(r"$\kappa_1$")
        ax.set_ylabel(r"$\kappa_2$")
    fig.suptitle(f"latent trajectories ({len(shown)} of {len(kappa)} trials)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _write_r2_csv(path: Path, r2_cv: np.ndarray, r2_fit: np.ndarray) -> None:
    lines = ["neuron,r2_cv,r2_fit"]
    lines += [f"{i},{a:.6g},{b:.6g}" for i, (a, b) in enumerate(zip(r2_cv, r2_fit))]
    path.write_text("\n".join(lines) + "\n")


def _finite_or_none(value):
    value = float(value)
    return value if np.isfinite(value) else None


# ---------------------------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------------------------


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


def _progress_search_class():
    """GridSearchCV evaluating one candidate at a time, so that a progress bar can advance over candidates."""
    from sklearn.model_selection import GridSearchCV, ParameterGrid
    from tqdm.auto import tqdm

    class _ProgressGridSearchCV(GridSearchCV):
        progress = None  # a tqdm keyword dict, set on the instance before fit

        def _run_search(self, evaluate_candidates):
            candidates = list(ParameterGrid(self.param_grid))
            with tqdm(total=len(candidates), **(self.progress or {"disable": True})) as bar:
                for params in candidates:
                    bar.set_postfix_str(", ".join(f"{k}={v}" for k, v in params.items()))
                    evaluate_candidates([params])
                    bar.update(1)

    return _ProgressGridSearchCV


def _fit(args) -> int:
    import joblib
    from sklearn.base import clone
    from sklearn.model_selection import KFold, cross_val_predict

    from . import LowRankRNNRegressor, __version__, one_standard_error_rule
    from .metrics import r2_per_feature

    ranks = parse_ranks(args.ranks)
    X, y = _load_data(args)
    n_trials, n_timesteps, n_neurons = y.shape
    if args.cv < 2 or args.cv > n_trials:
        raise CLIError(f"--cv {args.cv} must be between 2 and the number of trials ({n_trials}).")
    if ranks[-1] > n_neurons:
        raise CLIError(f"--ranks {args.ranks} goes up to {ranks[-1]}, above the {n_neurons} neurons of y; "
                       f"use ranks <= {n_neurons}.")
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create --out {out_dir}: {exc}") from None

    estimator = LowRankRNNRegressor(output_activation=args.output_activation, alpha=args.alpha,
                                    max_iter=args.max_iter, device=args.device, random_state=args.random_state)
    cv = KFold(n_splits=args.cv, shuffle=True, random_state=args.random_state)
    search = _progress_search_class()(estimator, {"rank": ranks}, cv=cv, refit=one_standard_error_rule,
                                      n_jobs=args.n_jobs, error_score="raise")
    search.progress = {"desc": "cross-validating ranks", "unit": "rank", "file": sys.stderr,
                       "disable": {"auto": None, "on": False, "off": True}[args.progress]}
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Short fits stop at max_iter; the rank curve, not each fit's convergence, is the point here.
        warnings.simplefilter("ignore", category=UserWarning)
        search.fit(X, y)
        best = search.best_estimator_
        chosen = int(best.rank)
        y_cv = cross_val_predict(clone(best), X, y, cv=cv, n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - start

    res = search.cv_results_
    mean = np.asarray(res["mean_test_score"], dtype=float)
    se = np.asarray(res["std_test_score"], dtype=float) / np.sqrt(args.cv)
    r2_cv = r2_per_feature(y, y_cv)
    r2_fit = r2_per_feature(y, best.predict(X))
    kappa = best.transform(X)

    files = {"model": "model.joblib", "r2_per_neuron": "r2_per_neuron.csv", "summary": "summary.json"}
    joblib.dump(best, out_dir / files["model"])
    _write_r2_csv(out_dir / files["r2_per_neuron"], r2_cv, r2_fit)
    np.save(out_dir / "latents.npy", kappa)
    files["latents"] = "latents.npy"
    try:
        _plot_rank_curve(out_dir / "rank_curve.png", ranks, mean, se, chosen)
        _plot_latents(out_dir / "latents.png", kappa)
        files.update(rank_curve="rank_curve.png", latents_figure="latents.png")
    except ImportError:
        sys.stderr.write("sklearn-lowrank: matplotlib is not installed; the figures were skipped "
                         "(pip install matplotlib).\n")
    summary = {
        "data": str(Path(args.data).resolve()),
        "n_trials": n_trials, "n_timesteps": n_timesteps, "n_inputs": int(X.shape[-1]), "n_neurons": n_neurons,
        "fraction_missing": float(np.isnan(y).mean()),
        "ranks": ranks, "cv": args.cv,
        "mean_test_score": [_finite_or_none(v) for v in mean],
        "std_test_score": [_finite_or_none(v) for v in res["std_test_score"]],
        "best_mean_rank": ranks[int(np.nanargmax(mean))],
        "chosen_rank": chosen,
        "selection": "smallest rank within one standard error of the best mean cross-validated R^2",
        "r2_cv": _finite_or_none(search.cv_results_["mean_test_score"][search.best_index_]),
        "median_r2_per_neuron_cv": _finite_or_none(np.nanmedian(r2_cv)) if np.isfinite(r2_cv).any() else None,
        "r2_fit": _finite_or_none(best.score(X, y)),
        "n_iter": int(best.n_iter_),
        "fit_seconds": round(elapsed, 2),
        "estimator": repr(best),
        "device": str(args.device),
        "versions": {"sklearn_lowrank": __version__},
        "files": files,
    }
    (out_dir / files["summary"]).write_text(json.dumps(summary, indent=2) + "\n")

    out = sys.stdout
    out.write(f"{n_trials} trials x {n_timesteps} steps, {X.shape[-1]} inputs, {n_neurons} neurons\n")
    for r, m, s in zip(ranks, mean, se):
        out.write(f"  rank {r}: cross-validated R^2 {m:.4f} +/- {s:.4f}{'  <- chosen' if r == chosen else ''}\n")
    out.write(f"Chosen rank {chosen} (one-standard-error rule); refitted R^2 {summary['r2_fit']:.4f}; "
              f"report in {out_dir}\n")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------


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

    fit = sub.add_parser(
        "fit", help="choose the rank of a recording by cross-validation, refit and write a report",
        description="Choose the rank by cross-validation (one-standard-error rule), refit on all trials and write "
                    "model.joblib, summary.json, r2_per_neuron.csv, latents.npy, rank_curve.png and latents.png "
                    "to --out.",
    )
    fit.add_argument("data", metavar="DATA",
                     help="an .npz file with arrays X (n_trials, n_timesteps, n_inputs) and y (n_trials, "
                          "n_timesteps, n_neurons; NaN = not recorded), or an .nwb file (needs pynwb)")
    fit.add_argument("--ranks", default="1-5", help="candidate ranks, e.g. '1-5' or '1,2,4' (default: 1-5)")
    fit.add_argument("--cv", type=int, default=5, help="number of cross-validation folds over trials (default: 5)")
    fit.add_argument("--out", required=True, metavar="DIR", help="folder for the model and the report")
    fit.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    fit.add_argument("--max-iter", type=int, default=200, help="maximum epochs per fit (default: 200)")
    fit.add_argument("--alpha", type=float, default=0.2, help="dt / tau (default: 0.2)")
    fit.add_argument("--output-activation", choices=("identity", "tanh"), default="identity",
                     help="compare y with the states x (identity) or the rates tanh(x) (default: identity)")
    fit.add_argument("--n-jobs", type=int, default=None, help="parallel fits of the folds (default: 1)")
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                     help="progress bar on stderr (auto: only on a terminal)")
    nwb = fit.add_argument_group("NWB files")
    nwb.add_argument("--input-columns", nargs="*", default=[], metavar="COLUMN",
                     help="trials columns turned into inputs")
    nwb.add_argument("--align-to", default="start_time", help="trials column of the alignment times")
    nwb.add_argument("--window", nargs=2, type=float, default=(0.0, 1000.0), metavar=("START", "STOP"),
                     help="ms around the alignment time (default: 0 1000)")
    nwb.add_argument("--bin-size", type=float, default=10.0, help="ms per time step (default: 10)")
    fit.set_defaults(func=_fit)
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
    >>> main(["fit", "missing.npz", "--out", "report"])
    2
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse usage error (2), already written to the terminal
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the exception text holds
        sys.stderr.write(f"sklearn-lowrank: error: {message}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
