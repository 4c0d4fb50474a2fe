"""The command line's work: the subcommands, the rank search, messages.

``demo`` fits a built-in teacher; ``fit`` chooses the rank of a recording by cross-validation and writes the
report of :func:`sklearn_lowrank.report.write_report`. Errors in the arguments or the data end the command with a
one-line message on stderr and exit status 2; warnings (convergence, scales) are shown on stderr, once each.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from ._cli_data import (
    CLIError,
    check_device,
    check_loss_options,
    check_scale,
    load_recording,
    parse_ranks,
    preprocess,
    say,
    stimulus_period,
    trial_labels,
)
from ._cli_parser import build_parser
from ._ragged import observed_lengths

__all__ = ["main"]

#: Per --loss: the name of the score the ranks are compared by (the estimator's score).
_SCORE_NAME = {"squared_error": "R^2", "poisson": "Poisson D^2"}


# ---------------------------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------------------------


def _demo(args) -> int:
    from ._lowrank import LowRankRNNRegressor
    from .datasets import make_low_rank_teacher
    from .inspection import effective_connectivity
    from .metrics import connectivity_cosine

    device = check_device(args.device)
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
    """Collect the warnings of a block and write each distinct one once to stderr, with its count.

    Shown: UserWarning (ConvergenceWarning included) and RuntimeWarning; deprecation warnings of the libraries
    are left out.
    """

    def __enter__(self):
        self._context = warnings.catch_warnings(record=True)
        self._records = self._context.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc_info):
        self._context.__exit__(*exc_info)
        # what the user can act on (convergence, scales, numerical trouble); library deprecations are for developers
        shown = [w for w in self._records if issubclass(w.category, (UserWarning, RuntimeWarning))]
        counts = Counter((w.category.__name__, str(w.message)) for w in shown)
        for (category, message), count in counts.items():
            times = f" ({count} fits)" if count > 1 else ""
            say("warning", f"{category}{times}: {message}")
        return False


class _progress_bar:
    """A tqdm bar on stderr over the search's fits, advanced by the search's callback."""

    def __init__(self, total: int, mode: str):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc="cross-validating ranks", unit="fit", file=sys.stderr,
                         disable={"auto": None, "on": False, "off": True}[mode])

    def __call__(self, rank, split, score):
        self._bar.set_postfix_str(f"rank={rank}, fold {split}: {score:.4f}")
        self._bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._bar.close()
        return False


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


def _prepared_recording(args):
    """Read, check and preprocess the recording of ``args``: everything the search needs, before any fit."""
    ranks = parse_ranks(args.ranks)
    check_loss_options(args)
    device = check_device(args.device)
    X, y, conditions, nwb = load_recording(args)
    groups = trial_labels(conditions, args.groups, "--groups", len(y))
    labels = trial_labels(conditions, args.labels or args.groups, "--labels", len(y))
    X, y, steps = preprocess(X, y, args)
    n_neurons = y.shape[2]
    cv = _folds(args, y.shape[0], groups)
    if ranks[-1] > n_neurons:
        raise CLIError(f"--ranks {args.ranks} goes up to {ranks[-1]}, above the {n_neurons} neurons of y; "
                       f"use ranks <= {n_neurons}.")
    check_scale(y, args)
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create --out {out_dir}: {exc}") from None
    return dict(ranks=ranks, device=device, X=X, y=y, nwb=nwb, groups=groups, labels=labels, steps=steps, cv=cv,
                out_dir=out_dir)


def _search_ranks(args, data):
    """Cross-validate the ranks and predict every trial from the fold that held it out; (search, y_cv, seconds)."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    from ._lowrank import LowRankRNNRegressor
    from ._lowrank_cv import LowRankRNNRegressorCV

    X, y, groups, cv, ranks = data["X"], data["y"], data["groups"], data["cv"], data["ranks"]
    estimator = LowRankRNNRegressor(output_activation=args.output_activation, alpha=args.alpha, loss=args.loss,
                                    max_iter=args.max_iter, device=data["device"], random_state=args.random_state)
    start = time.perf_counter()
    with _shown_warnings(), _progress_bar(len(ranks) * cv.get_n_splits(groups=groups), args.progress) as bar:
        search = LowRankRNNRegressorCV(ranks, estimator=estimator, cv=cv, n_jobs=args.n_jobs, callback=bar)
        search.fit(X, y, groups=groups)
        y_cv = cross_val_predict(clone(search.best_estimator_), X, y, groups=groups, cv=cv, n_jobs=args.n_jobs)
    return search, y_cv, time.perf_counter() - start


def _time_axis(args, data):
    """The report's time axis in ms, the stimulus period on it, and the activity's label."""
    X, y, nwb = data["X"], data["y"], data["nwb"]
    n_timesteps = y.shape[1]
    step_ms = args.bin_size * args.bin if nwb else None
    time_axis = (np.arange(n_timesteps) + 0.5) * step_ms + (args.window or (0.0,))[0] if nwb else None
    stimulus = stimulus_period(X, args, observed_lengths(y))  # ragged trials: their padding is no input change
    if stimulus is not None and time_axis is not None:
        stimulus = tuple(float(np.interp(s, np.arange(n_timesteps + 1), np.r_[time_axis - step_ms / 2,
                                                                                 time_axis[-1] + step_ms / 2]))
                         for s in stimulus)
    if args.loss == "poisson":
        activity = f"spike count per {step_ms:g} ms bin" if nwb else "spike count per bin"
    else:
        activity = "z-scored activity" if args.zscore else f"activity ({'spikes/s' if nwb else 'units of y'})"
    return time_axis, stimulus, activity


