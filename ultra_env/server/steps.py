"""``invoke server.setup`` step by step: the server's engine and GPU, Model Runner installed and the
team's models pulled on it (through an SSH tunnel to its loopback), the authenticating proxy run
with this configuration, and the proxy refusing a request without a key. Each step reads first and
changes only what differs, so a second run changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from ultra_env import http
from ultra_env.engine.context import Context
from ultra_env.engine.run import changed, failed, from_error, ok, refused, warn
from ultra_env.errors import UltraError
from ultra_env.operations import dmr
from ultra_env.server import proxy
from ultra_env.server.remote import Remote, Tunnel

RUNNER = "docker-model-runner"  # install-runner's container (cmd/cli/pkg/standalone/containers.go)
GPU_RUNTIMES = {"cuda": "nvidia", "rocm": "rocm"}


def remote_of(ctx: Context) -> Remote | None:
    host = ctx.settings.server.host
    if host is None:
        ctx.run.add(
            refused(
                "server",
                "no server is configured",
                "set host under [server] in ultra-env.toml: ssh://user@host, or a Docker context's name",
            )
        )
        return None
    return Remote(host)


def team_url(ctx: Context, remote: Remote) -> str:
    server = ctx.settings.server
    scheme = "https" if server.tls_cert else "http"
    return server.url or f"{scheme}://{remote.hostname(ctx.settings.timeouts.probe)}:{server.proxy_port}/engines/v1"


def tls_files(ctx: Context) -> dict[str, str] | None:
    """The proxy's certificate and key as texts ({} without TLS), or None when they cannot be read."""
    server = ctx.settings.server
    if server.tls_cert is None or server.tls_key is None:
        if not server.loopback:
            fix = "set tls_cert and tls_key under [server]: a certificate for the server's name and its key"
            ctx.run.add(
                warn(
                    "TLS", f"the proxy listens on {server.bind} without TLS: keys cross the network in clear text", fix
                )
            )
        return {}
    files = {"cert.pem": ctx.root / server.tls_cert, "key.pem": ctx.root / server.tls_key}
    try:
        texts = {name: path.read_text(encoding="ascii") for name, path in files.items()}
    except (OSError, UnicodeDecodeError) as exc:
        ctx.run.add(
            failed(
                "TLS",
                f"cannot read {getattr(exc, 'filename', None) or 'a TLS file'}: {exc}",
                "check [server] tls_cert and tls_key",
            )
        )
        return None
    if "BEGIN CERTIFICATE" not in texts["cert.pem"] or "PRIVATE KEY" not in texts["key.pem"]:
        ctx.run.add(failed("TLS", "tls_cert or tls_key is not PEM", "give the certificate and its key as PEM files"))
        return None
    ctx.run.add(ok("TLS", f"the proxy serves {server.tls_cert} (HTTPS)"))
    return texts


def engine(ctx: Context, remote: Remote) -> bool:
    done = remote.docker("version", "--format", "{{json .Server}}", timeout=ctx.settings.timeouts.probe)
    if not done.ok:
        said = done.output.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        ctx.run.add(failed("server engine", f"{remote.host} does not answer: {said[0]}", remote.ssh_fix))
        return False
    server = json.loads(done.stdout or "{}") or {}
    ctx.run.add(ok("server engine", f"Docker Engine {server.get('Version', '?')} at {remote.host}"))
    return True


def gpu(ctx: Context, remote: Remote) -> None:
    done = remote.docker("info", "--format", "{{json .Runtimes}}", timeout=ctx.settings.timeouts.probe)
    runtimes = set(json.loads(done.stdout or "{}") or {}) if done.ok else set()
    wanted = ctx.settings.server.gpu
    found = [gpu for gpu, runtime in GPU_RUNTIMES.items() if runtime in runtimes]
    if wanted in GPU_RUNTIMES and GPU_RUNTIMES[wanted] not in runtimes:
        ctx.run.add(
            failed(
                "server GPU",
                f"[server] gpu = {wanted!r}, and the server's engine has no {GPU_RUNTIMES[wanted]} runtime",
                "install the NVIDIA Container Toolkit there (nvidia-ctk runtime configure --runtime=docker), "
                "or set [server] gpu = 'auto'",
            )
        )
    elif found:
        ctx.run.add(ok("server GPU", f"{', '.join(found)} runtime: install-runner --gpu {wanted}"))
    else:
        ctx.run.add(ok("server GPU", "no GPU runtime (nvidia, rocm): the models run on the CPU"))


@contextmanager
def tunnel(ctx: Context, remote: Remote) -> Iterator[Tunnel | None]:
    try:
        with Tunnel(remote, ctx.settings.server.runner_port, ctx.settings.timeouts.probe) as opened:
            yield opened
    except UltraError as exc:
        ctx.run.add(from_error("tunnel", exc))
        yield None


def _container_state(remote: Remote, name: str, timeout: float) -> dict[str, str] | None:
    done = remote.docker("container", "inspect", name, "--format", "{{json .State}}", timeout=timeout)
    return json.loads(done.stdout) if done.ok else None


