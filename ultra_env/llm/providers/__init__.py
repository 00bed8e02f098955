"""LLM providers behind one request shape and one response shape (see ``base``)."""
