"""`docker-model docker-cli-plugin-metadata`, read from the state file with the standard library's
json alone: the docker CLI asks every plugin for it on each `docker info` and `docker --help`, and
asks this one before each `docker model …` it runs (docker/cli `cli-plugins/manager` newPlugin), so
the launcher answers it without importing the CLI (about 50 ms of Python imports each time)."""

from __future__ import annotations

import json
import os

DEFAULT_FORMAT = "new"  # state.DEFAULTS["format"]


def cli_version(fmt: str, pinned: str | None) -> str:
    """The version the plugin reports: the pinned one, else v1.0.6 (new format) or v1.0.2 (old)."""
    return pinned or ("v1.0.6" if fmt == "new" else "v1.0.2")


def metadata(version: str) -> dict[str, str]:
    return {
        "SchemaVersion": "0.1.0",
        "Vendor": "Docker Inc.",
        "Version": version,
        "ShortDescription": "Docker Model Runner",
        "URL": "https://github.com/docker/model-runner",
    }


def main(home: str) -> int:
    try:
        with open(os.path.join(home, "state.json")) as f:
            stored = json.load(f)
    except FileNotFoundError:
        stored = {}
    version = cli_version(stored.get("format", DEFAULT_FORMAT), stored.get("cli_version"))
    print(json.dumps(metadata(version), indent=4))
    return 0
