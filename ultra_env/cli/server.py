"""The ``server.*`` tasks: provision the team's shared model server, say how it is, manage keys."""

from __future__ import annotations

from ultra_env.cli.command import command
from ultra_env.engine.context import Context
from ultra_env.engine.plan import Action
from ultra_env.engine.run import failed, from_error, ok, refused
from ultra_env.errors import UltraError
from ultra_env.operations import converge
from ultra_env.operations.write import file_result
from ultra_env.server import cluster, proxy, steps
from ultra_env.server import keys as team_keys


@command("server.setup", changes=True)
def setup(ctx: Context) -> None:
    remote = steps.remote_of(ctx)
    if remote is None:
        return
    tls = steps.tls_files(ctx)
    if tls is None or not steps.engine(ctx, remote):
        return
    try:
        steps.gpu(ctx, remote)
        with steps.tunnel(ctx, remote) as tunnel:
            if tunnel is None or ctx.run.failed:
                return
            if steps.runner(ctx, remote, tunnel):
                steps.models(ctx, tunnel)
        steps.proxy_running(ctx, remote, tls)
        steps.answers(ctx, remote)
        url = steps.team_url(ctx, remote)
    except UltraError as exc:
        ctx.run.add(from_error("server", exc))
        return
    ctx.run.add(ok("team url", f"developers set url = {url!r} under [team], and their key in .env"))


@command("server.status")
def status(ctx: Context) -> None:
    remote = steps.remote_of(ctx)
    if remote is None or not steps.engine(ctx, remote):
        return
    try:
        with steps.tunnel(ctx, remote) as tunnel:
            if tunnel is not None:
                steps.served(ctx, tunnel)
        steps.answers(ctx, remote)
        team_keys.listed(ctx, remote)
    except UltraError as exc:
        ctx.run.add(from_error("server", exc))


@command("server.keys", changes=True)
def keys(ctx: Context, *, add: str | None = None, revoke: str | None = None) -> None:
    remote = steps.remote_of(ctx)
    if remote is None:
        return
    for name in (add, revoke):
        if name is not None and not proxy.NAME.match(name):
            ctx.run.add(refused("keys", f"{name!r} is not a developer name", "use a-z, 0-9, '.', '_' and '-'"))
            return
    try:
        url = steps.team_url(ctx, remote)
        if add:
            team_keys.add(ctx, remote, url, add)
        if revoke:
            team_keys.revoke(ctx, remote, url, revoke)
        if not add and not revoke:
            team_keys.listed(ctx, remote)
    except UltraError as exc:
        ctx.run.add(from_error("keys", exc))


@command("server.k8s", changes=True)
def k8s(ctx: Context) -> None:
    """``k8s/team.yaml``: the runner, its models and the proxy for ``kubectl apply -f``."""
    options, name = ctx.inv.options, cluster.OUTPUT
    try:
        text = cluster.manifests(ctx.settings, ctx.inv.templates)
        plan = converge.plan_generated(ctx.root, name, text, ctx.state, force=options.force, with_env=False)
        if plan.action is Action.CONFLICT:
            fix = "keep your changes in a kustomization over it, then `invoke server.k8s --force` (keeps a backup)"
            ctx.run.add(failed(name, "edited since ultra-env last wrote it; your edits are kept", fix, diff=plan.diff))
            return
        backups: list[str] = []
        if plan.writes and not options.check:
            (ctx.root / name).parent.mkdir(exist_ok=True)
            backups = converge.apply(ctx.root, [plan], ctx.state)
    except UltraError as exc:
        ctx.run.add(from_error(name, exc))
        return
    ctx.run.add(file_result(plan, options.check, backups))
