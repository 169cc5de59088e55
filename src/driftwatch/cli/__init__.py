"""The `driftwatch` command: argument parsing, printing and exit codes on top of the service and the library."""
