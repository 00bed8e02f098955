"""Doctor's verdict on the Compose files a plain ``docker compose`` reads in the project: the
rendered file first, and everything merged over it accepted by the real ``docker compose config``."""

from __future__ import annotations

from collections.abc import Iterator

from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status, TaskResult
from ultra_env.facts.gather import Facts

AREA, NAME = "Compose", "compose files"


def compose_file_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    found = facts.compose_files
    if found is None:
        return
    problem = found.problem()
    if problem is not None:
        yield TaskResult(NAME, Status.FAILED, problem[0], problem[1], area=AREA)
        return
    checked = facts.compose_config
    if checked is None:  # nothing rendered yet
        return
    if checked.ok:
        yield TaskResult(NAME, Status.OK, f"docker compose config accepts {found.names()}", area=AREA)
        return
    fix = found.extra_fix() if found.extra else "invoke render (it rewrites docker-compose.yml from the templates)"
    yield TaskResult(NAME, Status.FAILED, f"Compose refuses {found.names()}: {checked.error}", fix, area=AREA)
