#!/usr/bin/env bash
# Lint, format and type checks, as configured in pyproject.toml; run before the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m ruff check .
python -m ruff format --check .
python -m mypy
python benchmarks/imports.py
