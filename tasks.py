"""ultra-env: provision Ultra's multi-LLM development stack. Run `invoke --list`.

Thin on purpose: each task is a typed command of ``ultra_env.cli`` called with its flags (through
``Command.invoke``, which owns the lock, the configuration and the crash guard), an exit code out.
Each imports its command inside the task: nothing heavy loads until a task runs, so `invoke --list`
stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Collection, Exit, task

if TYPE_CHECKING:
    from ultra_env.facts.prefetch import Prefetch

ROOT = Path(__file__).resolve().parent

COMMON = {
    "profile": "Profile for this run: local, cloud, hybrid or mock (default: the active one).",
    "local-llm": "Turn local models (Docker Model Runner) on, whatever the profile.",
    "check": "Dry run: show what would change, change nothing.",
    "diff": "Show unified diffs of file changes (secrets masked).",
    "json": "Print one JSON document instead of lines.",
    "force": "Overwrite generated files you edited (a backup is kept).",
    "verbose": "Print each command and request ultra-env makes, its time and result, secrets masked"
    " (or set ULTRA_ENV_DEBUG=1).",
}


def _help(*names: str, **extra: str) -> dict[str, str]:
    return {**{name: COMMON[name] for name in names}, **extra}


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


def _prefetch(verbose: bool) -> Prefetch:
    """Start the probes that need no configuration before the heavy imports (this one is light)."""
    from ultra_env.facts.prefetch import Prefetch

    return Prefetch(verbose)


@task(help=_help("verbose", "profile", "local-llm", "check", "diff", "json", "force"))
def render(c, profile=None, local_llm=False, check=False, diff=False, json=False, force=False, verbose=False):
    """Render docker-compose.yml and .env for the active profile, keeping your values."""
    from ultra_env.cli import files

    _exit(
        files.render.invoke(
            ROOT, verbose=verbose, profile=profile, local_llm=local_llm, check=check, diff=diff, json=json, force=force
        )
    )


@task(
    name="profile",
    positional=["name"],
    help=_help(
        "verbose",
        "check",
        "diff",
        "json",
        "force",
        name="The profile to switch to (invoke profiles lists them).",
        **{"local-llm": "Turn local models on for this run only (not remembered; [features] local_llm keeps them)."},
    ),
)
def profile_(c, name, local_llm=False, check=False, diff=False, json=False, force=False, verbose=False):
    """Switch to profile NAME: remember it and re-render the files."""
    from ultra_env.cli import files

    _exit(
        files.profile.invoke(
            ROOT, verbose=verbose, name=name, local_llm=local_llm, check=check, diff=diff, json=json, force=force
        )
    )


@task(help=_help("verbose", "local-llm", "json"))
def profiles(c, local_llm=False, json=False, verbose=False):
    """List the profiles, what each turns on, and which one is active."""
    from ultra_env.cli import files

    _exit(files.profiles.invoke(ROOT, verbose=verbose, local_llm=local_llm, json=json))


@task(help=_help("verbose", "profile", "local-llm", "json"))
def config(c, profile=None, local_llm=False, json=False, verbose=False):
    """Print the effective configuration and where each value came from (secrets masked)."""
    from ultra_env.cli import files

    _exit(files.config.invoke(ROOT, verbose=verbose, profile=profile, local_llm=local_llm, json=json))


@task(
    help=_help(
        "verbose",
        "profile",
        "local-llm",
        "check",
        "diff",
        "json",
        "force",
        **{"keep-going": "Go on after a failed check (doctor) instead of stopping before any change."},
    )
)
def setup(
    c, profile=None, local_llm=False, check=False, diff=False, json=False, force=False, keep_going=False, verbose=False
):
    """Provision the stack: check the machine, render the files, bring it up, verify it."""
    early = _prefetch(verbose)
    from ultra_env.cli import stack

    _exit(
        stack.setup.invoke(
            ROOT,
            verbose=verbose,
            early=early,
            profile=profile,
            local_llm=local_llm,
            check=check,
            diff=diff,
            json=json,
            force=force,
            keep_going=keep_going,
        )
    )


@task(
    aliases=["check"],
    help=_help(
        "verbose",
        "profile",
        "local-llm",
        "json",
        live="Also ask each cloud provider whether its key works (network).",
        fix="Apply the safe fixes found (enable or install Model Runner, install llama.cpp, pull), asking first.",
        yes="Do not ask before applying fixes (needed without a terminal).",
    ),
)
def doctor(c, profile=None, local_llm=False, json=False, live=False, fix=False, yes=False, verbose=False):
    """Check the machine for the active profile and say exactly what to fix (--fix: apply the safe fixes)."""
    early = _prefetch(verbose)
    from ultra_env.cli import doctor

    _exit(
        doctor.doctor.invoke(
            ROOT,
            verbose=verbose,
            early=early,
            profile=profile,
            local_llm=local_llm,
            json=json,
            live=live,
            fix=fix,
            yes=yes,
        )
    )


@task(name="gen-docs", help=_help("verbose", "check", "diff"))
def gen_docs(c, check=False, diff=False, verbose=False):
    """Regenerate what is derived from the code: env.example and docs/profiles-and-flags.md."""
    from ultra_env.cli import docgen

    _exit(docgen.gen_docs.invoke(ROOT, verbose=verbose, check=check, diff=diff, into=ROOT, collection=ns))


@task(help=_help("verbose", "profile", "check", "json"))
def up(c, profile=None, check=False, json=False, verbose=False):
    """Bring the rendered stack up and wait until every service is healthy."""
    from ultra_env.cli import stack

    _exit(stack.up.invoke(ROOT, verbose=verbose, profile=profile, check=check, json=json))


@task(
    help=_help(
        "verbose",
        "check",
        "json",
        volumes="Also delete the volumes (the database!).",
        yes="Do not ask before deleting volumes.",
    )
)
def down(c, volumes=False, yes=False, check=False, json=False, verbose=False):
    """Stop and remove the stack's containers (and, with --volumes, its data)."""
    from ultra_env.cli import stack

    _exit(stack.down.invoke(ROOT, verbose=verbose, volumes=volumes, yes=yes, check=check, json=json))


