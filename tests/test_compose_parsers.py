"""Compose's outputs, captured from the real Compose v5.6.1 (tests/fixtures/compose/README.md), and
the plan ``up --check`` derives from them: facts in, plan out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ultra_env.engine.plan import Action
from ultra_env.operations import stack_plan
from ultra_env.operations.compose import Service, describe, parse_hashes, parse_ps, parse_service_images, up_events
from ultra_env.operations.stack import without_images

FIXTURES = Path(__file__).parent / "fixtures" / "compose"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_ps_json_lines() -> None:
    services = parse_ps(fixture("ps-all.jsonl"))
    assert [(s.service, s.state, s.health, s.exit_code, s.ready) for s in services] == [
        ("cache", "running", "", 0, True),
        ("once", "exited", "", 3, False),
        ("web", "running", "healthy", 0, True),
    ]
    assert all(len(s.config_hash) == 64 for s in services)
    assert all(s.name == f"capture-{s.service}-1" for s in services)


def test_ps_as_one_array_and_empty() -> None:
    lines = fixture("ps-all.jsonl").strip().splitlines()
    assert parse_ps("[" + ",".join(lines) + "]") == parse_ps(fixture("ps-all.jsonl"))
    assert parse_ps("") == [] and parse_ps("\n") == []


def test_config_hashes() -> None:
    hashes = parse_hashes(fixture("config-hash.txt"))
    assert sorted(hashes) == ["cache", "once", "web"] and all(len(h) == 64 for h in hashes.values())
    labels = {s.service: s.config_hash for s in parse_ps(fixture("ps-all.jsonl"))}
    assert labels == hashes  # the containers were made from the configuration as it is


@pytest.mark.parametrize(
    ("name", "events", "said"),
    [
        (
            "up-create.txt",
            {"web": {"Creating", "Created", "Starting", "Started", "Waiting", "Healthy"}},
            "created cache, web",
        ),
        ("up-noop.txt", {"web": {"Running", "Waiting", "Healthy"}}, ""),
        (
            "up-recreate.txt",
            {"cache": {"Recreate", "Recreated", "Starting", "Started", "Waiting", "Healthy"}},
            "recreated cache",
        ),
    ],
)
def test_up_events_and_what_changed(name: str, events: dict[str, set[str]], said: str) -> None:
    found = up_events(fixture(name), "capture")
    for service, words in events.items():
        assert found[service] == words
    assert describe(found) == said
    assert up_events(fixture(name), "other") == {}  # another project's containers are not ours


def test_config_json_gives_each_services_image() -> None:
    assert parse_service_images(fixture("config.json")) == {s: "ultra-test/busybox:1" for s in ("cache", "once", "web")}
    assert parse_service_images('{"services": {"built": {"build": {"context": "."}}}}') == {}


def test_an_up_without_its_images_names_them_and_the_pull() -> None:
    """Compose's last line names whichever service failed first; the absent images are named
    whatever it said (CI once saw `No such container: <id>` there for a missing redis image)."""
    said = "Error response from daemon: No such container: 260af0e39a0d"
    assert without_images({}, "never", said) is None
    cause, fix = without_images({"redis": "ultra-test/missing:1"}, "never", said) or ("", "")
    assert cause == (
        "docker compose up failed: image ultra-test/missing:1 (service redis) not on this machine,"
        " and pull_policy is never"
    )
    assert fix == "docker pull ultra-test/missing:1 (or point the service at an image you have)"
    cause, fix = without_images({"a": "x:1", "b": "x:1", "c": "y:2"}, "missing", "pull access denied for x") or ("", "")
    assert cause == (
        "docker compose up failed: images x:1 (service a), x:1 (service b), y:2 (service c) not on this machine"
        " and not pulled: pull access denied for x"
    )
    assert fix.startswith("docker pull x:1; docker pull y:2 (")


RUNNING = {s.service: s for s in parse_ps(fixture("ps-all.jsonl"))}
NOW = parse_hashes(fixture("config-hash.txt"))
CHANGED = {**NOW, "cache": "0" * 64}

# (containers, config --hash now, hashes at the last up) -> what `up` would do
PLANS = [
    ("as last up, one exited", RUNNING, NOW, {}, ["start once"]),
    ("a changed service", RUNNING, CHANGED, {}, ["recreate cache", "start once"]),
    ("changed, but as at the last up (models: binding)", RUNNING, CHANGED, {"cache": "0" * 64}, ["start once"]),
    ("a new service", RUNNING, {**NOW, "redis": "1" * 64}, {}, ["start once", "create redis"]),
    ("nothing running", {}, NOW, {}, ["create cache", "create once", "create web"]),
    ("all running", {**RUNNING, "once": replace(RUNNING["once"], state="running")}, NOW, {}, []),
    (
        "a service gone from the file: --remove-orphans removes it",
        RUNNING,
        {"web": NOW["web"]},
        {},
        ["remove cache (no longer in the compose file)", "remove once (no longer in the compose file)"],
    ),
    (
        "running, its healthcheck not passed yet: up --wait waits",
        {**RUNNING, "once": replace(RUNNING["once"], state="running", health="starting")},
        NOW,
        {},
        ["wait for once (starting)"],
    ),
]


@pytest.mark.parametrize(("case", "running", "now", "last_up", "plan"), PLANS, ids=[p[0] for p in PLANS])
def test_planned_changes(case: str, running: dict[str, Service], now: dict, last_up: dict, plan: list[str]) -> None:
    steps = stack_plan.services(running, now, last_up)
    assert [step.why for step in steps if step.action.changes] == plan
    assert stack_plan.changes(steps) == ", ".join(plan)
    kept = {step.task for step in steps if step.action is Action.KEEP}
    assert kept == {f"service {s}" for s in now if s in running and not any(s in why for why in plan)}


# (the image there, built from a source) -> what the backend image step does
IMAGES = [
    (True, None, Action.KEEP, "ultra-env-backend:abc is built"),
    (False, None, Action.CREATE, "build ultra-env-backend:abc"),
    (True, "../ultra", Action.UPDATE, "build ultra-env-backend:abc from ../ultra"),  # Docker's cache decides
    (False, "../ultra", Action.UPDATE, "build ultra-env-backend:abc from ../ultra"),
]


@pytest.mark.parametrize(("built", "source", "action", "why"), IMAGES)
def test_the_backend_image_plan(built: bool, source: str | None, action: Action, why: str) -> None:
    step = stack_plan.image("ultra-env-backend:abc", built, source)
    assert (step.task, step.action, step.why) == ("backend image", action, why)
