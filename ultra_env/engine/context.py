"""The frame of every run: the invocation, its configuration, its reporter, the project lock, and
the guard that turns a crash into a report with secrets masked. ``tasks.py`` calls ``main``."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ultra_env.operations import converge
from ultra_env.operations import envfile
from ultra_env.cli import output as report
from ultra_env.config import sources
from ultra_env.operations import state as state_mod
from ultra_env.config.settings import Settings
from ultra_env.errors import UltraError
from ultra_env.engine.redact import Redactor
from ultra_env.operations.render import TEMPLATES_DIR, Target
from ultra_env.cli.output import HumanReporter, JsonReporter
from ultra_env.engine.run import Options, Run, changed, failed, ok
from ultra_env.config.sources import Flag, Loaded

if TYPE_CHECKING:
    pass


PROJECT_DIR_VAR = "ULTRA_ENV_PROJECT_DIR"


TEMPLATES_DIR_VAR = "ULTRA_ENV_TEMPLATES_DIR"


def project_root(default: Path, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(PROJECT_DIR_VAR) or default).resolve()


@dataclass
class Invocation:
    """Everything a command starts from."""

    root: Path
    templates: Path = TEMPLATES_DIR
    options: Options = field(default_factory=Options)
    flags: list[Flag] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    recovered: str | None = None  # what recovering an interrupted run did, to say first


@dataclass
class Context:
    """What the configuration task established, for the tasks after it."""

    inv: Invocation
    run: Run
    redactor: Redactor
    state: state_mod.State
    dotenv: envfile.EnvDoc | None
    loaded: Loaded
    target: Target | None = None  # what the render was made for (set by the render step)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def root(self) -> Path:
        return self.inv.root

    @property
    def variables(self) -> dict[str, str]:
        """``.env``'s values with the process environment over them (how keys and tokens are found)."""
        return {**(self.dotenv.values() if self.dotenv else {}), **self.inv.environ}


def start(command: str, inv: Invocation, *, quiet: bool = False, symbols: bool = False) -> tuple[Run, Redactor]:
    redactor = Redactor()
    redactor.add_env(inv.environ)
    if inv.options.json:
        reporter = JsonReporter(redactor)
    else:
        reporter = HumanReporter(redactor, show_diff=inv.options.diff, quiet=quiet, symbols=symbols)
    return Run(command, inv.options, reporter), redactor


def configure(run: Run, redactor: Redactor, inv: Invocation) -> Context | None:
    """The ``configuration`` task: state, ``.env`` and every config source, validated."""
    try:
        state = state_mod.load(inv.root)
        dotenv = converge.read_env(inv.root, inv.environ)
        if dotenv is not None:
            redactor.add_env(dotenv.values())
            redactor.add_unowned(dotenv.values(), set(state.env))
        loaded = sources.load(
            inv.root, flags=inv.flags, environ=inv.environ,
            state_profile=state.profile, dotenv=dotenv.values() if dotenv else None,
        )
    except UltraError as exc:
        run.add(failed("configuration", exc.cause, exc.fix))
        run.usage_error = exc.exit_code == 2
        return None
    redactor.add(*loaded.settings.secret_values())
    run.add(ok("configuration", describe(loaded)))
    return Context(inv, run, redactor, state, dotenv, loaded)


def begin(command: str, inv: Invocation, **reporting: bool) -> tuple[Run, Context | None]:
    """A run and its configuration task: the Context, or None when the configuration failed."""
    run, redactor = start(command, inv, **reporting)
    if inv.recovered:
        run.add(changed("recover", inv.recovered))
    return run, configure(run, redactor, inv)


def describe(loaded: Loaded) -> str:
    s = loaded.settings
    on = [name for name, value in s.features.model_dump().items() if value]
    text = f"profile {s.profile.value} ({loaded.origin('profile')}); on: {', '.join(on) or 'nothing'}"
    if s.features.local_llm:
        text += f"; models: {', '.join(m.name for m in s.models)}"
    return text


