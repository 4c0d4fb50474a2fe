"""The command line's work: arguments, reading and preparing a recording, the rank search, messages.

``demo`` fits a built-in teacher; ``fit`` chooses the rank of a recording by cross-validation and writes the
report of :func:`sklearn_lowrank.report.write_report`. Errors in the arguments or the data end the command with a
one-line message on stderr and exit status 2; warnings (convergence, scales) are shown on stderr, once each.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from ._cli_parser import build_parser

__all__ = ["main", "parse_ranks"]

#: Leading bytes of an .npz (zip) archive and of a single .npy array.
_ZIP_MAGIC, _NPY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06"), b"\x93NUMPY"
#: Activity whose typical magnitude exceeds this is read as raw rates (e.g. spikes/s) for the scale warning.
_RAW_SCALE = 5.0


class CLIError(ValueError):
    """A problem with the arguments or the data, reported as one line with exit status 2."""


def _say(kind: str, message: str) -> None:
    sys.stderr.write(f"sklearn-lowrank: {kind}: {' '.join(str(message).split())}\n")


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


def _check_device(device: str) -> str:
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise CLIError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N.") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {device!r}: CUDA is not available on this machine; use --device cpu.")
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise CLIError(f"--device {device!r} is not supported; use cpu or cuda.")
    return str(parsed)


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(_NPY_MAGIC):
        raise CLIError(f"{path} holds a single array; save X and y together with np.savez(path, X=X, y=y).")
    if not head.startswith(_ZIP_MAGIC):
        # numpy would try to unpickle the file and suggest allow_pickle=True: unsafe, and no help for a file
        # that is not an archive at all
        raise CLIError(f"{path} is not an .npz archive (it does not start like a zip file); save the data with "
                       "np.savez(path, X=X, y=y).")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CLIError(f"cannot read {path} as an .npz file: {exc}") from None
    with data:
        missing = [k for k in ("X", "y") if k not in data.files]
        if missing:
            raise CLIError(f"{path} has no array(s) {', '.join(missing)} (found {sorted(data.files)}); "
                           "save the data with np.savez(path, X=X, y=y).")
        try:
            arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CLIError(f"cannot read the arrays of {path} (object arrays are not read; save numbers or "
                           f"strings): {exc}") from None
    X, y = arrays.pop("X"), arrays.pop("y")
    return X, y, {k: v for k, v in arrays.items() if v.ndim == 1}


def _load_nwb(path: Path, args) -> tuple[np.ndarray, np.ndarray, dict]:
    from .datasets import load_nwb_trials

    try:
        return load_nwb_trials(path, align_to=args.align_to, window=tuple(args.window or (0.0, 1000.0)),
                               bin_size=args.bin_size, input_columns=args.input_columns or ())
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except (OSError, KeyError) as exc:
        raise CLIError(f"cannot read {path} as an NWB file: {exc}") from None


def _check_arrays(X, y) -> tuple[np.ndarray, np.ndarray]:
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


def _trial_labels(conditions: dict, key: str | None, option: str, n_trials: int):
    if key is None:
        return None
    if key not in conditions:
        raise CLIError(f"{option} {key!r}: no such per-trial array in the data; available: {sorted(conditions)}.")
    values = np.asarray(conditions[key]).ravel()
    if values.shape != (n_trials,):
        raise CLIError(f"{option} {key!r} must hold one value per trial ({n_trials}); got shape {values.shape}.")
    return values


def load_recording(args):
    """Read DATA: X (n_trials, n_timesteps, n_inputs), y (n_trials, n_timesteps, n_neurons), per-trial arrays."""
    path = Path(args.data)
    if not path.is_file():
        raise CLIError(f"no such file: {path}")
    nwb = path.suffix.lower() == ".nwb"
    X, y, conditions = _load_nwb(path, args) if nwb else _load_npz(path)
    X, y = _check_arrays(np.asarray(X), np.asarray(y))
    if args.window is not None and not nwb:
        start, stop = (int(round(v)) for v in args.window)
        if not 0 <= start < stop <= y.shape[1]:
            raise CLIError(f"--window {start} {stop}: for an .npz file the window is in time steps and must lie "
                           f"in [0, {y.shape[1]}] with START < STOP.")
        X, y = X[:, start:stop], y[:, start:stop]
    return X, y, conditions, nwb


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing, with the package's transformers
# ---------------------------------------------------------------------------------------------------------------


def preprocess(X, y, args) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """--bin (X and y), --smooth and --zscore (y), in this order; the steps done, for the summary."""
    from .preprocessing import GaussianSmoother, TimeBinner, TrialStandardScaler

    steps = []
    if args.bin > 1:
        if args.bin > y.shape[1]:
            raise CLIError(f"--bin {args.bin} is longer than the {y.shape[1]} time steps of a trial.")
        X = TimeBinner(args.bin).fit_transform(X)
        y = TimeBinner(args.bin).fit_transform(y)
        steps.append(f"TimeBinner({args.bin}) on X and y")
    if args.smooth > 0:
        y = GaussianSmoother(sigma=args.smooth).fit_transform(y)
        steps.append(f"GaussianSmoother(sigma={args.smooth:g}) on y")
    if args.zscore:
        y = TrialStandardScaler().fit_transform(y)
        steps.append("TrialStandardScaler() on y")
    return X, y, steps


def check_scale(y, args) -> None:
    """Refuse activity that tanh rates cannot reach; warn about raw rates, with the option that fixes them."""
    observed = np.abs(y[np.isfinite(y)])
    low, high = float(np.nanmin(y)), float(np.nanmax(y))
    if args.output_activation == "tanh" and (low <= -1.0 or high >= 1.0):
        raise CLIError(f"--output-activation tanh predicts rates tanh(x) in (-1, 1) but y ranges from {low:.3g} "
                       f"to {high:.3g}; use --output-activation identity (with --zscore for raw rates) or "
                       "scale y into (-1, 1) first.")
    typical = float(np.percentile(observed, 90)) if observed.size else 0.0
    if not args.zscore and typical > _RAW_SCALE:
        _say("warning", f"y looks like raw rates (from {low:.3g} to {high:.3g}, 90% of |y| below {typical:.3g}); "
                        "the network's states are of order 1 and their mean would dominate the fit: pass "
                        "--zscore (and --smooth for spike counts).")


def _stimulus(X, args):
    """--stimulus, or the steps where the inputs leave their value at the start of the trial (None if never)."""
    if args.stimulus is not None:
        start, stop = args.stimulus
        if not start < stop:
            raise CLIError(f"--stimulus {start:g} {stop:g}: START must be below STOP.")
        return float(start), float(stop)
    if X.shape[-1] == 0:
        return None
    change = np.abs(X - X[:, :1]).mean(axis=0).max(axis=-1)  # (n_timesteps,)
    if change.max() <= 0:
        return None
    on = np.nonzero(change > 0.5 * change.max())[0]
    return float(on[0]), float(on[-1] + 1)


# ---------------------------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------------------------


def _demo(args) -> int:
    from . import LowRankRNNRegressor
    from .datasets import make_low_rank_teacher
    from .metrics import connectivity_cosine, effective_connectivity

    device = _check_device(args.device)
    data = make_low_rank_teacher(n_units=args.n_units, rank=args.rank, n_inputs=2, n_trials=250, n_timesteps=50,
                                 random_state=args.random_state)
    X_tr, y_tr, X_te, y_te = data.X[:200], data.y[:200], data.X[200:], data.y[200:]
    start = time.perf_counter()
    with _shown_warnings():
        est = LowRankRNNRegressor(rank=args.rank, random_state=args.random_state, device=device,
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


class _shown_warnings:
    """Collect the warnings of a block and write each distinct one once to stderr, with its count."""

    def __enter__(self):
        self._context = warnings.catch_warnings(record=True)
        self._records = self._context.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc_info):
        self._context.__exit__(*exc_info)
        counts = Counter((w.category.__name__, str(w.message)) for w in self._records)
        for (category, message), count in counts.items():
            times = f" ({count} fits)" if count > 1 else ""
            _say("warning", f"{category}{times}: {message}")
        return False


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


def _folds(args, n_trials, groups):
    from sklearn.model_selection import GroupKFold, KFold

    if groups is None:
        if not 2 <= args.cv <= n_trials:
            raise CLIError(f"--cv {args.cv} must be between 2 and the number of trials ({n_trials}).")
        return KFold(n_splits=args.cv, shuffle=True, random_state=args.random_state)
    n_groups = len(np.unique(groups))
    if not 2 <= args.cv <= n_groups:
        raise CLIError(f"--cv {args.cv} must be between 2 and the number of groups in --groups {args.groups!r} "
                       f"({n_groups}).")
    return GroupKFold(n_splits=args.cv, shuffle=True, random_state=args.random_state)


def _fit(args) -> int:
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    from . import LowRankRNNRegressor, __version__, one_standard_error_rule
    from .report import write_report

    ranks = parse_ranks(args.ranks)
    device = _check_device(args.device)
    X, y, conditions, nwb = load_recording(args)
    groups = _trial_labels(conditions, args.groups, "--groups", len(y))
    labels = _trial_labels(conditions, args.labels or args.groups, "--labels", len(y))
    X, y, steps = preprocess(X, y, args)
    n_trials, n_timesteps, n_neurons = y.shape
    cv = _folds(args, n_trials, groups)
    if ranks[-1] > n_neurons:
        raise CLIError(f"--ranks {args.ranks} goes up to {ranks[-1]}, above the {n_neurons} neurons of y; "
                       f"use ranks <= {n_neurons}.")
    check_scale(y, args)
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create --out {out_dir}: {exc}") from None

    estimator = LowRankRNNRegressor(output_activation=args.output_activation, alpha=args.alpha,
                                    max_iter=args.max_iter, device=device, random_state=args.random_state)
    search = _progress_search_class()(estimator, {"rank": ranks}, cv=cv, refit=one_standard_error_rule,
                                      n_jobs=args.n_jobs, error_score="raise")
    search.progress = {"desc": "cross-validating ranks", "unit": "rank", "file": sys.stderr,
                       "disable": {"auto": None, "on": False, "off": True}[args.progress]}
    start = time.perf_counter()
    with _shown_warnings():
        search.fit(X, y, groups=groups)
        y_cv = cross_val_predict(clone(search.best_estimator_), X, y, groups=groups, cv=cv, n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - start

    step_ms = args.bin_size * args.bin if nwb else None
    time_axis = (np.arange(n_timesteps) + 0.5) * step_ms + (args.window or (0.0,))[0] if nwb else None
    stimulus = _stimulus(X, args)
    if stimulus is not None and time_axis is not None:
        stimulus = tuple(float(np.interp(s, np.arange(n_timesteps + 1), np.r_[time_axis - step_ms / 2,
                                                                                 time_axis[-1] + step_ms / 2]))
                         for s in stimulus)
    unit = "spikes/s" if nwb else "units of y"
    activity = "z-scored activity" if args.zscore else f"activity ({unit})"
    extra = {"data": str(Path(args.data).resolve()), "cv": args.cv, "folds": type(cv).__name__,
             "groups": args.groups, "preprocessing": steps, "stimulus": stimulus,
             "selection": "smallest rank within one standard error (SE) of the best mean cross-validated R^2",
             "fit_seconds": round(elapsed, 2), "device": device, "versions": {"sklearn_lowrank": __version__}}
    try:
        import matplotlib  # noqa: F401

        figures = True
    except ImportError:
        figures = False
        _say("warning", "matplotlib is not installed; the figures were skipped (pip install matplotlib).")
    report = write_report(search, X, y, out_dir, y_cv=y_cv, labels=labels, conditions=groups,
                          labels_title=args.labels or
                          args.groups or "condition", stimulus=stimulus, time=time_axis, activity_label=activity,
                          figures=figures, extra=extra)
    _print_summary(report.summary, out_dir)
    return 0


def _print_summary(summary: dict, out_dir: Path) -> None:
    out = sys.stdout
    out.write(f"{summary['n_trials']} trials x {summary['n_timesteps']} steps, {summary['n_inputs']} inputs, "
              f"{summary['n_neurons']} neurons ({100 * summary['fraction_missing']:.1f}% not recorded)\n")
    if summary["preprocessing"]:
        out.write(f"Preprocessing: {'; '.join(summary['preprocessing'])}\n")
    out.write(f"Cross-validated R^2 per rank, mean +/- SE over {summary['n_splits']} folds ({summary['folds']}"
              f"{', groups ' + repr(summary['groups']) if summary['groups'] else ''}):\n")
    for r, m, s in zip(summary["ranks"], summary["mean_test_score"], summary["se_test_score"]):
        mark = "  <- chosen" if r == summary["chosen_rank"] else ""
        m_text = "nan" if m is None else f"{m:.4f}"
        s_text = "nan" if s is None else f"{s:.4f}"
        out.write(f"  rank {r}: {m_text} +/- {s_text}{mark}\n")
    median = summary["median_r2_per_neuron_cv"]
    out.write(f"Chosen rank {summary['chosen_rank']} (one-standard-error rule); refitted R^2 "
              f"{summary['r2_fit']:.4f}; median held-out R^2 per neuron "
              f"{'n/a' if median is None else f'{median:.3f}'}; report in {out_dir}\n")


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------


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
        args = build_parser({"demo": _demo, "fit": _fit}).parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse usage error (2), already written to the terminal
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        _say("error", exc)
        return 2
