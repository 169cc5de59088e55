"""What the daemon keeps across restarts: the SQLite store (windows' checkpoints, alert state, outbox) and the label join store."""
