"""The run: its tasks and results, its context, the project lock, redaction."""
