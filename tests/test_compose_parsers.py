"""Compose's outputs, captured from the real Compose v5.6.1 (tests/fixtures/compose/README.md), and
the plan ``up --check`` derives from them: facts in, plan out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ultra_env.operations.compose import Service, describe, parse_hashes, parse_ps, plan_up, up_events

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
    ("a removed service is not ours to plan", RUNNING, {"web": NOW["web"]}, {}, []),
]


@pytest.mark.parametrize(("case", "running", "now", "last_up", "plan"), PLANS, ids=[p[0] for p in PLANS])
def test_planned_changes(case: str, running: dict[str, Service], now: dict, last_up: dict, plan: list[str]) -> None:
    assert plan_up(running, now, last_up) == plan
