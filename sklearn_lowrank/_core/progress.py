"""Progress of a fit: the one channel that names the stage, the iteration, the loss, the time spent and left."""

from __future__ import annotations

import sys
import time

__all__ = ["Reporter"]


class Reporter:
    """The one channel for training progress: the stage, the iteration, the loss, the time spent and left.

    Parameters
    ----------
    verbose : int
        0: silent; 1: one line per epoch (``Iteration 3 (adam 3), loss = 0.0123, 1.2 s, ~4 s left``) and one line
        when a stage starts; >= 2: a tqdm bar per stage, named after it.
    total : int
        Number of epochs planned (all stages).
    stream : file-like, default=sys.stdout
    desc : str, default="fit"
        Name of the bar before the first stage starts.

    Examples
    --------
    >>> import io
    >>> from sklearn_lowrank._core.progress import Reporter
    >>> out = io.StringIO()
    >>> reporter = Reporter(1, 20, stream=out)
    >>> reporter.stage("adam", 10)
    >>> reporter.epoch(1, 0.5, None)
    >>> reporter.stage("lbfgs", 10)
    >>> reporter.epoch(2, 0.25, None, epochs_left=3)
    >>> print(out.getvalue().replace("0.0 s", "T"))  # doctest: +ELLIPSIS
    stage adam (up to 10 iterations)
    Iteration 1 (adam 1), loss = 0.50000000, T...
    stage lbfgs (up to 10 iterations)
    Iteration 2 (lbfgs 1), loss = 0.25000000, T, ~... s left
    <BLANKLINE>
    """

    def __init__(self, verbose: int, total: int, stream=None, desc: str = "fit") -> None:
        self.verbose = verbose
        self.stream = sys.stdout if stream is None else stream
        self.total, self.desc = total, desc
        self._bar = None
        self._start = time.perf_counter()
        self._stage, self._stage_start, self._stage_epochs = desc, self._start, 0

    def stage(self, name: str, max_iter: int) -> None:
        """A new stage (solver) starts: its own counter, announced (never a silent restart)."""
        self._stage, self._stage_start, self._stage_epochs = name, time.perf_counter(), 0
        if self.verbose <= 0:
            return
        if self.verbose >= 2:
            from tqdm.auto import tqdm

            self.close()
            self._bar = tqdm(total=max_iter, desc=name, file=self.stream, leave=False)
            return
        self.stream.write(f"stage {name} (up to {max_iter} iterations)\n")

    def epoch(self, epoch: int, loss: float, validation_loss: float | None, epochs_left: float | None = None):
        """Report epoch ``epoch`` (counted over all stages); ``epochs_left`` estimates the epochs left in the stage
        (None: no estimate, nothing shown)."""
        self._stage_epochs += 1
        if self.verbose <= 0:
            return
        if self._bar is not None:
            postfix = {"loss": f"{loss:.4g}"}
            if validation_loss is not None:
                postfix["val"] = f"{validation_loss:.4g}"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)
            return
        now = time.perf_counter()
        line = f"Iteration {epoch} ({self._stage} {self._stage_epochs}), loss = {loss:.8f}"
        if validation_loss is not None:
            line += f", validation loss = {validation_loss:.8f}"
        line += f", {now - self._start:.1f} s"
        if epochs_left is not None:
            per_epoch = (now - self._stage_start) / self._stage_epochs
            line += f", ~{per_epoch * epochs_left:.0f} s left"
        self.stream.write(line + "\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
