"""Stand-in for Ultra's backend and worker, used by ultra-env's tests (stdlib only)."""
