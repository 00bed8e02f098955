"""The authenticating proxy's configuration and its key list, as text (pure: no I/O but the template).

Model Runner has no authentication; nginx, a well-kept proxy any team can audit, stands in front of
it and admits a request only with a key listed in ``keys.map`` (nginx's ``map``: one line per key).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

from ultra_env.config.settings import Settings
from ultra_env.operations.templates import render_template

TEMPLATE = "team-proxy.conf.j2"
CONTAINER = "ultra-team-proxy"
VOLUME = "ultra-team-proxy-keys"
KEYS_DIR = "/etc/ultra-proxy"
KEYS_FILE = f"{KEYS_DIR}/keys.map"
TLS_DIR = f"{KEYS_DIR}/tls"
CONF_FILE = "/tmp/nginx.conf"
LABEL = "ultra-env.proxy-config"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}\Z")
_LINE = re.compile(r'^"Bearer ([A-Za-z0-9_-]+)"\s+"([a-z0-9][a-z0-9._-]*)";$')


def conf(settings: Settings, templates: Path, *, listen: str | None = None, upstream: str | None = None) -> str:
    """nginx's configuration: on the server (``--network host``) by default; ``listen`` and
    ``upstream`` for a cluster (the runner's Service)."""
    server = settings.server
    host = f"[{server.bind}]" if ":" in server.bind else server.bind
    context = {
        "listen": listen or f"{host}:{server.proxy_port}",
        "upstream": upstream or f"127.0.0.1:{server.runner_port}",
        "body_limit": "4m",
        "tls": server.tls_cert is not None,
        "tls_dir": TLS_DIR,
    }
    return render_template(templates, TEMPLATE, context)


def digest(conf_text: str, settings: Settings, tls: dict[str, str]) -> str:
    """What the running proxy was made from (``tls``: its certificate and key files' texts): a change
    of any of it recreates the container."""
    server = settings.server
    made_of = "\n".join([conf_text, server.proxy_image, *tls.values()])
    return hashlib.sha256(made_of.encode()).hexdigest()[:16]


def install_tls(name: str) -> list[str]:
    """Writes standard input to the TLS file ``name`` in the proxy's volume, readable by root only."""
    return ["sh", "-c", f"umask 077 && mkdir -p {TLS_DIR} && cat > {TLS_DIR}/{name}"]


def command() -> list[str]:
    """The container's command: the configuration from the environment, an empty key list at first."""
    script = f'touch {KEYS_FILE} && printf "%s" "$ULTRA_PROXY_CONF" > {CONF_FILE} && exec nginx -c {CONF_FILE}'
    return ["sh", "-c", script]


def new_key() -> str:
    return "ultra-" + secrets.token_urlsafe(32)


def parse_keys(text: str) -> dict[str, str]:
    """Developer name to key; lines that are not ultra-env's are refused, not guessed at."""
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise ValueError(f"{KEYS_FILE}:{number} is not a key line ultra-env wrote")
        keys[match.group(2)] = match.group(1)
    return keys


def keys_text(keys: dict[str, str]) -> str:
    return "".join(f'"Bearer {key}" "{name}";\n' for name, key in sorted(keys.items()))
