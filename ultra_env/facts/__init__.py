"""Facts about the machine: each a command plus a pure parser of its output."""
