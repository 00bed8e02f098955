"""The project's own files: the transaction that writes them, `.env` as Compose reads it, the state."""
