"""What working offline still lacks, judged by doctor: a llama.cpp that the first use would
download (deferred on macOS and Windows since runner v1.2.6; reference sections 1 and 3). Pure."""

from __future__ import annotations

from collections.abc import Iterator

from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status, TaskResult
from ultra_env.facts.gather import Facts
from ultra_env.operations.backends import LLAMA, installing, needs_install

AREA = "Model Runner"


def offline_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    status = facts.model_status.value if facts.model_status else None
    if not settings.features.local_llm or status is None or not status.running:
        return
    state = status.backends.get(LLAMA)
    fix = f"invoke setup installs it while online (or: docker model install-runner --backend {LLAMA})"
    if needs_install(state) and not (state or "").lower().startswith("error"):
        yield TaskResult(
            f"backend {LLAMA}",
            Status.WARN,
            f"{state}: the first request downloads it from Docker Hub, so local models cannot run offline yet",
            fix,
            area=AREA,
        )
    elif installing(state):
        yield TaskResult(
            f"backend {LLAMA}", Status.WARN, f"{state}: local models answer once it is downloaded", fix, area=AREA
        )
