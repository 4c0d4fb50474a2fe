"""The command line's arguments (argparse), apart from the work they drive (``_cli``)."""

from __future__ import annotations

import argparse


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The parser of ``sklearn-lowrank``; ``commands`` maps "demo" and "fit" to the functions they run."""
    parser = argparse.ArgumentParser(prog="sklearn-lowrank", description="Fit low-rank RNNs to neural activity.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub).set_defaults(func=commands["demo"])
    fit = _add_fit(sub)
    for add_group in (_add_preparation, _add_conditions, _add_table_columns, _add_nwb_options):
        add_group(fit)
    fit.set_defaults(func=commands["fit"])
    return parser


def _add_demo(sub) -> argparse.ArgumentParser:
    """The ``demo`` subcommand: a built-in teacher fitted and its recovery reported."""
    demo = sub.add_parser("demo", help="fit a low-rank RNN to a built-in synthetic teacher and report recovery")
    demo.add_argument("--rank", type=int, default=2)
    demo.add_argument("--n-units", type=int, default=200)
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default: cpu)")
    demo.add_argument("--verbose", type=int, default=0)
    return demo


def _add_fit(sub) -> argparse.ArgumentParser:
    """The ``fit`` subcommand and its main options: the data, the loss, the ranks, the folds, the fits."""
    fit = sub.add_parser(
        "fit", help="choose the rank of a recording by cross-validation, refit and write a report",
        description="Choose the rank by cross-validation (one-standard-error rule), refit on all trials and write "
                    "model.joblib, summary.json, r2_per_neuron.csv, latents.npy and the figures rank_curve.png, "
                    "latents.png, predictions.png and r2_per_neuron.png to --out (with --loss poisson, "
                    "d2_per_neuron.csv and d2_per_neuron.png: Poisson deviance explained and bits per spike). "
                    "Rates in spikes/s should be z-scored (--zscore): the network's states are of order 1. Spike "
                    "counts are fitted as they are with --loss poisson.",
    )
    fit.add_argument("data", metavar="DATA",
                     help="an .npz file with arrays X (n_trials, n_timesteps, n_inputs) and y (n_trials, "
                          "n_timesteps, n_neurons; NaN = not recorded) and optionally per-trial arrays (for "
                          "--groups, --labels), a long-format table .csv or .parquet (one row per trial and "
                          "time bin, see --trial-column), or an .nwb file (needs pynwb). Trials of different "
                          "lengths: pad y with NaN and X with zeros after each trial's end (a table is padded so)")
    fit.add_argument("--loss", choices=("squared_error", "poisson"), default="squared_error",
                     help="squared_error: y is activity (rates), scored by R^2; poisson: y holds spike counts per "
                          "bin (single trials welcome; an NWB file is read as counts), fitted by the Poisson "
                          "likelihood and scored by the deviance explained D^2 and bits per spike; --zscore and "
                          "--smooth are refused, --bin sums counts (default: squared_error)")
    fit.add_argument("--ranks", default="1-5", help="candidate ranks, e.g. '1-5' or '1,2,4' (default: 1-5)")
    fit.add_argument("--cv", type=int, default=5, help="number of cross-validation folds (default: 5)")
    fit.add_argument("--out", required=True, metavar="DIR", help="folder for the model and the report")
    fit.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default: cpu)")
    fit.add_argument("--max-iter", type=int, default=200, help="maximum epochs per fit (default: 200)")
    fit.add_argument("--alpha", type=float, default=0.2, help="dt / tau (default: 0.2)")
    fit.add_argument("--output-activation", choices=("identity", "tanh"), default="identity",
                     help="compare y with the states x (identity) or the rates tanh(x), which need y in (-1, 1) "
                          "(default: identity)")
    fit.add_argument("--n-jobs", type=int, default=None,
                     help="parallel fits of the folds (default: 1; warnings of worker processes are not shown)")
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                     help="progress bar on stderr (auto: only on a terminal)")

    return fit


def _add_preparation(fit) -> None:
    """Options of the transformers that prepare the recording, in the order they run."""
    prep = fit.add_argument_group("preparing the recording (the package's transformers, in this order)")
    prep.add_argument("--window", nargs=2, type=float, default=None, metavar=("START", "STOP"),
                      help="time window kept: time steps [START, STOP) of an .npz file; ms around the alignment "
                           "time of an .nwb file (default: everything; 0 1000 for NWB)")
    prep.add_argument("--bin", type=_positive_int, default=1, metavar="N",
                      help="average N consecutive steps of X and y (TimeBinner; with --loss poisson the counts "
                           "of y are summed, a last incomplete bin is dropped and a bin with a missing step is "
                           "missing; default: 1)")
    prep.add_argument("--smooth", type=_non_negative_float, default=0.0, metavar="SIGMA",
                      help="Gaussian smoothing of y over time, SIGMA in steps, NaN-aware (GaussianSmoother; "
                           "default: 0, none)")
    prep.add_argument("--zscore", action="store_true",
                      help="z-score each neuron of y over trials and time, NaN-aware (TrialStandardScaler); "
                           "recommended for rates in spikes/s")


def _add_conditions(fit) -> None:
    """Options naming the trials' conditions (folds, figures) and the stimulus period."""
    cond = fit.add_argument_group("conditions")
    cond.add_argument("--groups", metavar="KEY",
                      help="per-trial array (npz) or trials column (NWB) of condition labels: folds hold out "
                           "whole conditions (GroupKFold) and the figures average and colour by condition")
    cond.add_argument("--labels", metavar="KEY",
                      help="per-trial labels for the figures only (default: those of --groups)")
    cond.add_argument("--stimulus", nargs=2, type=float, default=None, metavar=("START", "STOP"),
                      help="stimulus period in time steps (ms for NWB), shaded in the latents figure and written to "
                           "summary.json; the way to state it when the inputs do not show it (default: the steps "
                           "where the inputs, averaged over the trials still going (their observed steps, not the "
                           "padding after a shorter trial's end), change most from their value at the start of "
                           "the trial)")


def _add_table_columns(fit) -> None:
    """Options reading a long-format table."""
    table = fit.add_argument_group("long-format tables (.csv, .parquet: one row per trial and time bin)")
    table.add_argument("--trial-column", default="trial", metavar="COLUMN",
                       help="column of the trial of each row (default: trial)")
    table.add_argument("--time-column", default="time", metavar="COLUMN",
                       help="column ordering the bins of a trial; one row per bin (default: time)")
    table.add_argument("--neuron-columns", nargs="*", default=None, metavar="COLUMN",
                       help="columns of the activity (default: every numeric column other than the trial, time, "
                            "input, --groups and --labels columns); --groups and --labels name columns constant "
                            "within each trial")


def _add_nwb_options(fit) -> None:
    """Options reading an NWB file (and the input columns of a table)."""
    nwb = fit.add_argument_group("NWB files")
    nwb.add_argument("--input-columns", nargs="*", default=[], metavar="COLUMN",
                     help="trials columns turned into inputs (NWB); columns of the inputs (tables)")
    nwb.add_argument("--align-to", default="start_time", help="trials column of the alignment times")
    nwb.add_argument("--bin-size", type=float, default=10.0, help="ms per time step (default: 10)")