@task(help=_help("verbose", "json"))
def status(c, json=False, verbose=False):
    """Show the stack's services, their state and health (exit 1 unless all are healthy)."""
    from ultra_env.cli import stack

    _exit(stack.status.invoke(ROOT, verbose=verbose, json=json))


@task(
    help={
        "profile": "The profile to set up (default: what the checks suggest).",
        "yes": "Ask nothing: take the suggested profile, enter no keys.",
        "verbose": COMMON["verbose"],
    }
)
def onboard(c, profile=None, yes=False, verbose=False):
    """A guided first run: check the machine, pick a profile, enter keys, set up, summarise."""
    early = _prefetch(verbose)
    from ultra_env.cli import onboard

    _exit(onboard.onboard.invoke(ROOT, verbose=verbose, early=early, chosen_profile=profile, yes=yes))


@task(help=_help("verbose", "profile", "local-llm", "json"))
def health(c, profile=None, local_llm=False, json=False, verbose=False):
    """Verify the stack end to end: Model Runner, a real completion, the backend, a real analysis."""
    from ultra_env.cli import stack

    _exit(stack.health.invoke(ROOT, verbose=verbose, profile=profile, local_llm=local_llm, json=json))


@task(name="pull", help=_help("verbose", "check", "json", model="Pull this model instead of the configured ones."))
def models_pull(c, model=None, check=False, json=False, verbose=False):
    """Pull the configured local models (those present are left alone)."""
    from ultra_env.cli import models

    _exit(models.pull.invoke(ROOT, verbose=verbose, model=model, check=check, json=json))


@task(name="list", help=_help("verbose", "json"))
def models_list(c, json=False, verbose=False):
    """List the models Docker Model Runner holds."""
    from ultra_env.cli import models

    _exit(models.list_.invoke(ROOT, verbose=verbose, json=json))


@task(
    name="rm",
    positional=["name"],
    help=_help(
        "verbose",
        "check",
        "json",
        name="The model to remove.",
        yes="Do not ask before removing.",
        force="Remove it even while it is in use.",
    ),
)
def models_rm(c, name, yes=False, force=False, check=False, json=False, verbose=False):
    """Remove a model from Docker Model Runner (asks first unless --yes)."""
    from ultra_env.cli import models

    _exit(models.rm.invoke(ROOT, verbose=verbose, name=name, yes=yes, force=force, check=check, json=json))


LLM_FLAGS = ("verbose", "profile", "local-llm", "json")
ASKING = {"prompt": "What to ask.", "max-tokens": "Tokens to generate at most, per model (default 256)."}


