"""What the backend image and ``up`` will do, decided before either runs. Pure: what Docker and
Compose said (the image there, the containers there, ``config --hash`` now and at the last ``up``)
in, steps out; ``operations.stack`` carries them out, and skips ``up`` when every step keeps."""

from __future__ import annotations

from ultra_env.engine.plan import Action, Step
from ultra_env.operations.compose import Service

IMAGE_TASK = "backend image"


def image(name: str, built: bool, source: str | None) -> Step:
    """The shipped backend is built once per content (its tag is its digest); your Ultra from
    ``source`` is built each time (Docker's cache decides what it costs)."""
    if source:
        return Step(IMAGE_TASK, Action.UPDATE, f"build {name} from {source}")
    if built:
        return Step(IMAGE_TASK, Action.KEEP, f"{name} is built")
    return Step(IMAGE_TASK, Action.CREATE, f"build {name}")


def services(running: dict[str, Service], hashes_now: dict[str, str], hashes_at_last_up: dict[str, str]) -> list[Step]:
    """A step per service, as ``up --wait --remove-orphans`` would take it: created when it has no
    container, recreated when what it is made from changed, started or waited for when it is not
    ready, removed when the compose file no longer has it.

    A container is current when its hash label matches ``config --hash``; for a service bound to a
    model, whose label also covers what the plugin injected, when ``config --hash`` is what it was
    at the last successful ``up``."""
    steps = []
    for service, digest in sorted(hashes_now.items()):
        task, have = f"service {service}", running.get(service)
        if have is None:
            steps.append(Step(task, Action.CREATE, f"create {service}"))
        elif have.config_hash != digest and hashes_at_last_up.get(service) != digest:
            steps.append(Step(task, Action.UPDATE, f"recreate {service}"))
        elif have.state != "running":
            steps.append(Step(task, Action.UPDATE, f"start {service}"))
        elif not have.ready:
            steps.append(Step(task, Action.UPDATE, f"wait for {service} ({have.health})"))
        else:
            steps.append(Step(task, Action.KEEP, have.health or "running"))
    for service in sorted(set(running) - set(hashes_now)):
        steps.append(Step(f"service {service}", Action.REMOVE, f"remove {service} (no longer in the compose file)"))
    return steps


def changes(steps: list[Step]) -> str:
    """``create redis, recreate backend``: what the steps change, empty when nothing."""
    return ", ".join(step.why for step in steps if step.action.changes)
