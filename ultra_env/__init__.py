"""ultra-env: provision Ultra's multi-LLM development stack."""

__version__ = "0.1.0"
