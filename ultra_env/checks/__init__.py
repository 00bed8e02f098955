"""Verdicts: doctor's rules over the facts, and health's end-to-end checks."""
