"""What every run starts from (the Invocation) and what its configuration task establishes for
the tasks after it (the Context)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ultra_env.config import sources
from ultra_env.config.settings import Settings
from ultra_env.config.sources import Flag, Loaded
from ultra_env.engine.redact import Redactor
from ultra_env.engine.run import Options, Run, TaskResult, from_error, ok
from ultra_env.errors import UltraError
from ultra_env.project import compose_files, envfile
from ultra_env.project import state as state_mod
from ultra_env.project.dotenv import read_env

if TYPE_CHECKING:
    from ultra_env.operations.render import RenderTarget  # set by the render step, a layer above


@dataclass
class Invocation:
    """Everything a command starts from."""

    root: Path
    templates: Path
    options: Options = field(default_factory=Options)
    flags: list[Flag] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    recovered: TaskResult | None = None  # what recovering an interrupted run did, to say first


@dataclass
class Context:
    """What the configuration task established, for the tasks after it."""

    inv: Invocation
    run: Run
    redactor: Redactor
    state: state_mod.State
    dotenv: envfile.EnvDoc | None
    loaded: Loaded
    render_target: RenderTarget | None = None  # what the render was made for (set by the render step)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def root(self) -> Path:
        return self.inv.root

    @property
    def compose_files(self) -> compose_files.ComposeFiles:
        """The Compose files a plain ``docker compose`` reads in the project folder."""
        return compose_files.find(self.root, self.inv.environ, self.dotenv.values() if self.dotenv else {})

    @property
    def variables(self) -> dict[str, str]:
        """``.env``'s values with the process environment over them (how keys and tokens are found)."""
        return {**(self.dotenv.values() if self.dotenv else {}), **self.inv.environ}


def configure(run: Run, redactor: Redactor, inv: Invocation) -> Context | None:
    """The ``configuration`` task: state, ``.env`` and every config source, validated."""
    try:
        state = state_mod.load(inv.root)
        dotenv = read_env(inv.root, inv.environ)
        if dotenv is not None:
            redactor.add_env(dotenv.values())
            redactor.add_unowned(dotenv.values(), set(state.env))
        loaded = sources.load(
            inv.root,
            flags=inv.flags,
            environ=inv.environ,
            state_profile=state.profile,
            dotenv=dotenv.values() if dotenv else None,
        )
    except UltraError as exc:
        run.add(from_error("configuration", exc))
        return None
    redactor.add(*loaded.settings.secret_values())
    run.add(ok("configuration", describe(loaded)))
    return Context(inv, run, redactor, state, dotenv, loaded)


def describe(loaded: Loaded) -> str:
    s = loaded.settings
    on = [name for name, value in s.features.model_dump().items() if value]
    text = f"profile {s.profile.value} ({loaded.origin('profile')}); on: {', '.join(on) or 'nothing'}"
    if s.features.local_llm:
        text += f"; models: {', '.join(m.name for m in s.models)}"
    return text
