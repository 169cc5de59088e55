"""The exceptions driftwatch raises for problems a user can fix, rooted in `DriftwatchError`.

The bottom layer: it imports nothing from driftwatch, so every module (library, service and CLI alike)
can raise these. Each message names what is wrong (the file, column, config key or argument), the
value, and the fix; the CLI prints it on one line without a traceback. Catch `DriftwatchError` to handle
them all; an exception that is not one is a bug in driftwatch. Classes that were ``ValueError`` before
the hierarchy existed stay ``ValueError`` too, so code catching that keeps working.
"""

from __future__ import annotations

__all__ = [
    "CBPEError",
    "CheckError",
    "ConfigError",
    "DLEError",
    "DriftwatchError",
    "ReferenceDataError",
    "ReportUnavailableError",
    "TemplateError",
    "WebhookCommandError",
]


class DriftwatchError(Exception):
    """The base of every error driftwatch raises for a problem in its input rather than in itself.

    Raised (as one of its subclasses) by the Python API, the CLI commands and the daemon's start-up when
    a file, a data frame, a config key or an argument cannot be used. The message says what, where and
    the fix: read it, correct the input and call again. ``except driftwatch.DriftwatchError`` catches
    all of them.
    """


class ConfigError(DriftwatchError):
    """The configuration cannot be used; the message says where, what and how to fix it.

    Raised when the config file is loaded (``driftwatch run``, ``validate-config``, every command given
    ``--config``): an unknown or misspelt key, a wrong type, a missing reference file or secret. The
    message starts with the key path (``models.credit-risk.window.min_rows``); fix that key in the file.
    """


class ReferenceDataError(DriftwatchError):
    """A reference file or saved profile cannot be read, or lacks a column it should have.

    Raised when a reference is loaded (the daemon's start-up, ``driftwatch check``, ``profile``,
    `driftwatch.load_profile`): the file is missing, unreadable or of an unsupported type, a column
    repeats, a configured feature or the label column is absent, a saved profile is of another format
    version. Fix the file (or the feature names), or rebuild the profile with ``driftwatch profile``.
    """


class CheckError(DriftwatchError):
    """The inputs of a one-shot check cannot be compared; the message names the file or column and the fix.

    Raised by ``driftwatch check`` and `driftwatch.check`: a file without rows, reference and current
    data that share no column, a named column missing from one side, a label or prediction column that
    performance needs but is absent. Name the columns to check, or fix the data.
    """


class TemplateError(DriftwatchError, ValueError):
    """A webhook template that cannot be used; the message names the problem and the fix.

    Raised when a target's ``template`` is loaded (config loading, ``driftwatch webhooks test``): an
    unknown built-in name, an unreadable file, a placeholder that names no event field. Fix the
    template file or pick a built-in one (generic, airflow, github, slack).
    """


class DLEError(DriftwatchError, ValueError):
    """The reference cannot support DLE (too few labelled rows, a column missing or not numeric).

    Raised when a regression's performance is estimated without labels (``performance.estimate`` of a
    regression model, `driftwatch.performance.dle.DLE`): DLE fits a loss model on at least a hundred
    reference rows with the features, a numeric prediction and a numeric label. The message names
    the column and what to change.
    """


class CBPEError(DriftwatchError, ValueError):
    """The reference cannot support CBPE (too few rows, a single class) or the input is not scores.

    Raised when performance is estimated without labels (`driftwatch.estimate_performance`, a model's
    ``performance.estimate``): CBPE needs a reference of at least a hundred labelled rows with both
    classes, and predictions that are the model's probability of the positive class, not hard labels.
    Give it such a reference and scores, or turn the estimate off.
    """


class ReportUnavailableError(DriftwatchError):
    """A model's report cannot be made now (no check yet, no data in its window); the message says why.

    Raised by the daemon's report view, answered as HTTP 409 with the message. Nothing is wrong: wait
    until the model's window holds enough rows for a check, then ask again.
    """


class WebhookCommandError(DriftwatchError):
    """A mistake in a ``driftwatch webhooks`` command line (unknown target, model or delivery id).

    Raised by ``driftwatch webhooks test | list | retry`` and printed without a traceback. The message
    lists the names that exist; run the command again with one of them.
    """
