"""``python -m driftwatch`` is the ``driftwatch`` command."""

from driftwatch.cli.main import main

raise SystemExit(main())