def runner(ctx: Context, remote: Remote, tunnel: Tunnel) -> bool:
    """Model Runner on the server: installed with install-runner's host, port and GPU options."""
    settings, check = ctx.settings, ctx.inv.options.check
    state = _container_state(remote, RUNNER, settings.timeouts.probe)
    if state is not None and state.get("Running"):
        ctx.run.add(ok("model runner", f"running on the server's 127.0.0.1:{settings.server.runner_port}"))
        return True
    verb = "start-runner" if state is not None else "install-runner"
    if check:
        ctx.run.add(changed("model runner", f"would run docker model {verb}"))
        return False
    argv = ["model", verb, "--host", "127.0.0.1", "--port", str(settings.server.runner_port)]
    argv += ["--gpu", settings.server.gpu]
    # The CLI waits for the runner where MODEL_RUNNER_HOST says: through the tunnel, not this machine.
    done = remote.docker(*argv, timeout=settings.timeouts.up, env={"MODEL_RUNNER_HOST": tunnel.url})
    if not done.ok:
        said = done.output.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        ctx.run.add(failed("model runner", f"docker model {verb} on {remote.host}: {said[0]}", "invoke server.status"))
        return False
    ctx.run.add(changed("model runner", f"{verb}: listening on the server's 127.0.0.1:{settings.server.runner_port}"))
    return True


def models(ctx: Context, tunnel: Tunnel) -> None:
    settings, check = ctx.settings, ctx.inv.options.check
    api = dmr.Api(tunnel.url, timeout=settings.timeouts.probe, environ=ctx.variables)
    for name in settings.server_models:
        task = f"pull {name}"
        try:
            if api.find(name) is not None:
                ctx.run.add(ok(task, "present on the server"))
            elif check:
                ctx.run.add(changed(task, "would pull on the server"))
            else:
                api.pull(name, lambda _: None)
                ctx.run.add(changed(task, "pulled on the server"))
        except dmr.DmrError as exc:
            ctx.run.add(from_error(task, exc))


def proxy_running(ctx: Context, remote: Remote, tls: dict[str, str]) -> None:
    """The proxy container, recreated only when what it was made from changed."""
    settings, check = ctx.settings, ctx.inv.options.check
    conf = proxy.conf(settings, ctx.inv.templates)
    made_of = proxy.digest(conf, settings, tls)
    timeout = settings.timeouts.probe
    label = remote.docker(
        "container",
        "inspect",
        proxy.CONTAINER,
        "--format",
        f'{{{{index .Config.Labels "{proxy.LABEL}"}}}}',
        timeout=timeout,
    )
    state = _container_state(remote, proxy.CONTAINER, timeout)
    if label.ok and label.stdout.strip() == made_of and state and state.get("Running"):
        ctx.run.add(ok("proxy", f"running, listening on {settings.server.bind}:{settings.server.proxy_port}"))
        return
    why = "its configuration changed" if label.ok and state and state.get("Running") else "not running"
    if check:
        ctx.run.add(changed("proxy", f"would (re)create it: {why}"))
        return
    if state is not None:
        remote.docker("rm", "-f", proxy.CONTAINER, timeout=timeout)
    server = settings.server
    for name, text in tls.items():  # into the proxy's volume by standard input: never in an argument
        done = remote.docker(
            "run", "--rm", "-i", "-v", f"{proxy.VOLUME}:{proxy.KEYS_DIR}", server.proxy_image, *proxy.install_tls(name),
            timeout=settings.timeouts.up, input=text,
        )  # fmt: skip
        if not done.ok:
            ctx.run.add(failed("proxy", f"copying {name} to the server: {done.output[-200:]}", "invoke server.status"))
            return
    done = remote.docker(
        "run", "-d", "--name", proxy.CONTAINER, "--restart", "unless-stopped",
        "--label", f"{proxy.LABEL}={made_of}",
        "--network", "host",
        "-v", f"{proxy.VOLUME}:{proxy.KEYS_DIR}",
        "-e", f"ULTRA_PROXY_CONF={conf}",
        server.proxy_image, *proxy.command(),
        timeout=settings.timeouts.up,
    )  # fmt: skip
    if not done.ok:
        said = done.output.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        ctx.run.add(failed("proxy", f"starting {server.proxy_image} on the server: {said[0]}", "invoke server.status"))
        return
    ctx.run.add(changed("proxy", f"(re)created ({why}), listening on {server.bind}:{server.proxy_port}"))


def answers(ctx: Context, remote: Remote) -> None:
    """The proxy seen as a developer sees it: it answers, and without a key it refuses."""
    url = team_url(ctx, remote)
    if ctx.inv.options.check:
        ctx.run.add(ok("proxy answers", f"not asked (--check): {url}"))
        return
    timeout = ctx.settings.timeouts.probe
    policy = http.Retry(within_s=timeout, backoff=lambda n: 0.25)  # nginx takes a moment to listen
    fix = f"the proxy's log: docker {' '.join(remote.flags)} logs {proxy.CONTAINER}; a firewall on its port?"
    try:
        status = policy.run(
            lambda left: http.request("GET", f"{url}/models", timeout=min(left, timeout)).status_code,
            retry_if=http.raised(http.HttpError),
        )
    except http.HttpError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in exc.cause:
            fix = "this machine does not trust the proxy's certificate: SSL_CERT_FILE=CA_FILE (developers need it too)"
        ctx.run.add(from_error("proxy answers", exc, fix, about=f"{url} does not answer"))
        return
    if status == 401:
        ctx.run.add(ok("proxy answers", f"{url}: a request without a key is refused (401)"))
    else:
        ctx.run.add(failed("proxy answers", f"GET {url}/models without a key answered {status}, not 401", fix))


def served(ctx: Context, tunnel: Tunnel) -> None:
    """What the server's runner holds, each configured model present or not (``server.status``)."""
    api = dmr.Api(tunnel.url, timeout=ctx.settings.timeouts.probe, environ=ctx.variables)
    try:
        for name in ctx.settings.server_models:
            found = api.find(name) is not None
            ctx.run.add(
                ok(f"model {name}", "present on the server")
                if found
                else failed(f"model {name}", "not on the server", "invoke server.setup")
            )
    except dmr.DmrError as exc:
        ctx.run.add(from_error("model runner", exc, "invoke server.setup"))
