"""Whether Compose's `models:` can serve the stack, as data: the runner's status (parsed from real
or transcribed `docker model status --json`, tests/fixtures/README.md) and the settings in, the
rendering and the verdict out (operations.render_target.compose_can_serve), and the URL containers get
(checks.reach.runner_url_for_containers)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ultra_env.checks.reach import runner_url_for_containers
from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status
from ultra_env.facts.model_runner import RunnerStatus, parse_status_json
from ultra_env.operations.render import RenderTarget
from ultra_env.operations.render_target import compose_can_serve

DMR = Path(__file__).parent / "fixtures" / "dmr"
MANUAL = parse_status_json((DMR / "status-json-manual-install-real.json").read_text())
ENGINE = parse_status_json((DMR / "status-json-new-engine.json").read_text())
DESKTOP = parse_status_json((DMR / "status-json-new-desktop.json").read_text())
BROKEN = RunnerStatus(running=True, source="api", json_error="unable to initialize standalone model runner")


def settings(mode: str = "auto", host_url: str = "http://localhost:12434", container_url: str | None = None):
    runner = {"compose_models": mode, "host_url": host_url}
    if container_url:
        runner["container_url"] = container_url
    return Settings.model_validate({"model_runner": runner})


@pytest.mark.parametrize(
    ("status", "config", "models_block", "verdict", "url"),
    [
        (ENGINE, settings(), True, None, "http://172.17.0.1:12434/engines/v1"),
        (DESKTOP, settings(), True, None, "http://model-runner.docker.internal/v1"),
        # the real standalone runner: Compose would inject its loopback endpoint verbatim
        (MANUAL, settings(), False, Status.WARN, "http://host.docker.internal:12434/v1"),
        (MANUAL, settings("on"), True, Status.FAILED, "http://127.0.0.1:12434/v1"),
        (
            MANUAL,
            settings(container_url="http://10.0.0.5:9000/engines/v1"),
            False,
            Status.WARN,
            "http://10.0.0.5:9000/engines/v1",
        ),
        # `status` itself fails while the API answers: Compose's `up` would fail on it
        (BROKEN, settings(), False, Status.WARN, "http://model-runner.docker.internal:12434/engines/v1"),
        (BROKEN, settings("on"), True, Status.FAILED, None),
        # Engine's status names 12434 whatever port the runner listens on (status.go:156-162)
        (ENGINE, settings(host_url="http://localhost:13000"), False, Status.WARN, "http://172.17.0.1:13000/engines/v1"),
        (replace(DESKTOP, source="api"), settings("off"), False, None, None),
    ],
)
def test_compose_models_verdicts(
    status: RunnerStatus, config: Settings, models_block: bool, verdict: Status | None, url: str | None
) -> None:
    start = RenderTarget(models_block=config.model_runner.compose_models != "off", desktop=status is DESKTOP)
    target, result = compose_can_serve(config, start, status)
    assert target.models_block is models_block
    assert (result.status if result else None) is verdict, result
    if result is not None:
        assert result.fix, result
    if url is not None:
        assert runner_url_for_containers(config, status, start) == url


@pytest.mark.parametrize(
    ("compose", "plugin", "dropped"),
    [
        ("2.40.3", "1.0.6", False),
        ("5.0.0", "1.2.6", True),  # af8cac576: runtime_flags dropped with a warning
        ("5.0.1", "1.2.6", True),
        ("5.0.2", "1.2.6", False),  # 58403169f: passed again to plugins >= v1.0.6
        ("5.6.1", "1.0.5", True),  # supportsRuntimeFlags: older plugins get none
        ("5.6.1", None, True),  # a plugin version that does not read: supportsRuntimeFlags says no
        (None, "1.0.6", False),
    ],
)
def test_when_compose_leaves_runtime_flags_to_ultra_env(compose: str | None, plugin: str | None, dropped: bool) -> None:
    from ultra_env.operations.model_plan import compose_drops_flags

    assert compose_drops_flags(compose, plugin) is dropped
