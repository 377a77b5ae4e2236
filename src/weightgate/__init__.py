"""weightgate: a supply-chain promotion gate for AI model artifacts."""

__version__ = "0.1.0"
