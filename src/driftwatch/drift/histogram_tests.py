"""Drift methods on binned or counted data: psi, kl_div, hellinger, TVD, g_test, fisher_exact.

Registered in the catalogue of `driftwatch.drift.stattests`.
"""

from __future__ import annotations