def confirm(question: str) -> bool:
    """Ask on the terminal; without one, the answer is no."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


CHANGING = frozenset({"render", "profile", "setup", "onboard", "up", "down", "models.pull", "models.rm"})


class Terminated(BaseException):
    """SIGTERM: ends a run the way Ctrl-C does (files are never left half-written)."""


def _terminate(*_: object) -> None:
    raise Terminated


def main(command: str, toolkit_root: Path, *args: str | None, **flags: Any) -> int:
    """Entry point for ``tasks.py``: one run, under the project lock when it changes anything, and
    never a raw traceback: an unexpected error is reported with every known secret masked."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    from ultra_env.engine import lock
    from ultra_env.cli.commands import dispatch

    root = project_root(toolkit_root)
    wrong = None if command == "gen-docs" else folders_problem(root, os.environ)  # (gen-docs: the toolkit's own)
    if wrong is not None:
        if flags.get("early"):
            flags["early"].close()
        run, _ = start(command, Invocation(root=root, options=Options(json=bool(flags.get("json")))))
        run.add(failed("configuration", *wrong))
        run.usage_error = True
        return run.finish()
    eaten = next((a for a in args if isinstance(a, str) and a.startswith("-")), None)
    if eaten is not None:  # invoke hands a positional argument any word, even `--help`
        if flags.get("early"):
            flags["early"].close()
        inv = Invocation(root=root)
        run, _ = start(command, inv)
        run.add(failed(command, f"{eaten!r} was taken as the task's argument",
                       f"help goes before the task (invoke --help {command}); options after its argument"))
        run.usage_error = True
        return run.finish()
    try:
        with contextlib.ExitStack() as held:
            changing = command in CHANGING and not flags.get("check") and not (command == "profile" and not args[0])
            if changing or (converge.journal_path(root).exists() and not flags.get("check")):
                try:
                    held.enter_context(lock.exclusive(root, command))
                except UltraError as exc:
                    if changing:
                        inv = Invocation(root=root, options=Options(json=bool(flags.get("json"))))
                        run, _ = start(command, inv)
                        run.add(failed("lock", exc.cause, exc.fix))
                        return run.finish()
                else:
                    flags["recovered"] = converge.recover(root)
            return dispatch(command, toolkit_root, *args, **flags)
    except KeyboardInterrupt:
        report.write(sys.stderr, "interrupted: every file is as it was or fully written (one transaction)\n")
        return 130
    except Terminated:
        report.write(sys.stderr, "terminated: every file is as it was or fully written (one transaction)\n")
        return 143
    except Exception:
        report_crash(root)
        return 1


def folders_problem(root: Path, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Why the project folder or the templates folder a variable names cannot be used, and the fix."""
    from ultra_env.operations.render import COMPOSE_TEMPLATE, ENV_TEMPLATE

    if not root.is_dir():
        return (f"{PROJECT_DIR_VAR} names {root}, which is not a folder",
                f"point {PROJECT_DIR_VAR} at your project's folder (mkdir -p it), or unset it")
    templates = environ.get(TEMPLATES_DIR_VAR)
    if templates:
        folder = Path(templates)
        if not folder.is_dir():
            return (f"{TEMPLATES_DIR_VAR} names {folder}, which is not a folder",
                    f"point {TEMPLATES_DIR_VAR} at a folder holding {COMPOSE_TEMPLATE} and {ENV_TEMPLATE}, or unset it")
        for name in (COMPOSE_TEMPLATE, ENV_TEMPLATE):
            path = folder / name
            if not path.is_file() or not stat.S_ISREG(path.stat().st_mode):
                return (f"{TEMPLATES_DIR_VAR}: {path} is not a template file",
                        f"copy templates/{name} there, or unset {TEMPLATES_DIR_VAR}")
    return None


def report_crash(root: Path) -> None:
    import traceback

    from ultra_env.engine.redact import Redactor

    redactor = Redactor()
    redactor.add_env(os.environ)
    try:
        dotenv = converge.read_env(root, os.environ)
        if dotenv is not None:
            redactor.add_env(dotenv.values())
    except Exception:  # the crash report must not crash; an unreadable .env has no secret to mask
        pass
    report.write(sys.stderr, redactor(traceback.format_exc()))
    report.write(sys.stderr, "internal error: this is a bug in ultra-env (secrets above are masked); "
                     "please report it with the lines above\n")


