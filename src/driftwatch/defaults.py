"""The numeric defaults that both the library and the config file use, measured once and defined here.

The bottom layer, next to `driftwatch.errors`: it imports nothing. The config models take their
defaults from here (``window.min_rows``, ``performance.min_labels``), and so do the library functions
that a notebook calls without a config (`driftwatch.offline`, `driftwatch.performance.metrics`), so a
check gives the same verdict whether its settings came from a file or from keyword arguments.
"""

from __future__ import annotations

__all__ = ["MIN_LABELS_DEFAULT", "MIN_ROWS_DEFAULT"]

# window.min_rows' default: the smallest window on which the default drift rule's false-alarm rate on
# unshifted data stays below 1% for every feature mix measured by bench/false_alarms.py (README).
MIN_ROWS_DEFAULT = 500

# performance.min_labels' default: the fewest labelled rows from which a typical rule (accuracy
# max_drop 0.05) breaches in under 1% of checks of an unchanged model, for every model measured by
# bench/performance_false_alarms.py (README, "Why 1000"); at 100 it breached in up to 18%.
MIN_LABELS_DEFAULT = 1000
