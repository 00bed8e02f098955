"""Model Runner's inference backends: llama.cpp installed while the machine is online.

On macOS and Windows since runner v1.2.6, llama.cpp is a deferred backend: ``Not Installed`` until
its first use downloads it from Docker Hub (reference sections 1 and 10.1), so a first use offline
fails. ``install`` asks for it now: ``POST /engines/install-backend`` (blocks until done, and answers
200 even when the download failed: the outcome is in ``GET /engines/status``), or through the CLI
``docker model install-runner --backend llama.cpp`` when the API does not answer from the host."""

from __future__ import annotations

from ultra_env import http
from ultra_env.engine.run import TaskResult, changed, failed, from_error, ok, skipped
from ultra_env.operations import dmr
from ultra_env.operations.models import Connection

LLAMA = "llama.cpp"
INSTALL_TIMEOUT = 1800.0  # a download of the engine itself


def needs_install(state: str | None) -> bool:
    """``Not Installed`` (deferred, not yet used) or a failed install (``Error: failed to install``)."""
    low = (state or "").lower()
    return low.startswith("not installed") or low.startswith("error: failed to install")


def installing(state: str | None) -> bool:
    return (state or "").lower().startswith("installing")


def install(conn: Connection, *, check: bool, timeout: float = INSTALL_TIMEOUT) -> TaskResult:
    name = f"install {LLAMA}"
    status = conn.status
    state = status.backends.get(LLAMA) if status is not None else None
    if state is None:
        return skipped(name, "the runner does not report its backends")
    if not needs_install(state) and not installing(state):
        return ok(name, state)
    if check:
        return changed(name, f"would install it ({state}): the first use would download it")
    fix = (
        f"connect to the internet (or a registry mirror) and run invoke setup again, or docker model "
        f"install-runner --backend {LLAMA}"
    )
    try:
        after = _install_api(conn.runner, timeout) if isinstance(conn.runner, dmr.Api) else _install_cli(timeout)
    except dmr.DmrError as exc:
        return from_error(name, exc, fix)
    if after is None or not after.lower().startswith("running"):
        return failed(name, f"{LLAMA} is still not usable: {after or 'no status reported'}", fix)
    return changed(name, f"installed: {after}")


def _install_api(api: dmr.Api, timeout: float) -> str | None:
    try:
        response = http.post(f"{api.root}/engines/install-backend", json={"backend": LLAMA}, timeout=timeout)
    except http.HttpError as exc:
        raise dmr.Transient(f"{api.root} did not answer: {exc.cause}", "invoke doctor") from None
    if response.status_code != 200:
        said = response.text.strip()[:200]
        raise dmr.DmrError(f"Model Runner could not install {LLAMA} ({response.status_code}): {said}")
    try:
        answer = http.get(f"{api.root}/engines/status", timeout=api.timeout)
        backends = answer.json()
    except (http.HttpError, ValueError):
        return None
    return str(backends.get(LLAMA)) if isinstance(backends, dict) and backends.get(LLAMA) else None


def _install_cli(timeout: float) -> str | None:
    done = dmr.cli("install-runner", "--backend", LLAMA, timeout=timeout)
    if not done.ok:
        said = (done.output.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise dmr.DmrError(f"docker model install-runner --backend {LLAMA}: {said}")
    return dmr.status(60.0).backends.get(LLAMA)
