"""Local models through Docker Model Runner: pull what the configuration asks for, list, remove."""

from __future__ import annotations

import time
from collections.abc import Callable

from ultra_env import dmr
from ultra_env.config import ModelSpec, Settings
from ultra_env.facts.gather import Probe, api_root
from ultra_env.runner import TaskResult, changed, failed, ok


def api_for(settings: Settings) -> dmr.Api:
    """The API root that answers from the host: ``endpointHost`` when it is TCP, else the configured one."""
    try:
        status = dmr.status(settings.timeouts.probe)
    except dmr.DmrError:
        status = None
    return dmr.Api(api_root(Probe(value=status), settings.model_runner.host_url), timeout=settings.timeouts.probe)


def pull(api: dmr.Api, models: list[ModelSpec], *, check: bool,
         on_progress: Callable[[dmr.Progress], None]) -> list[TaskResult]:
    """One task per model: ok when present (not changed), changed when pulled, failed with the fix."""
    try:
        present = api.models()
    except dmr.DmrError as exc:
        return [failed(f"pull {m.name}", exc.cause, exc.fix or "invoke doctor") for m in models]
    results = []
    for model in models:
        name = f"pull {model.name}"
        if any(p.has(model.name) for p in present):
            results.append(ok(name, "present"))
            continue
        if check:
            size = f"; needs about {model.size_mb} MB of disk" if model.size_mb else ""
            results.append(changed(name, f"would pull{size}"))
            continue
        start = time.monotonic()
        seen: list[dmr.Progress] = []

        def progress(event: dmr.Progress) -> None:
            seen.append(event)
            on_progress(event)

        try:
            api.pull(model.name, progress)
        except dmr.DmrError as exc:
            results.append(failed(name, exc.cause, exc.fix or f"invoke models.pull --model {model.name}"))
            continue
        seconds = time.monotonic() - start
        total = max((p.total for p in seen), default=0)
        size = f"{total / 1e6:.1f} MB " if total else ""
        results.append(changed(name, f"pulled {size}in {seconds:.1f}s"))
    return results