def _report_extra(args, data, search, stimulus, elapsed) -> dict:
    """What the report records about the run beside the search: data, options, selection rule, versions."""
    from ._version import __version__

    return {"data": str(Path(args.data).resolve()), "loss": args.loss, "cv": args.cv,
            "folds": type(data["cv"]).__name__, "groups": args.groups, "preprocessing": data["steps"],
            "stimulus": stimulus,
            "selection": f"LowRankRNNRegressorCV: the smallest rank within max(SE, tol) of the best mean "
                         f"cross-validated {_SCORE_NAME[args.loss]}, SE that of each rank's fold-by-fold "
                         f"differences to the best (paired), tol='auto' (1e-3 x |best mean score|) = "
                         f"{search.tol_:.3g}",
            "selection_tol": search.tol_, "selection_paired": search.paired,
            "fit_seconds": round(elapsed, 2), "device": data["device"], "versions": {"sklearn_lowrank": __version__}}


def _can_draw() -> bool:
    """Whether matplotlib is installed; warns once on stderr when it is not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        say("warning", "matplotlib is not installed; the figures were skipped (pip install matplotlib).")
        return False
    return True


def _fit(args) -> int:
    from .report import write_report

    data = _prepared_recording(args)
    search, y_cv, elapsed = _search_ranks(args, data)
    time_axis, stimulus, activity = _time_axis(args, data)
    report = write_report(search, data["X"], data["y"], data["out_dir"], y_cv=y_cv, labels=data["labels"],
                          conditions=data["groups"], labels_title=args.labels or args.groups or "condition",
                          stimulus=stimulus, time=time_axis, activity_label=activity, figures=_can_draw(),
                          extra=_report_extra(args, data, search, stimulus, elapsed))
    _print_summary(report.summary, data["out_dir"])
    return 0


def _number(value, spec=".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _print_summary(summary: dict, out_dir: Path) -> None:
    out = sys.stdout
    poisson = summary["score_name"] == "poisson_d2"
    low, high = summary.get("trial_lengths", [summary["n_timesteps"]] * 2)
    steps = f"{high}" if low == high else f"{low} to {high}"
    out.write(f"{summary['n_trials']} trials x {steps} steps, {summary['n_inputs']} inputs, "
              f"{summary['n_neurons']} neurons ({100 * summary['fraction_missing']:.1f}% not recorded)\n")
    if summary["preprocessing"]:
        out.write(f"Preprocessing: {'; '.join(summary['preprocessing'])}\n")
    out.write(f"Cross-validated {'Poisson D^2' if poisson else 'R^2'} per rank, mean +/- SE over "
              f"{summary['n_splits']} folds ({summary['folds']}"
              f"{', groups ' + repr(summary['groups']) if summary['groups'] else ''}):\n")
    paired = summary.get("selection_paired", False)
    if paired:
        out.write("  (and the difference to the best rank, mean +/- SE of the fold-by-fold differences, which the "
                  "rule compares)\n")
    best = summary["ranks"].index(summary["best_mean_rank"]) if summary["best_mean_rank"] in summary["ranks"] else None
    for i, (r, m, s) in enumerate(zip(summary["ranks"], summary["mean_test_score"], summary["se_test_score"])):
        mark = "  <- chosen" if r == summary["chosen_rank"] else ""
        m_text = "nan" if m is None else f"{m:.4f}"
        s_text = "nan" if s is None else f"{s:.4f}"
        diff = ""
        if paired and best is not None and None not in (m, summary["mean_test_score"][best]):
            se_p = summary["se_paired_to_best"][i]
            diff = (f"   ({m - summary['mean_test_score'][best]:+.4f} +/- "
                    f"{'nan' if se_p is None else f'{se_p:.4f}'})")
        out.write(f"  rank {r}: {m_text} +/- {s_text}{diff}{mark}\n")
    rule = (f"one-standard-error rule{' on paired fold differences' if summary.get('selection_paired') else ''}, "
            f"tol={summary['selection_tol']:g}")
    if poisson:
        out.write(f"Chosen rank {summary['chosen_rank']} ({rule}); refitted D^2 {_number(summary['d2_fit'], '.4f')}"
                  f"; held-out bits per spike {_number(summary['bits_per_spike_cv'])}; median held-out D^2 per "
                  f"neuron {_number(summary['median_d2_per_neuron_cv'], '.4f')}; report in {out_dir}\n")
    else:
        out.write(f"Chosen rank {summary['chosen_rank']} ({rule}); refitted R^2 {_number(summary['r2_fit'], '.4f')}"
                  f"; median held-out R^2 per neuron {_number(summary['median_r2_per_neuron_cv'])}; report in "
                  f"{out_dir}\n")


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
        say("error", exc)
        return 2
