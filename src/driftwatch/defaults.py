"""The numeric defaults that both the library and the config file use, measured once and defined here.

The bottom layer, next to `driftwatch.errors`: it imports nothing. The config models take their
defaults from here (``window.min_rows``, ``performance.min_labels``), and so do the library functions
that a notebook calls without a config (`driftwatch.offline`, `driftwatch.performance.metrics`), so a
check gives the same verdict whether its settings came from a file or from keyword arguments.
"""

from __future__ import annotations

__all__ = [
    "CHALLENGER_WORSE_BY_DEFAULT",
    "MIN_LABELS_DEFAULT",
    "MIN_ROWS_DEFAULT",
    "SEGMENT_MIN_ROWS_DEFAULT",
]

# window.min_rows' default: the smallest window on which the default drift rule's false-alarm rate on
# unshifted data stays below 1% for every feature mix measured by bench/false_alarms.py (README).
MIN_ROWS_DEFAULT = 500

# performance.min_labels' default: the fewest labelled rows from which a typical rule (accuracy
# max_drop 0.05) breaches in under 1% of checks of an unchanged model, for every model measured by
# bench/performance_false_alarms.py (README, "Why 1000"); at 100 it breached in up to 18%.
MIN_LABELS_DEFAULT = 1000

# segments.min_rows' default (at least window.min_rows): the rows a segment's window needs for a verdict and
# its own reference rows need to judge it (fewer: the whole reference). Above 1000 reference rows the
# default rule picks distance tests; at 500..1000 own rows it picked p-value tests, whose single-column
# prediction_drift breaches in 5% of checks of unchanged data, persistently for a given reference sample:
# about 150 false segment firings per model-week at 500, 11 at 1000, measured by
# bench/scope_false_alarms.py (README, "How often a segment alert is false").
SEGMENT_MIN_ROWS_DEFAULT = 1000

# versions.champion_challenger.alert.worse_by's default (and the library's ChallengerSettings'): with two
# equally good versions the challenger alert fired 18.8 times a week at 0 and 0.3 at 0.01, catching a
# 3-point drop in 55 instead of 30 minutes (bench/scope_false_alarms.py, README).
CHALLENGER_WORSE_BY_DEFAULT = 0.01
