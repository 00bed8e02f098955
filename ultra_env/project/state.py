"""The state folder (``.ultra-env/``, git-ignored): what ultra-env wrote last, and the active profile.

It never holds a secret: files are remembered by hash, and only non-secret ``.env`` values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ultra_env.errors import ConfigError, UltraError
from ultra_env.project import files
from ultra_env.project.dotenv import ENV_FILE
from ultra_env.project.envfile import is_secret_key

STATE_DIR = ".ultra-env"
STATE_FILE = "state.json"
JOURNAL = "journal.json"
#: what a render writes in one journaled transaction (operations.converge.apply), relative to the
#: project: the only files recovering an interrupted run may replace
JOURNALED = frozenset({"docker-compose.yml", ENV_FILE, f"{STATE_DIR}/{STATE_FILE}"})
PROFILES = frozenset({"local", "cloud", "hybrid", "mock"})  # config.Profile, without importing pydantic
VERSION = 2  # 2: .env values are kept as fingerprints (envfile.fingerprint), never as text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class State:
    profile: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: `docker compose config --hash` per service at the last successful `up` (models: bound services
    #: carry a container hash that includes what the plugin injected, so only this tells if they changed)
    up_hashes: dict[str, str] = field(default_factory=dict)
    backend_image: str | None = None  # the backend image the rendered docker-compose.yml names

    def to_json(self) -> str:
        env = {k: v for k, v in sorted(self.env.items()) if not is_secret_key(k)}
        body = {
            "version": VERSION,
            "profile": self.profile,
            "files": dict(sorted(self.files.items())),
            "env": env,
            "up_hashes": dict(sorted(self.up_hashes.items())),
            "backend_image": self.backend_image,
        }
        return json.dumps(body, indent=2) + "\n"


def state_dir(root: Path) -> Path:
    return root / STATE_DIR


def ensure_state_dir(root: Path) -> Path:
    """The state folder, created 0700; a link there is refused (everything in it is written)."""
    directory = state_dir(root)
    if directory.is_symlink():
        raise UltraError(
            f"{STATE_DIR} is a symbolic link; ultra-env never writes through links",
            f"remove the link: rm {STATE_DIR} (it is recreated)",
        )
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)
    except OSError as exc:
        raise UltraError(f"cannot create {STATE_DIR}/: {exc.strerror}", f"make {root} writable") from None
    return directory


def journal_path(root: Path) -> Path:
    return state_dir(root) / JOURNAL


def load(root: Path) -> State:
    """The state; refused (ConfigError) while a journal is there that recovery cannot act on,
    since what ultra-env wrote last is then unknown (``files.read_journal`` says why)."""
    files.read_journal(journal_path(root), root, JOURNALED)
    path = state_dir(root) / STATE_FILE
    text = files.read_text(path)
    if text is None:
        return State()
    corrupt = ConfigError(
        f"{STATE_DIR}/{STATE_FILE} is corrupt (not what ultra-env writes)",
        f"remove it (rm {STATE_DIR}/{STATE_FILE}); the next render rebuilds it",
    )
    try:
        data = json.loads(text)
        tables = [data.get(name, {}) for name in ("files", "env", "up_hashes")]
    except (ValueError, AttributeError, RecursionError):
        raise corrupt from None
    profile, image = data.get("profile"), data.get("backend_image")
    strings = all(
        isinstance(t, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in t.items()) for t in tables
    )
    if (
        not strings
        or not (profile is None or (isinstance(profile, str) and profile in PROFILES))
        or not (image is None or isinstance(image, str))
    ):
        raise corrupt
    files_, env, up = (dict(t) for t in tables)
    return State(profile, files_, env, up, image)


def save(root: Path, state: State, txn: files.Transaction | None = None) -> None:
    """Write the state (within ``txn`` when given, so it lands together with the files it describes)."""
    directory = ensure_state_dir(root)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        files.write_atomic(ignore, "*\n", mode=0o600)
    if txn is None:
        files.write_atomic(directory / STATE_FILE, state.to_json(), mode=0o600)
    else:
        txn.write(directory / STATE_FILE, state.to_json(), mode=0o600)
