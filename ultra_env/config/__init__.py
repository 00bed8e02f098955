"""Configuration: the settings model, its sources with provenance, model names, runtime flags."""
