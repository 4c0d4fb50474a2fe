"""The report of a rank search on a recording: model, tables and figures in one folder.

:func:`write_report` is what ``sklearn-lowrank fit`` writes, callable from Python on any fitted rank search. Its
scores are named by the estimator's ``loss``: R^2 for squared error, the Poisson deviance explained (D^2) and
bits per spike for spike counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._ragged import observed_lengths
from ._rank_rule import _paired_standard_error, _standard_error, search_is_paired
from .metrics import bits_per_spike, d2_poisson_per_feature, r2_per_feature
from .preprocessing import GaussianSmoother

__all__ = ["write_report"]

#: The figures draw the steps that at least this share of the trials reach (ragged trials: the long tails of a few
#: trials would dominate the condition averages), and at most this many conditions (evenly spaced in order).
SHARED_STEPS = 0.5
MAX_CONDITIONS = 6


def _finite_or_none(value):
    value = float(value)
    return value if np.isfinite(value) else None


def _rank_table(search) -> dict:
    """Scores per candidate rank, with the spread over folds named: SD (of the fold scores) and SE (of the mean)."""
    results = getattr(search, "cv_results_", None)
    if results is None or "param_rank" not in results or not hasattr(search, "best_estimator_"):
        raise ValueError("search must be a fitted LowRankRNNRegressorCV or GridSearchCV over 'rank' with refit "
                         "(e.g. GridSearchCV(LowRankRNNRegressor(), {'rank': [1, 2, 3]}, "
                         "refit=one_standard_error_rule)).")
    ranks = [None if r is None or r is np.ma.masked else int(r) for r in results["param_rank"]]
    mean = np.asarray(results["mean_test_score"], dtype=float)
    se, n_splits = _standard_error(results)
    best = int(np.nanargmax(mean)) if np.isfinite(mean).any() else None
    # The spread of each rank's fold-by-fold difference to the best (what the paired one-SE rule compares).
    se_paired = (_paired_standard_error(results, best, n_splits) if best is not None and n_splits >= 2
                 else np.full_like(mean, np.nan))
    return {"ranks": ranks, "mean": mean, "sd": np.asarray(results["std_test_score"], dtype=float), "se": se,
            "se_paired": se_paired, "n_splits": n_splits, "chosen": ranks[int(search.best_index_)],
            "best_mean": None if best is None else ranks[best]}


# ---------------------------------------------------------------------------------------------------------------
# Scores named by the loss: per neuron (columns of the table) and for the summary
# ---------------------------------------------------------------------------------------------------------------


def _median(values):
    return _finite_or_none(np.nanmedian(values)) if np.isfinite(values).any() else None


def _bits_per_neuron(y, rates) -> np.ndarray:
    """Bits per spike of each neuron (its own spikes and mean rate); NaN for a neuron without a spike."""
    spikes = np.nansum(y, axis=(0, 1))
    return np.array([bits_per_spike(y[..., i:i + 1], rates[..., i:i + 1]) if spikes[i] > 0 else np.nan
                     for i in range(y.shape[2])])


def _r2_scores(y, y_cv, y_fit, cv_score, fit_score):
    nan = np.full(y.shape[2], np.nan)
    r2_cv = r2_per_feature(y, y_cv) if y_cv is not None else nan
    columns = {"r2_cv": r2_cv, "r2_fit": r2_per_feature(y, y_fit)}
    summary = {"score_name": "r2", "r2_cv": cv_score, "median_r2_per_neuron_cv": _median(r2_cv),
               "r2_fit": fit_score}
    return columns, summary


def _poisson_scores(y, y_cv, y_fit, cv_score, fit_score):
    nan = np.full(y.shape[2], np.nan)
    held_out = y_cv is not None
    columns = {"d2_cv": d2_poisson_per_feature(y, y_cv) if held_out else nan,
               "d2_fit": d2_poisson_per_feature(y, y_fit),
               "bits_per_spike_cv": _bits_per_neuron(y, y_cv) if held_out else nan,
               "bits_per_spike_fit": _bits_per_neuron(y, y_fit)}
    spiking = np.nansum(y) > 0
    summary = {"score_name": "poisson_d2", "d2_cv": cv_score,
               "median_d2_per_neuron_cv": _median(columns["d2_cv"]),
               "bits_per_spike_cv": _finite_or_none(bits_per_spike(y, y_cv)) if held_out and spiking else None,
               "median_bits_per_spike_per_neuron_cv": _median(columns["bits_per_spike_cv"]),
               "d2_fit": fit_score,
               "bits_per_spike_fit": _finite_or_none(bits_per_spike(y, y_fit)) if spiking else None}
    return columns, summary


#: Per loss: the per-neuron and summary scores, the table's name, how figures name the score, the activity's unit.
_SCORES = {
    "squared_error": {"scores": _r2_scores, "table": "r2_per_neuron", "figure": "r2_figure", "column": "r2",
                      "name": "$R^2$", "display_sigma": 0.0,
                      "description": "R^2, variance explained (variance-weighted over neurons)"},
    # single-trial counts averaged over a few trials are still mostly spiking noise: the recorded curves of the
    # predictions figure are smoothed for display (scores are computed on the counts as recorded)
    "poisson": {"scores": _poisson_scores, "table": "d2_per_neuron", "figure": "d2_figure", "column": "d2",
                "name": "Poisson $D^2$", "display_sigma": 2.0,
                "description": "D^2, Poisson deviance explained (summed over neurons, each against its mean "
                               "count), as scikit-learn's d2_tweedie_score(power=1); bits per spike as the "
                               "Neural Latents Benchmark"},
}


def _write_csv(path: Path, columns: dict) -> None:
    lines = [",".join(["neuron", *columns])]
    lines += [",".join([str(i), *(f"{c[i]:.6g}" for c in columns.values())])
              for i in range(len(next(iter(columns.values()))))]
    path.write_text("\n".join(lines) + "\n")


def _shared_steps(y) -> tuple[np.ndarray, int]:
    """Trials going at each step (observed up to there) and the number of leading steps most trials share."""
    lengths = observed_lengths(y)
    n_going = (np.arange(y.shape[1]) < lengths[:, None]).sum(axis=0)
    return n_going, max(int((n_going >= SHARED_STEPS * len(y)).sum()), 1)


def _condition_subset(labels, conditions):
    """Trials of at most MAX_CONDITIONS conditions, evenly spaced in order; and the words saying so."""
    keys = conditions if conditions is not None else labels
    if keys is None:
        return slice(None), ""
    unique = np.unique(keys)
    if len(unique) <= MAX_CONDITIONS:
        return slice(None), ""
    chosen = unique[np.unique(np.linspace(0, len(unique) - 1, MAX_CONDITIONS).round().astype(int))]
    return np.isin(keys, chosen), f"{len(chosen)} of {len(unique)} conditions (evenly spaced)"


def _trial_count_row(axes, n_going, n_shown, t_all) -> None:
    """Under each panel: trials per step, with the steps left out of the averages above shaded."""
    for ax in axes:
        ax.set_xlabel(ax.figure.axes[0].get_xlabel())  # the panel above keeps no label of its own
        ax.step(t_all, n_going, where="mid", color="0.3", lw=1)
        if n_shown < len(t_all):
            ax.axvspan(t_all[n_shown], t_all[-1], color="0.85", zorder=0)
        ax.set_ylim(0, n_going.max() * 1.1)
    axes[0].set_ylabel("trials")


def _predictions_figure(y, y_shown, scores, spec, *, labels, conditions, labels_title, time, t_all, activity_label,
                        held_out, crop):
    """Recorded vs predicted of the best, median and worst neuron, over the shared steps of at most
    MAX_CONDITIONS conditions; with ragged trials, the trials per step in a row underneath."""
    from matplotlib.figure import Figure

    from . import plotting

    n_going, n_steps = _shared_steps(y)
    ragged = n_going.min() < n_going.max()
    fig = Figure(figsize=(12.5, 4.6 if ragged else 3.6), layout="constrained")
    axes = fig.subplots(2 if ragged else 1, 3, squeeze=False, sharex="col",
                        gridspec_kw={"height_ratios": [4, 1]} if ragged else None)
    sigma = spec["display_sigma"]
    y_drawn = GaussianSmoother(sigma=sigma).fit_transform(y) if sigma else y
    subset, chosen = _condition_subset(labels, conditions)

    def pick(values):
        return None if values is None else np.asarray(values)[subset]

    plotting.plot_predicted_vs_recorded(y_drawn[subset, :n_steps], y_shown[subset, :n_steps], pick(labels),
                                        conditions=pick(conditions), axes=axes[0], time=time,
                                        ylabel=activity_label, labels_title=labels_title, scores=scores,
                                        score_label=spec["name"])
    if ragged:
        _trial_count_row(axes[1], n_going, n_steps, t_all)
        for ax in axes[0]:
            ax.set_xlabel("")
    source = "held-out predictions (cross-validation)" if held_out else "predictions of the refitted model"
    smoothed = f", smoothed over {sigma:g} steps for display" if sigma else ""
    lines = [f"recorded (solid{smoothed}) vs {source}: best, median and worst neuron"]
    if chosen or ragged:
        lines.append("; ".join(filter(None, [chosen and f"{chosen} shown", ragged and crop.strip() +
                                              " (trials per step below, the rest shaded)"])))
    fig.suptitle("\n".join(lines), fontsize="medium")
    return fig


def _latents_figure(kappa, *, labels, conditions, labels_title, time, stimulus, crop):
    """Each latent against time and the first two in a plane, averaged per condition."""
    from matplotlib.figure import Figure

    from . import plotting

    def subplots(n_cols=1, *, figsize):
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.subplots(1, n_cols, squeeze=False)

    rank = kappa.shape[-1]
    shown = min(rank, 3)
    n_panels = shown + (rank >= 2)
    fig, axes = subplots(n_panels, figsize=(max(3.6 * n_panels + 1.4, 6.5), 3.6))
    for r in range(shown):
        plotting.plot_latent_trajectories(kappa, labels, ax=axes[0, r], conditions=conditions, dims=r, time=time,
                                          stimulus=stimulus, cmap="viridis", legend=False)
    if rank >= 2:
        plotting.plot_latent_trajectories(kappa, labels, ax=axes[0, shown], conditions=conditions, dims=(0, 1),
                                          time=time, stimulus=stimulus, cmap="viridis", labels_title=labels_title)
    elif labels is not None or conditions is not None:
        plotting.plot_latent_trajectories(kappa, labels, ax=axes[0, 0], conditions=conditions, time=time,
                                          stimulus=stimulus, cmap="viridis", labels_title=labels_title)
    if conditions is not None:
        what = "mean per condition" + (f", coloured by {labels_title}" if labels is not None else "")
    else:
        what = f"mean per {labels_title}" if labels is not None else "each trial"
    timing = "\nshaded: stimulus" + ("; in the plane ▲ onset, ■ offset" if rank >= 2 else "") if stimulus else ""
    fig.suptitle(f"latents of the chosen rank-{rank} model, {what}{timing}{crop}", fontsize="medium")
    return fig


def _figures(out: Path, search, kappa, y, y_shown, columns, spec, *, labels, conditions, labels_title, stimulus,
             time, activity_label, held_out) -> dict:
    # Figure objects, not pyplot: files only, whatever backend the caller's session uses, and nothing left open
    from matplotlib.figure import Figure

    from . import plotting

    def subplots(n_cols=1, *, figsize):
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.subplots(1, n_cols, squeeze=False)

    files = {}
    fig, ((ax,),) = subplots(figsize=(5.2, 3.6))
    plotting.plot_rank_selection(search, ax=ax)
    ax.set_ylabel(f"cross-validated {spec['name']}")
    # the bars are the SE the search's rule compared: paired fold differences (LowRankRNNRegressorCV's default,
    # or a partial of one_standard_error_rule with paired=True) or each mean's
    paired = search_is_paired(search)
    ax.set_title("rank selection (one-standard-error rule" + (",\nSE of each rank's fold-by-fold difference to the "
                 "best)" if paired else ")"), fontsize="medium")
    fig.savefig(out / "rank_curve.png", dpi=120)
    files["rank_curve"] = "rank_curve.png"

    n_going, n_steps = _shared_steps(y)
    ragged = n_going.min() < n_going.max()
    t_all = np.arange(y.shape[1]) if time is None else np.asarray(time, dtype=float)
    t_shown = None if time is None else t_all[:n_steps]
    crop = (f"\nsteps that at least {SHARED_STEPS:.0%} of the trials reach ({n_steps} of {y.shape[1]})" if ragged
            else "")
    kappa, time = kappa[:, :n_steps], t_shown
    fig = _latents_figure(kappa, labels=labels, conditions=conditions, labels_title=labels_title, time=time,
                          stimulus=stimulus, crop=crop)
    fig.savefig(out / "latents.png", dpi=120)
    files["latents_figure"] = "latents.png"

    which = "cv" if held_out else "fit"
    kind = "cross-validated" if held_out else "in-sample"
    fig = _predictions_figure(y, y_shown, columns[f"{spec['column']}_{which}"], spec, labels=labels,
                              conditions=conditions, labels_title=labels_title, time=time, t_all=t_all,
                              activity_label=activity_label, held_out=held_out, crop=crop)
    fig.savefig(out / "predictions.png", dpi=120)
    files["predictions_figure"] = "predictions.png"

    # R^2 reaches 1 on clean rates; single-trial D^2 and bits per spike are far smaller, so their axes fit the data
    panels = [(spec["column"], spec["name"])] + ([("bits_per_spike", "bits per spike")] if
                                                  spec["column"] == "d2" else [])
    fig, axes = subplots(len(panels), figsize=(5.2 * len(panels), 3.6))
    for ax, (column, name) in zip(axes[0], panels):
        plotting.plot_r2_per_neuron(columns[f"{column}_{which}"], ax=ax, label=f"{kind} {name} per neuron",
                                    xmax=1.0 if column == "r2" else None)
    fig.savefig(out / f"{spec['table']}.png", dpi=120)
    files[spec["figure"]] = f"{spec['table']}.png"
    return files


def write_report(search, X, y, out, *, y_cv=None, labels=None, conditions=None, labels_title="condition",
                 stimulus=None, time=None, activity_label="activity", figures=True, extra=None):
    """Write the model, the rank table and the figures of a fitted rank search to a folder.

    Files: ``model.joblib`` (the refitted estimator), ``summary.json`` (scores per rank: mean, SD over folds and
    SE of the mean, the chosen rank; sizes, with ``trial_lengths`` the shortest and longest trial; ``extra``),
    ``r2_per_neuron.csv``, ``latents.npy`` (NaN after each trial's last observed step: ragged trials) and, with
    matplotlib and ``figures=True``: ``rank_curve.png`` (mean +/- SE per rank, the chosen rank starred),
    ``latents.png`` (each latent against time and the first two against each other, averaged per condition,
    the stimulus shaded), ``predictions.png`` (recorded and predicted activity of the best, median and worst
    neuron), ``r2_per_neuron.png`` (histogram). With trials of different lengths (NaN-padded y) the figures draw
    the steps that at least half of the trials reach and ``predictions.png`` the number of trials per step under
    the neurons; with more than six conditions it draws six, evenly spaced in order.

    The scores are named by the estimator's ``loss``. Squared error: R^2; ``summary.json`` has ``score_name``
    "r2", ``r2_cv`` (mean cross-validated score of the chosen rank), ``median_r2_per_neuron_cv`` and ``r2_fit``
    (the refitted model on all trials); ``r2_per_neuron.csv`` has the columns ``neuron,r2_cv,r2_fit``. Poisson
    (spike counts): the deviance explained D^2 (:func:`~sklearn_lowrank.metrics.d2_poisson_score_trials`, the
    estimator's score) and bits per spike (:func:`~sklearn_lowrank.metrics.bits_per_spike`); ``summary.json``
    has ``score_name`` "poisson_d2", ``d2_cv``, ``median_d2_per_neuron_cv``, ``bits_per_spike_cv`` (of the
    held-out predictions), ``median_bits_per_spike_per_neuron_cv``, ``d2_fit`` and ``bits_per_spike_fit``, and
    no ``r2_*`` key; the table and its figure are ``d2_per_neuron.csv`` (columns
    ``neuron,d2_cv,d2_fit,bits_per_spike_cv,bits_per_spike_fit``) and ``d2_per_neuron.png`` (histograms of
    D^2 and bits per spike); in ``predictions.png`` the recorded counts are smoothed over 2 steps (Gaussian
    sigma) for display. The cross-validated scores per rank are the search's own (the estimator's ``score``:
    leave ``scoring`` unset).

    Parameters
    ----------
    search : fitted GridSearchCV
        A search over ``rank`` with refit, e.g. ``refit=one_standard_error_rule``.
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
    y : array-like of shape (n_trials, n_timesteps, n_neurons)
        The activity the search was fitted to (NaN = not recorded).
    out : str or path-like
        Folder, created if needed.
    y_cv : array-like of shape (n_trials, n_timesteps, n_neurons), optional
        Held-out predictions (``cross_val_predict`` of the chosen model): the figures and the per-neuron scores
        then show held-out fits; without it, the refitted model's in-sample predictions (and the ``*_cv``
        per-neuron columns are NaN).
    labels : array-like of shape (n_trials,), optional
        Label of each trial: figures average and colour by it.
    conditions : array-like of shape (n_trials,), optional
        Condition of each trial when it differs from ``labels`` (e.g. conditions crossing a context with a
        stimulus strength, labelled by strength): figures average per condition and colour each by its label.
    labels_title : str, default="condition"
        Name of the labels in legends.
    stimulus : (float, float), optional
        Stimulus start and stop in the units of ``time``, shaded in the latents figure.
    time : array-like of shape (n_timesteps,), optional
        Time of each step (steps by default).
    activity_label : str, default="activity"
        Axis label of the activity, with its unit (e.g. "rate (spikes/s)", "z-scored rate", "spike count per
        bin").
    figures : bool, default=True
        Draw the figures (needs matplotlib).
    extra : dict, optional
        More entries for ``summary.json`` (e.g. the data file and preprocessing).

    Returns
    -------
    report : Bunch
        ``summary`` (the dict written to summary.json) and ``files`` (name -> file name in ``out``).

    Examples
    --------
    >>> import tempfile, warnings
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.report import write_report
    >>> X, y = make_low_rank_teacher(n_units=8, rank=1, n_inputs=1, n_trials=12, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> search = GridSearchCV(LowRankRNNRegressor(max_iter=5, random_state=0), {"rank": [1, 2]}, cv=3,
    ...                       refit=one_standard_error_rule)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # five epochs do not converge
    ...     search = search.fit(X, y)
    >>> report = write_report(search, X, y, tempfile.mkdtemp(), figures=False)
    >>> sorted(report.files)
    ['latents', 'model', 'r2_per_neuron', 'summary']
    >>> report.summary["ranks"], report.summary["n_splits"]
    ([1, 2], 3)
    """
    import joblib

    table = _rank_table(search)
    best = search.best_estimator_
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 3 or X.ndim != 3 or X.shape[:2] != y.shape[:2]:
        raise ValueError(f"X and y must be trial tensors with the same trials and steps; got {X.shape} and "
                         f"{y.shape}.")
    if y_cv is not None:
        y_cv = np.asarray(y_cv, dtype=np.float32)
        if y_cv.shape != y.shape:
            raise ValueError(f"y_cv must have the shape of y {y.shape}; got {y_cv.shape}.")
    for name, values in (("labels", labels), ("conditions", conditions)):
        if values is not None and np.shape(values) != (y.shape[0],):
            raise ValueError(f"{name} must have shape (n_trials,) = ({y.shape[0]},); got {np.shape(values)}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    spec = _SCORES[getattr(best, "loss", "squared_error")]
    y_fit = best.predict(X)
    columns, scores = spec["scores"](y, y_cv, y_fit, _finite_or_none(table["mean"][int(search.best_index_)]),
                                     _finite_or_none(best.score(X, y)))
    kappa = best.transform(X)
    lengths = observed_lengths(y)  # steps after a trial's last observed step are padding: no latent there
    kappa[np.arange(kappa.shape[1]) >= lengths[:, None]] = np.nan
    files = {"model": "model.joblib", spec["table"]: f"{spec['table']}.csv", "latents": "latents.npy",
             "summary": "summary.json"}
    joblib.dump(best, out / files["model"])
    _write_csv(out / files[spec["table"]], columns)
    np.save(out / files["latents"], kappa)
    if figures:
        held_out = y_cv is not None
        files.update(_figures(out, search, kappa, y, y_cv if held_out else y_fit, columns, spec, labels=labels,
                              conditions=conditions, labels_title=labels_title, stimulus=stimulus, time=time,
                              activity_label=activity_label, held_out=held_out))
    n_trials, n_timesteps, n_neurons = y.shape
    summary = {
        "n_trials": n_trials, "n_timesteps": n_timesteps, "n_inputs": int(X.shape[-1]), "n_neurons": n_neurons,
        "fraction_missing": float(np.isnan(y).mean()),
        "trial_lengths": [int(lengths.min()), int(lengths.max())],  # steps up to each trial's last observed one
        "ranks": table["ranks"], "n_splits": table["n_splits"],
        "mean_test_score": [_finite_or_none(v) for v in table["mean"]],
        "sd_test_score": [_finite_or_none(v) for v in table["sd"]],
        "se_test_score": [_finite_or_none(v) for v in table["se"]],
        "se_paired_to_best": [_finite_or_none(v) for v in table["se_paired"]],
        "score_spread": "sd_test_score: standard deviation of the fold scores; se_test_score: standard error of "
                        "their mean, sd / sqrt(n_splits), the spread the one-standard-error rule uses; "
                        "se_paired_to_best: standard error of each rank's fold-by-fold difference to the best "
                        "mean rank, the spread the rule uses on paired fold differences",
        "best_mean_rank": table["best_mean"],
        "chosen_rank": table["chosen"],
        **scores,
        "score_description": spec["description"],
        "n_iter": int(best.n_iter_),
        "estimator": repr(best),
        **(extra or {}),
        "files": files,
    }
    (out / files["summary"]).write_text(json.dumps(summary, indent=2) + "\n")
    return Bunch(summary=summary, files=files)
