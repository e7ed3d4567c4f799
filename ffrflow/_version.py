"""Single source of the ffrflow version."""

__version__ = "0.1.0"
