"""The command line's data: arguments checked, the recording read, prepared and checked (``_cli`` runs them)."""

from __future__ import annotations

import re
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

#: Leading bytes of an .npz (zip) archive and of a single .npy array.
_ZIP_MAGIC, _NPY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06"), b"\x93NUMPY"
#: Activity whose typical magnitude exceeds this is read as raw rates (e.g. spikes/s) for the scale warning.
_RAW_SCALE = 5.0


class CLIError(ValueError):
    """A problem with the arguments or the data, reported as one line with exit status 2."""


def say(kind: str, message: str) -> None:
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


def check_device(device: str) -> str:
    from ._utils import check_device as check

    try:
        return str(check(device))
    except ValueError as exc:
        raise CLIError(f"--device: {exc}") from None


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
                               bin_size=args.bin_size, input_columns=args.input_columns or (),
                               output="counts" if args.loss == "poisson" else "rates")
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except (OSError, KeyError) as exc:
        raise CLIError(f"cannot read {path} as an NWB file: {exc}") from None


#: Suffixes of the long-format tables read with pandas (one row per trial and time bin).
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _read_table(path: Path):
    try:
        import pandas as pd
    except ImportError:
        raise CLIError(f"reading {path} needs pandas (pip install pandas).") from None
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except ImportError as exc:  # Parquet needs pyarrow or fastparquet
        raise CLIError(f"reading {path}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read {path} as a {path.suffix} table: {exc}") from None


def _load_table(path: Path, args) -> tuple[np.ndarray, np.ndarray, dict]:
    """A long-format table: trials padded to the longest (X zeros, y NaN after each end); --groups/--labels
    columns read one value per trial."""
    from .datasets import trials_from_dataframe

    df = _read_table(path)
    per_trial = [k for k in dict.fromkeys((args.groups, args.labels)) if k is not None and k in df.columns]
    try:
        data = trials_from_dataframe(df, trial=args.trial_column, time=args.time_column,
                                     neurons=args.neuron_columns or None, inputs=args.input_columns or (),
                                     per_trial=per_trial, padded=True)
    except (TypeError, ValueError) as exc:
        option = {"trial=": "--trial-column", "time=": "--time-column", "neurons": "--neuron-columns",
                  "inputs": "--input-columns"}
        flag = next((v for k, v in option.items() if str(exc).startswith(k)), None)
        raise CLIError(f"{flag + ': ' if flag else ''}{path}: {exc}") from None
    return data.X, data.y, data.per_trial


def _check_arrays(X, y) -> tuple[np.ndarray, np.ndarray]:
    """The estimators' own validator (3D only here), plus the two trials cross-validation needs."""
    from ._validation import check_trials_X_y

    try:
        with warnings.catch_warnings():
            # the scale is judged after --zscore/--smooth by check_scale, with the command line's own fix
            warnings.filterwarnings("ignore", message=r"[Xy] has values up to", category=UserWarning)
            X, y, _, _ = check_trials_X_y(X, y, allow_2d=False)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if y.shape[0] < 2:
        raise CLIError(f"y {y.shape} needs at least 2 trials to cross-validate.")
    return X, y


def _check_counts(y) -> None:
    """The estimators' check of Poisson targets, at the door: negative y is an error that names the option."""
    from ._counts import check_counts

    try:
        with warnings.catch_warnings():
            # silent neurons are warned about by each fit, shown once by the command line with the fits' warnings
            warnings.simplefilter("ignore", UserWarning)
            check_counts(y, None)
    except ValueError as exc:
        raise CLIError(f"--loss poisson: {exc} (--loss squared_error fits activity of any sign.)") from None


def check_loss_options(args) -> None:
    """Refuse preprocessing that turns spike counts into something the Poisson likelihood does not describe."""
    if args.loss != "poisson":
        return
    if args.zscore:
        raise CLIError("--zscore with --loss poisson: z-scored counts are negative and no longer counts; drop "
                       "--zscore (the Poisson readout maps the network's states to each neuron's expected counts "
                       "itself) or fit z-scored activity with --loss squared_error.")
    if args.smooth > 0:
        raise CLIError(f"--smooth {args.smooth:g} with --loss poisson: smoothed counts are correlated across bins "
                       "and not counts, while the Poisson likelihood assumes independent counts per bin; drop "
                       "--smooth (the network's dynamics smooth the predicted rates) or fit smoothed rates with "
                       "--loss squared_error.")


