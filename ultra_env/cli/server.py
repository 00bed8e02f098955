"""The ``server.*`` tasks: provision the team's shared model server, say how it is, manage keys."""

from __future__ import annotations

from ultra_env.cli.command import command
from ultra_env.engine.context import Context
from ultra_env.engine.run import failed, ok
from ultra_env.errors import UltraError
from ultra_env.server import keys as team_keys
from ultra_env.server import proxy, steps


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
        ctx.run.add(failed("server", exc.cause, exc.fix))
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
        ctx.run.add(failed("server", exc.cause, exc.fix))


@command("server.keys", changes=True)
def keys(ctx: Context, *, add: str | None = None, revoke: str | None = None) -> None:
    remote = steps.remote_of(ctx)
    if remote is None:
        return
    for name in (add, revoke):
        if name is not None and not proxy.NAME.match(name):
            ctx.run.add(failed("keys", f"{name!r} is not a developer name", "use a-z, 0-9, '.', '_' and '-'"))
            ctx.run.usage_error = True
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
        ctx.run.add(failed("keys", exc.cause, exc.fix))
