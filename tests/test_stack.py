"""`invoke setup` brings Ultra's stack up for real: real dockerd, real Compose, locally built
images running real PostgreSQL 15 and Redis 7, and the backend stand-in."""

from __future__ import annotations

import time

import pytest
from conftest import Project
from python_on_whales import DockerClient

pytestmark = pytest.mark.docker


def client(project: Project) -> DockerClient:
    return DockerClient(
        compose_project_name=project.env["ULTRA_ENV_PROJECT_NAME"], compose_project_directory=str(project.root)
    )


def container_ids(project: Project) -> dict[str, str]:
    return {c.config.labels["com.docker.compose.service"]: c.id for c in client(project).compose.ps()}


def by_name(result) -> dict[str, dict]:
    return {t["name"]: t for t in result.json()["tasks"]}


def psql(project: Project, sql: str) -> str:
    return client(project).compose.execute(
        "postgres",
        [
            "sh",
            "-c",
            f'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "{sql}"',
        ],
        tty=False,
    )


@pytest.mark.parametrize("profile", ["mock", "cloud"])
def test_setup_from_a_clean_directory_then_a_second_run_changes_nothing(stack: Project, profile: str) -> None:
    keys = {"OPENAI_API_KEY": "sk-placeholder-not-a-real-key"} if profile == "cloud" else {}
    first = stack.invoke("setup", "--profile", profile, "--json", timeout=600, **keys)
    assert first.returncode == 0, first.stdout
    tasks = by_name(first)
    assert tasks["docker-compose.yml"]["status"] == "changed" and tasks[".env"]["status"] == "changed"
    assert tasks["stack up"]["status"] == "changed"
    assert "created backend, postgres, redis" in tasks["stack up"]["msg"]
    for service in ("backend", "postgres", "redis"):
        assert (tasks[f"service {service}"]["status"], tasks[f"service {service}"]["msg"]) == ("ok", "healthy")
    changed = {name for name, t in tasks.items() if t["status"] == "changed"}
    # The backend's image is built once per content: an earlier test may have built this one already.
    assert {"docker-compose.yml", ".env", "backend build context", "stack up"} <= changed
    assert changed <= {"docker-compose.yml", ".env", "backend build context", "backend image", "stack up"}
    assert first.json()["recap"] == {
        "ok": sum(t["status"] == "ok" for t in tasks.values()),
        "changed": len(changed),
        "failed": 0,
        "skipped": sum(t["status"] == "skipped" for t in tasks.values()),
        "warn": sum(t["status"] == "warn" for t in tasks.values()),
    }
    assert tasks["backend /api/health"]["status"] == "ok"
    assert tasks["backend /api/analyze"]["status"] == ("ok" if profile == "mock" else "skipped")
    ids = container_ids(stack)
    assert set(ids) == {"backend", "postgres", "redis"}

    second = stack.invoke("setup", "--profile", profile, "--json", timeout=600, **keys)
    assert second.returncode == 0
    assert second.json()["recap"]["changed"] == 0, second.stdout
    assert container_ids(stack) == ids

    status = stack.invoke("status", "--json")
    assert status.returncode == 0
    assert {s["service"]: s["health"] for s in status.json()["services"]} == {
        "backend": "healthy",
        "postgres": "healthy",
        "redis": "healthy",
    }


def test_switching_profiles_recreates_only_what_changed_and_keeps_the_data(stack: Project) -> None:
    keys = {"OPENAI_API_KEY": "sk-placeholder-not-a-real-key"}
    assert stack.invoke("setup", "--profile", "cloud", timeout=600, **keys).returncode == 0
    psql(stack, "CREATE TABLE notes(body text); INSERT INTO notes VALUES ('survives the switch')")
    before = container_ids(stack)

    switched = stack.invoke("profile", "mock", "--json", **keys)
    assert switched.returncode == 0
    up = stack.invoke("up", "--json", **keys)
    assert up.returncode == 0, up.stdout
    assert by_name(up)["stack up"]["msg"] == "recreated backend"
    after = container_ids(stack)
    assert after["backend"] != before["backend"]
    assert (after["postgres"], after["redis"]) == (before["postgres"], before["redis"])
    assert psql(stack, "SELECT body FROM notes").strip() == "survives the switch"


def test_up_status_down_and_volumes_need_a_yes(stack: Project) -> None:
    assert stack.invoke("setup", "--profile", "mock", timeout=600).returncode == 0
    psql(stack, "CREATE TABLE kept(x int)")

    # `up` runs only when the plan finds something for it to do (the trace shows what ran).
    idle = stack.invoke("up", "--json", "--verbose")
    assert by_name(idle)["stack up"] == {**by_name(idle)["stack up"], "status": "ok"}
    assert "nothing for `up` to do" in by_name(idle)["stack up"]["msg"], idle.stdout
    ran = [line for line in idle.stderr.splitlines() if line.startswith("[run")]
    assert any("config --hash" in line for line in ran) and not any(" up --detach" in line for line in ran)
    client(stack).container.stop(container_ids(stack)["redis"])
    woken = stack.invoke("up", "--json", "--verbose")
    assert (by_name(woken)["stack up"]["status"], by_name(woken)["stack up"]["msg"]) == ("changed", "started redis")
    assert any(" up --detach" in line for line in woken.stderr.splitlines()), woken.stderr
    table = stack.invoke("status")
    assert table.stdout.splitlines()[0].split() == ["SERVICE", "STATE", "HEALTH", "PORTS"]
    assert stack.invoke("down").returncode == 0
    assert container_ids(stack) == {}
    assert stack.invoke("status").returncode == 1

    refused = stack.invoke("down", "--volumes")  # no terminal to ask on: the answer is no
    assert refused.returncode == 2 and "invoke down --volumes --yes" in refused.stdout
    assert stack.invoke("up").returncode == 0
    assert psql(stack, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'kept'").strip() == "1"

    assert stack.invoke("down", "--volumes", "--yes").returncode == 0
    name = stack.env["ULTRA_ENV_PROJECT_NAME"]
    assert [v for v in client(stack).volume.list() if v.name.startswith(name)] == []


def test_a_service_that_never_becomes_healthy_fails_within_the_timeout(stack: Project) -> None:
    # The redis image runs happily but serves no /health on :8000, so the backend never gets healthy.
    start = time.monotonic()
    result = stack.invoke(
        "setup",
        "--profile",
        "mock",
        "--json",
        timeout=300,
        ULTRA_ENV_IMAGES__BACKEND="ultra-test/redis:7",
        ULTRA_ENV_TIMEOUTS__UP="15",
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    tasks = by_name(result)
    assert tasks["stack up"]["status"] == "failed"
    backend = tasks["service backend"]
    assert backend["status"] == "failed" and "not healthy" in backend["msg"]
    assert "Ready to accept connections" in backend["msg"]  # the last lines of its log
    assert "its healthcheck said: " in backend["msg"] and "Connection refused" in backend["msg"]
    assert "logs backend" in backend["fix"]
    assert elapsed < 15 + 60