def trial_labels(conditions: dict, key: str | None, option: str, n_trials: int):
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
    table = path.suffix.lower() in _TABLE_SUFFIXES
    X, y, conditions = (_load_nwb(path, args) if nwb else _load_table(path, args) if table else _load_npz(path))
    X, y = _check_arrays(np.asarray(X), np.asarray(y))
    if args.loss == "poisson":
        _check_counts(y)
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


def _bin_counts(X, y, size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Sum counts over whole bins: the expected count of a bin grows with its width, so every bin must cover
    ``size`` steps. The last incomplete bin is dropped and a bin with an unrecorded step is unrecorded (NaN): a
    partial sum would read as a low count."""
    from .preprocessing import TimeBinner

    n_kept = (y.shape[1] // size) * size
    X, y = X[:, :n_kept], y[:, :n_kept]
    sums = TimeBinner(size, statistic="sum")
    partial = sums.fit_transform(np.isnan(y).astype(np.float32)) > 0
    y = sums.fit_transform(y)
    y[partial] = np.nan
    return TimeBinner(size).fit_transform(X), y, (f"TimeBinner({size}) on X, TimeBinner({size}, "
                                                  "statistic='sum') on the counts y")


def preprocess(X, y, args) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """--bin (X and y), --smooth and --zscore (y), in this order; the steps done, for the summary."""
    from .preprocessing import GaussianSmoother, TimeBinner, TrialStandardScaler

    steps = []
    if args.bin > 1:
        if args.bin > y.shape[1]:
            raise CLIError(f"--bin {args.bin} is longer than the {y.shape[1]} time steps of a trial.")
        if args.loss == "poisson":
            n_steps = y.shape[1]
            X, y, step = _bin_counts(X, y, args.bin)
            dropped = n_steps - args.bin * y.shape[1]
            steps.append(step + (f" ({dropped} last steps dropped: an incomplete bin)" if dropped else ""))
        else:
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
    """Refuse activity that tanh rates cannot reach; warn about raw rates, with the option that fixes them.

    Spike counts (--loss poisson) are fitted at any scale: the Poisson readout has its own gain and offsets.
    """
    if args.loss == "poisson":
        return
    observed = np.abs(y[np.isfinite(y)])
    low, high = float(np.nanmin(y)), float(np.nanmax(y))
    if args.output_activation == "tanh" and (low <= -1.0 or high >= 1.0):
        raise CLIError(f"--output-activation tanh predicts rates tanh(x) in (-1, 1) but y ranges from {low:.3g} "
                       f"to {high:.3g}; use --output-activation identity (with --zscore for raw rates) or "
                       "scale y into (-1, 1) first.")
    typical = float(np.percentile(observed, 90)) if observed.size else 0.0
    if not args.zscore and typical > _RAW_SCALE:
        say("warning", f"y looks like raw rates (from {low:.3g} to {high:.3g}, 90% of |y| below {typical:.3g}); "
                        "the network's states are of order 1 and their mean would dominate the fit: pass "
                        "--zscore (spike counts: --loss poisson fits them as they are).")


def stimulus_period(X, args, lengths=None):
    """--stimulus, or the steps where the inputs leave their value at the start of the trial (None if never).

    ``lengths``: the number of steps of each trial (the rest is padding, e.g. of ragged trials, which is not a
    change of the inputs); the inputs are averaged over the trials still going at each step.
    """
    if args.stimulus is not None:
        start, stop = args.stimulus
        if not start < stop:
            raise CLIError(f"--stimulus {start:g} {stop:g}: START must be below STOP.")
        return float(start), float(stop)
    if X.shape[-1] == 0:
        return None
    going = np.ones(X.shape[:2], bool) if lengths is None else np.arange(X.shape[1]) < np.asarray(lengths)[:, None]
    n_going = going.sum(axis=0)
    change = (np.abs(X - X[:, :1]) * going[..., None]).sum(axis=0) / np.maximum(n_going, 1)[:, None]
    change = change.max(axis=-1)  # (n_timesteps,), over the observed steps only
    if change.max() <= 0:
        return None
    on = np.nonzero(change > 0.5 * change.max())[0]
    return float(on[0]), float(on[-1] + 1)