@task(
    name="ask",
    positional=["prompt"],
    help=_help(
        *LLM_FLAGS,
        **ASKING,
        provider="local, openai, anthropic, google or an endpoint.",
        model="Which model of that provider.",
        stream="Print the answer as it is generated.",
    ),
)
def llm_ask(
    c,
    prompt,
    provider=None,
    model=None,
    stream=False,
    max_tokens="256",
    profile=None,
    local_llm=False,
    json=False,
    verbose=False,
):
    """Ask one model (the first enabled one unless --provider/--model say otherwise)."""
    from ultra_env.cli import llm

    which = {"provider": provider, "model": model, "stream": stream}
    flags = {"profile": profile, "local_llm": local_llm, "json": json, "verbose": verbose}
    _exit(llm.ask.invoke(ROOT, prompt=prompt, max_tokens=max_tokens, **which, **flags))


@task(name="compare", positional=["prompt"], help=_help(*LLM_FLAGS, **ASKING))
def llm_compare(c, prompt, max_tokens="256", profile=None, local_llm=False, json=False, verbose=False):
    """Send one prompt to every enabled provider at once and show the answers side by side."""
    from ultra_env.cli import llm

    flags = {"profile": profile, "local_llm": local_llm, "json": json, "verbose": verbose}
    _exit(llm.compare.invoke(ROOT, prompt=prompt, max_tokens=max_tokens, **flags))


@task(
    name="bench",
    help=_help(
        "verbose",
        "profile",
        "local-llm",
        "json",
        requests="Requests per model and concurrency (default 8).",
        **{
            "max-tokens": "Tokens to generate per request (default 64).",
            "prompt-words": "Length of the prompt in words (default 20).",
            "concurrency": "Concurrency levels, comma-separated (default 1,2,4).",
        },
    ),
)
def models_bench(
    c,
    requests="8",
    max_tokens="64",
    prompt_words="20",
    concurrency="1,2,4",
    profile=None,
    local_llm=False,
    json=False,
    verbose=False,
):
    """Benchmark every enabled model: first token, decode speed, p50/p95 latency per concurrency."""
    from ultra_env.cli import models

    _exit(
        models.bench.invoke(
            ROOT,
            verbose=verbose,
            profile=profile,
            local_llm=local_llm,
            json=json,
            requests=requests,
            max_tokens=max_tokens,
            prompt_words=prompt_words,
            concurrency=concurrency,
        )
    )


@task(name="setup", help=_help("verbose", "check", "json"))
def server_setup(c, check=False, json=False, verbose=False):
    """Provision the team's model server: Model Runner, the models, the authenticating proxy."""
    from ultra_env.cli import server

    _exit(server.setup.invoke(ROOT, verbose=verbose, check=check, json=json))


@task(name="status", help=_help("verbose", "json"))
def server_status(c, json=False, verbose=False):
    """Say how the team's model server is: its engine, runner, models, proxy and keys (by name)."""
    from ultra_env.cli import server

    _exit(server.status.invoke(ROOT, verbose=verbose, json=json))


@task(
    name="keys",
    help=_help(
        "verbose", "check", "json", add="Issue a key for this developer.", revoke="Revoke this developer's key."
    ),
)
def server_keys(c, add=None, revoke=None, check=False, json=False, verbose=False):
    """List the developers with a key on the team's proxy, or add or revoke one."""
    from ultra_env.cli import server

    _exit(server.keys.invoke(ROOT, verbose=verbose, add=add, revoke=revoke, check=check, json=json))


@task(name="k8s", help=_help("verbose", "check", "diff", "json", "force"))
def server_k8s(c, check=False, diff=False, json=False, force=False, verbose=False):
    """Render the team's model server for Kubernetes (k8s/team.yaml): runner, models, proxy."""
    from ultra_env.cli import server

    _exit(server.k8s.invoke(ROOT, verbose=verbose, check=check, diff=diff, json=json, force=force))


ns = Collection(
    onboard,
    render,
    profile_,
    profiles,
    config,
    setup,
    doctor,
    up,
    down,
    status,
    health,
    gen_docs,
    Collection("models", models_pull, models_list, models_rm, models_bench),
    Collection("llm", llm_ask, llm_compare),
    Collection("server", server_setup, server_status, server_keys, server_k8s),
)
