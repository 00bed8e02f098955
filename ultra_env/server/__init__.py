"""The team's shared model server, provisioned from an operator's machine (``invoke server.*``)."""
