"""cometrecon: reconcile what an LLM API gateway charged against your own logs."""

__version__ = "0.1.0"
