"""The one wrapper every task goes through: a ``Command`` is a typed function and what it needs
(whether it changes files, how it reports, whether it reads the configuration). ``Command.invoke``
owns the rest: the folders, the project lock, recovering an interrupted run, the configuration
task, signals, and the crash guard that reports a bug with every known secret masked."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ultra_env import trace
from ultra_env.cli import reporters
from ultra_env.config.sources import Flag
from ultra_env.engine import lock
from ultra_env.engine.context import Context, Invocation, configure
from ultra_env.engine.redact import Redactor
from ultra_env.engine.run import Options, Run, from_error, refused
from ultra_env.errors import UltraError
from ultra_env.facts.prefetch import Prefetch
from ultra_env.operations import converge
from ultra_env.operations.render import COMPOSE_TEMPLATE, ENV_TEMPLATE
from ultra_env.project.dotenv import read_env

PROJECT_DIR_VAR = "ULTRA_ENV_PROJECT_DIR"
TEMPLATES_DIR_VAR = "ULTRA_ENV_TEMPLATES_DIR"


@dataclass(frozen=True)
class Command:
    """``body(ctx, **arguments)`` after the configuration task, or ``body(inv, **arguments)`` when
    ``configures`` is False. A body returns its exit code, or None for the run's own."""

    name: str
    body: Callable[..., int | None]
    changes: bool = False  # takes the project lock (unless --check)
    configures: bool = True
    quiet: bool = False  # prints its own output; the run prints only failures
    symbols: bool = False  # ✓ ! ✗ instead of words
    prefetch: bool = False  # the body takes ``early``: docker probes started before the imports
    project: bool = True  # works in the project folder (gen-docs works in the toolkit's own)
    positional: tuple[str, ...] = ()  # the arguments invoke parses as positional

    def invoke(
        self,
        toolkit_root: Path,
        *,
        early: Prefetch | None = None,
        profile: str | None = None,
        local_llm: bool = False,
        check: bool = False,
        diff: bool = False,
        json: bool = False,
        force: bool = False,
        keep_going: bool = False,
        live: bool = False,
        verbose: bool = False,
        **arguments: Any,
    ) -> int:
        """From ``tasks.py``: one run of this command with the task's flags; its exit code."""
        flags = [Flag("--profile", "profile", profile)] if profile else []
        if local_llm:
            flags.append(Flag("--local-llm", "features.local_llm", True))
        options = Options(
            check=check, diff=diff, json=json, force=force, keep_going=keep_going, live=live, verbose=verbose
        )
        return main(self, toolkit_root, options, flags, early=early, **arguments)


def command(name: str, **traits: Any) -> Callable[[Callable[..., int | None]], Command]:
    def wrap(body: Callable[..., int | None]) -> Command:
        return Command(name, body, **traits)

    return wrap


def start(name: str, inv: Invocation, *, quiet: bool = False, symbols: bool = False) -> tuple[Run, Redactor]:
    redactor = Redactor()
    redactor.add_env(inv.environ)
    trace.mask_with(redactor)
    if inv.options.json:
        reporter: reporters.HumanReporter | reporters.JsonReporter = reporters.JsonReporter(redactor)
    else:
        reporter = reporters.HumanReporter(redactor, show_diff=inv.options.diff, quiet=quiet, symbols=symbols)
    return Run(name, inv.options, reporter), redactor


def begin(name: str, inv: Invocation, *, quiet: bool = False, symbols: bool = False) -> tuple[Run, Context | None]:
    """A run and its configuration task: the Context, or None when the configuration failed."""
    run, redactor = start(name, inv, quiet=quiet, symbols=symbols)
    if inv.recovered is not None:
        run.add(inv.recovered)
    return run, configure(run, redactor, inv)


def execute(cmd: Command, inv: Invocation, *, early: Prefetch | None = None, **arguments: Any) -> int:
    """The command's body in its run (no lock: ``main`` holds it; ``onboard`` chains commands)."""
    if cmd.prefetch:
        arguments["early"] = early
    if not cmd.configures:
        code = cmd.body(inv, **arguments)
        return 0 if code is None else code
    run, ctx = begin(cmd.name, inv, quiet=cmd.quiet, symbols=cmd.symbols)
    if ctx is None:
        if early is not None:
            early.close()
        return run.finish()
    code = cmd.body(ctx, **arguments)
    return run.finish() if code is None else code


class Terminated(BaseException):
    """SIGTERM: ends a run the way Ctrl-C does (files are never left half-written)."""


def _terminate(*_: object) -> None:
    raise Terminated


