"""driftwatch: watch deployed ML models for data drift, from Kafka prediction logs to alerts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("driftwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
