"""Developers' keys on the team's proxy (``invoke server.keys``): listed by name, added, revoked.

The list lives on the server, in the proxy's volume; a change is written whole, then nginx reloads
and the change is awaited through the proxy itself. A new key is written to a file only the
operator can read, never printed: the operator hands it over.
"""

from __future__ import annotations

import os
from pathlib import Path

from ultra_env import http
from ultra_env.engine.context import Context
from ultra_env.engine.run import changed, failed, ok
from ultra_env.server import proxy
from ultra_env.server.remote import Remote, RemoteError

KEYS_DIR = Path(".ultra-env") / "team-keys"
_K, _CONF = proxy.KEYS_FILE, proxy.CONF_FILE
# The new list replaces the old only if nginx takes it; else the old is put back and nginx keeps serving it.
# After a reload the old workers may still accept a connection until they handle their QUIT, with the
# old list: the reload is done when they are gone (up to 5 s: one may be finishing a long answer).
_WORKERS = (
    "for p in /proc/[0-9]*; do "
    "case $(tr -d '\\0' < $p/cmdline 2>/dev/null) in 'nginx: worker'*) echo ${p#/proc/};; esac; done"
)
_GONE = (
    "for i in $(seq 50); do alive=; for p in $old; do [ -d /proc/$p ] && alive=1; done; "
    '[ -z "$alive" ] && break; sleep 0.1; done'
)
RELOAD = (
    f"cat > {_K}.new && cp {_K} {_K}.old && mv {_K}.new {_K} && "
    f"if nginx -t -q -c {_CONF}; then old=$({_WORKERS}); nginx -c {_CONF} -s reload && {_GONE}; "
    f"else mv {_K}.old {_K}; exit 1; fi"
)


def read(remote: Remote, timeout: float) -> dict[str, str]:
    done = remote.docker("exec", proxy.CONTAINER, "cat", proxy.KEYS_FILE, timeout=timeout)
    if not done.ok:
        raise RemoteError(f"the proxy's key list cannot be read: {done.output[-200:]}", "invoke server.setup")
    try:
        return proxy.parse_keys(done.stdout)
    except ValueError as exc:
        raise RemoteError(
            str(exc), f"remove that line: docker exec -it {proxy.CONTAINER} vi {proxy.KEYS_FILE}"
        ) from None


def write(remote: Remote, keys: dict[str, str], timeout: float) -> None:
    done = remote.docker(
        "exec", "-i", proxy.CONTAINER, "sh", "-c", RELOAD, timeout=timeout, input=proxy.keys_text(keys)
    )
    if not done.ok:
        raise RemoteError(f"the proxy did not take the new key list: {done.output[-200:]}", "invoke server.status")


def _settled(url: str, key: str, accepted: bool, timeout: float) -> bool:
    """Whether the proxy now answers ``key`` as it should, asked through the proxy itself."""

    def attempt(left: float) -> bool:
        status = http.request(
            "GET", f"{url}/models", timeout=min(left, timeout), headers={"Authorization": f"Bearer {key}"}
        ).status_code
        if (status == 200) != accepted or status not in (200, 401):
            raise http.NotYet(f"answered {status}")
        return True

    try:
        return http.Retry(within_s=timeout, backoff=lambda n: 0.1).run(
            attempt, retry_if=http.raised(http.NotYet, http.HttpError)
        )
    except (http.NotYet, http.HttpError):
        return False


def _save(root: Path, name: str, key: str) -> Path:
    folder = root / KEYS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{name}.key"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return path


def add(ctx: Context, remote: Remote, url: str, name: str) -> None:
    task, timeout = f"key {name}", ctx.settings.timeouts.probe
    keys = read(remote, timeout)
    if name in keys:
        ctx.run.add(ok(task, f"{name} has a key (revoke it first to issue another)"))
        return
    if ctx.inv.options.check:
        ctx.run.add(changed(task, "would add a key"))
        return
    key = proxy.new_key()
    path = _save(ctx.root, name, key)
    write(remote, {**keys, name: key}, timeout)
    note = "" if _settled(url, key, True, timeout) else f" (not yet accepted at {url}: invoke server.status)"
    ctx.run.add(
        changed(
            task,
            f"added; the key is in {path.relative_to(ctx.root)}: give it to {name} for TEAM_LLM_API_KEY in "
            f"their .env, then delete the file{note}",
        )
    )


def revoke(ctx: Context, remote: Remote, url: str, name: str) -> None:
    task, timeout = f"key {name}", ctx.settings.timeouts.probe
    keys = read(remote, timeout)
    if name not in keys:
        ctx.run.add(ok(task, f"{name} has no key"))
        return
    if ctx.inv.options.check:
        ctx.run.add(changed(task, "would revoke it"))
        return
    revoked = keys.pop(name)
    write(remote, keys, timeout)
    if _settled(url, revoked, False, timeout):
        ctx.run.add(changed(task, "revoked: the proxy refuses it"))
    else:
        ctx.run.add(failed(task, f"revoked, but {url} still answers it", "invoke server.status"))


def listed(ctx: Context, remote: Remote) -> None:
    names = sorted(read(remote, ctx.settings.timeouts.probe))
    ctx.run.add(
        ok("keys", f"{len(names)} developer(s): {', '.join(names) or 'none yet (invoke server.keys --add NAME)'}")
    )
