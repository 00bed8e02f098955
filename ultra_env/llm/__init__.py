"""Talking to models: the providers, one prompt to one or several models, the benchmark."""
