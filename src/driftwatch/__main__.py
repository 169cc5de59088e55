"""``python -m driftwatch`` is the ``driftwatch`` command."""

from driftwatch.cli import main

raise SystemExit(main())
