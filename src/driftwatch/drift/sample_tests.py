"""Drift methods on the raw samples: anderson, cramer_von_mises, ed, es, t_test, mannw, empirical_mmd.

Registered in the catalogue of `driftwatch.drift.stattests`.
"""

from __future__ import annotations
