"""Command line: ``python -m sklearn_lowrank`` (and the ``sklearn-lowrank`` console script).

Subcommands:

- ``demo``: fit a low-rank RNN to a built-in synthetic teacher and report the recovery of its connectivity;
- ``fit DATA --ranks 1-5 --cv 5 --out DIR``: choose the rank of a recording by cross-validation, refit, and write
  the fitted estimator and a report (:func:`sklearn_lowrank.report.write_report`) to DIR. ``--zscore``,
  ``--smooth``, ``--bin`` and ``--window`` prepare the recording; ``--groups KEY`` holds out whole conditions.

Errors in the arguments or the data end the command with a one-line message on stderr and exit status 2.
"""

import sys

from ._cli import main
from ._cli_data import parse_ranks

__all__ = ["main", "parse_ranks"]

if __name__ == "__main__":
    sys.exit(main())
