"""The invoke-facing layer: the commands behind tasks.py, and all printing."""