def main(
    cmd: Command,
    toolkit_root: Path,
    options: Options,
    flags: list[Flag],
    *,
    early: Prefetch | None = None,
    **arguments: Any,
) -> int:
    """One run, under the project lock when it changes anything (or an interrupted run left a
    journal to recover), and never a raw traceback: an unexpected error is reported with every
    known secret masked. With ``verbose`` (or ULTRA_ENV_DEBUG=1) what it runs is traced."""
    if not trace.wanted(options.verbose, os.environ):
        return _main(cmd, toolkit_root, options, flags, early=early, **arguments)
    known = Redactor()
    known.add_env(os.environ)
    with trace.tracing(known):
        return _main(cmd, toolkit_root, options, flags, early=early, **arguments)


def _main(
    cmd: Command,
    toolkit_root: Path,
    options: Options,
    flags: list[Flag],
    *,
    early: Prefetch | None,
    **arguments: Any,
) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    root = project_root(toolkit_root)
    inv = Invocation(root=root, templates=templates_dir(toolkit_root), options=options, flags=flags)
    wrong = folders_problem(root, os.environ) if cmd.project else None
    eaten = next(
        (
            f"{value!r} was taken as the task's argument"
            for name, value in arguments.items()
            if name in cmd.positional and isinstance(value, str) and value.startswith("-")
        ),
        None,
    )
    if wrong is not None or eaten is not None:
        if early is not None:
            early.close()
        run, _ = start(cmd.name, replace(inv, options=Options(json=options.json)))
        # invoke (parser.ParseMachine.handle) hands a missing positional any word, even `--help`
        run.add(
            refused("configuration", *wrong)
            if wrong
            else refused(
                cmd.name,
                eaten or "",
                f"help goes before the task (invoke --help {cmd.name}); options after its argument",
            )
        )
        return run.finish()
    try:
        with contextlib.ExitStack() as held:
            changing = cmd.changes and not options.check
            if changing or (converge.journal_path(root).exists() and not options.check):
                try:
                    held.enter_context(lock.exclusive(root, cmd.name))
                except UltraError as exc:
                    if changing:
                        if early is not None:
                            early.close()
                        run, _ = start(cmd.name, replace(inv, options=Options(json=options.json)))
                        run.add(from_error("lock", exc))
                        return run.finish()
                else:
                    inv.recovered = converge.recover(root)
            return execute(cmd, inv, early=early, **arguments)
    except KeyboardInterrupt:
        reporters.write(sys.stderr, "interrupted: every file is as it was or fully written (one transaction)\n")
        return 130
    except Terminated:
        reporters.write(sys.stderr, "terminated: every file is as it was or fully written (one transaction)\n")
        return 143
    except Exception:
        report_crash(root)
        return 1


def project_root(default: Path, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(PROJECT_DIR_VAR) or default).resolve()


def templates_dir(toolkit_root: Path) -> Path:
    return Path(os.environ.get(TEMPLATES_DIR_VAR) or toolkit_root / "templates").resolve()


def folders_problem(root: Path, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Why the project folder or the templates folder a variable names cannot be used, and the fix."""
    if not root.is_dir():
        return (
            f"{PROJECT_DIR_VAR} names {root}, which is not a folder",
            f"point {PROJECT_DIR_VAR} at your project's folder (mkdir -p it), or unset it",
        )
    templates = environ.get(TEMPLATES_DIR_VAR)
    if templates:
        folder = Path(templates)
        if not folder.is_dir():
            return (
                f"{TEMPLATES_DIR_VAR} names {folder}, which is not a folder",
                f"point {TEMPLATES_DIR_VAR} at a folder holding {COMPOSE_TEMPLATE} and {ENV_TEMPLATE}, or unset it",
            )
        for name in (COMPOSE_TEMPLATE, ENV_TEMPLATE):
            path = folder / name
            if not path.is_file() or not stat.S_ISREG(path.stat().st_mode):
                return (
                    f"{TEMPLATES_DIR_VAR}: {path} is not a template file",
                    f"copy templates/{name} there, or unset {TEMPLATES_DIR_VAR}",
                )
    return None


def confirm(question: str) -> bool:
    """Ask on the terminal; without one, the answer is no."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


def report_crash(root: Path) -> None:
    redactor = Redactor()
    redactor.add_env(os.environ)
    try:
        dotenv = read_env(root, os.environ)
        if dotenv is not None:
            redactor.add_env(dotenv.values())
    except Exception:  # the crash report must not crash; an unreadable .env has no secret to mask
        pass
    reporters.write(sys.stderr, redactor(traceback.format_exc()))
    reporters.write(
        sys.stderr,
        "internal error: this is a bug in ultra-env (secrets above are masked); "
        "please report it with the lines above\n",
    )
