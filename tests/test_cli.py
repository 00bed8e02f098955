"""The invoke tasks as a user runs them: files, recaps, exit codes, dry runs, conflicts, keys kept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from conftest import REPO, Project

from ultra_env.project.envfile import parse

KEY = "sk-PLANTED-do-not-leak-7f3a9c"


def recap(result) -> dict:
    return result.json()["recap"]


def statuses(result) -> dict[str, str]:
    return {task["name"]: task["status"] for task in result.json()["tasks"]}


def test_invoke_list_shows_every_task() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "--list"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    for name in ("render", "profile", "config", "setup", "gen-docs"):
        assert f"\n  {name} " in done.stdout


def test_render_creates_files_then_changes_nothing(project: Project) -> None:
    first = project.call("render", "--json")
    assert first.returncode == 0, first.output
    assert statuses(first)["docker-compose.yml"] == "changed"
    assert statuses(first)[".env"] == "changed"
    assert stat.S_IMODE(os.stat(project.root / ".env").st_mode) == 0o600
    second = project.call("render", "--json")
    assert second.returncode == 0
    assert recap(second)["changed"] == 0 and recap(second)["failed"] == 0
    human = project.call("render")
    assert human.stdout.rstrip().splitlines()[-1].startswith("recap: ok=")
    assert "changed=0" in human.stdout


def test_profile_round_trip_keeps_a_planted_key(project: Project) -> None:
    assert project.call("render", "--profile", "local").returncode == 0
    env = project.read(".env").replace("OPENAI_API_KEY=\n", f"OPENAI_API_KEY={KEY}\n")
    project.write(".env", env + "MY_OWN_SETTING=keep-me\n")

    for name in ("cloud", "local"):
        switched = project.call("profile", name, "--json")
        assert switched.returncode == 0, switched.output
        assert statuses(switched)["profile"] == "changed"
        again = project.call("profile", name, "--json")
        assert recap(again)["changed"] == 0, again.stdout
        values = parse(project.read(".env")).values()
        assert values["OPENAI_API_KEY"] == KEY
        assert values["MY_OWN_SETTING"] == "keep-me"
        assert values["ULTRA_PROFILE"] == name
        assert values["USE_MODEL_RUNNER"] == ("true" if name == "local" else "false")
        for output in (switched.output, again.output):
            assert KEY not in output
    assert "models:" in project.read("docker-compose.yml")


def test_profiles_lists_them_with_the_active_one_marked(project: Project) -> None:
    project.call("profile", "mock")
    shown = project.call("profiles")
    assert shown.returncode == 0
    assert shown.stdout.startswith("active profile: mock (from invoke profile (state))")
    assert "  * mock" in shown.stdout and "    cloud" in shown.stdout


def test_check_mode_reports_changes_and_writes_nothing(project: Project) -> None:
    dry = project.call("render", "--check", "--json")
    assert dry.returncode == 0
    assert dry.json()["check"] is True and recap(dry)["changed"] == 2
    assert sorted(p.name for p in project.root.iterdir()) == []
    project.call("render")
    before = {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()}
    dry_switch = project.call("profile", "cloud", "--check")
    assert "would switch local → cloud" in dry_switch.stdout
    assert "(check mode: nothing was changed)" in dry_switch.stdout
    assert {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()} == before
    assert project.call("profiles").stdout.startswith("active profile: local")


def test_diff_masks_secrets(project: Project) -> None:
    created = project.call("render", "--diff", OPENAI_API_KEY=KEY)  # the whole new .env is the diff
    password = parse(project.read(".env")).values()["POSTGRES_PASSWORD"]
    assert f"OPENAI_API_KEY={KEY}" in project.read(".env")
    assert "+OPENAI_API_KEY=***" in created.stdout and "+POSTGRES_PASSWORD=***" in created.stdout
    shown = project.call("profile", "cloud", "--diff")
    assert "+ULTRA_PROFILE=cloud" in shown.stdout and "-ULTRA_PROFILE=local" in shown.stdout
    for output in (created.output, shown.output):
        assert KEY not in output and password not in output


def test_an_edited_compose_file_is_a_conflict_and_force_keeps_a_backup(project: Project) -> None:
    project.call("render")
    edited = project.read("docker-compose.yml") + "# my local tweak\n"
    project.write("docker-compose.yml", edited)
    env_before = project.read(".env")

    conflict = project.call("profile", "cloud", "--json")
    assert conflict.returncode == 1
    tasks = statuses(conflict)
    assert tasks["docker-compose.yml"] == "failed" and tasks[".env"] == "skipped"
    failed = next(t for t in conflict.json()["tasks"] if t["name"] == "docker-compose.yml")
    assert "docker-compose.override.yml" in failed["fix"] and "--force" in failed["fix"]
    assert project.read("docker-compose.yml") == edited
    assert project.read(".env") == env_before

    forced = project.call("render", "--force", "--json")
    assert forced.returncode == 0
    backups = list((project.root / ".ultra-env" / "backups").iterdir())
    assert len(backups) == 1 and backups[0].read_text() == edited
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert "# my local tweak" not in project.read("docker-compose.yml")


def test_user_edits_to_managed_env_values_are_kept(project: Project) -> None:
    project.call("render")
    project.write(".env", project.read(".env").replace("ENABLE_MOCK_LLM=false", "ENABLE_MOCK_LLM=true"))
    result = project.call("profile", "cloud")
    assert "kept your value of ENABLE_MOCK_LLM" in result.stdout
    assert parse(project.read(".env")).values()["ENABLE_MOCK_LLM"] == "true"


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["render", "--profile", "staging"], {}, "unknown profile 'staging' (from flag --profile)"),
        (["profile", "prod"], {}, "unknown profile 'prod' (from invoke profile prod)"),
        (["render"], {"ULTRA_ENV_PORTS__BACKEND": "http"}, "ports.backend"),
        (["render"], {"ULTRA_ENV_MODELS": '[{"name": "ai/x;reboot"}]'}, "is not a model name"),
    ],
)
def test_bad_configuration_exits_2_and_writes_nothing(project: Project, args, env, fragment) -> None:
    project.call("render")
    before = {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()}
    result = project.call(*args, **env)
    assert result.returncode == 2, result.output
    assert fragment in result.stdout
    assert "fix:" in result.stdout
    assert {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()} == before


def test_a_malformed_env_file_exits_2_and_is_untouched(project: Project) -> None:
    project.write(".env", "GOOD=1\nthis is not an assignment\n")
    result = project.call("render")
    assert result.returncode == 2
    assert ".env:2: key cannot contain a space" in result.stdout
    assert project.read(".env") == "GOOD=1\nthis is not an assignment\n"
    assert not (project.root / "docker-compose.yml").exists()


def test_config_shows_sources_and_masks_keys(project: Project) -> None:
    project.write("ultra-env.toml", "[ports]\nfrontend = 3100\n")
    shown = project.call("config", "--json", OPENAI_API_KEY=KEY, ULTRA_ENV_PORTS__BACKEND="8100")
    assert shown.returncode == 0
    values = shown.json()
    assert values["ports.backend"] == {"value": 8100, "origin": "env ULTRA_ENV_PORTS__BACKEND"}
    assert values["ports.frontend"] == {"value": 3100, "origin": "ultra-env.toml"}
    assert values["providers.openai.api_key"] == {"value": "*** (set)", "origin": "env OPENAI_API_KEY"}
    assert KEY not in shown.output
    human = project.call("config", OPENAI_API_KEY=KEY)
    assert "providers.openai.api_key" in human.stdout and KEY not in human.output


def test_symlinked_env_is_refused(project: Project, tmp_path) -> None:
    outside = tmp_path / "elsewhere.env"
    outside.write_text("A=1\n")
    (project.root / ".env").symlink_to(outside)
    result = project.call("render")
    assert result.returncode == 1
    assert "symbolic link" in result.stdout and "fix:" in result.stdout
    assert outside.read_text() == "A=1\n"


def test_setup_stops_before_any_change_when_a_check_fails(project: Project) -> None:
    result = project.call("setup", "--profile", "mock", "--json", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert result.returncode == 1
    assert statuses(result)["daemon"] == "failed"
    assert statuses(result)["render files"] == "skipped"
    assert project.written() == []


def test_a_broken_template_names_file_and_line_and_changes_nothing(project: Project, tmp_path) -> None:
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    project.call("render", ULTRA_ENV_TEMPLATES_DIR=str(templates))
    before = {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()}
    compose = templates / "docker-compose.yml.j2"
    lines = compose.read_text().splitlines()
    lines[11] = lines[11] + " {% if %}"
    compose.write_text("\n".join(lines) + "\n")
    result = project.call("profile", "cloud", ULTRA_ENV_TEMPLATES_DIR=str(templates))
    assert result.returncode == 1
    assert "templates/docker-compose.yml.j2:12:" in result.stdout
    assert {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()} == before
    assert project.call("profiles").stdout.startswith("active profile: local")

    compose.write_text(compose.read_text().replace(" {% if %}", "").replace("services:", "servics:"))
    invalid = project.call("render", "--profile", "cloud", ULTRA_ENV_TEMPLATES_DIR=str(templates))
    assert invalid.returncode == 1 and "validate compose file" in invalid.stdout
    assert {p.name: p.read_bytes() for p in project.root.iterdir() if p.is_file()} == before


def test_profile_needs_a_name(project: Project) -> None:
    result = project.call("profile")
    assert result.returncode == 1
    assert "'profile' did not receive required positional arguments: 'name'" in result.stderr
    assert project.written() == []


@pytest.mark.parametrize("args", [["profile", "--help"], ["models.rm", "--help"], ["llm.ask", "--help"]])
def test_help_after_a_positional_task_is_not_taken_as_its_argument(project: Project, args) -> None:
    result = project.call(*args)
    assert result.returncode == 2
    assert "'--help' was taken as the task's argument" in result.stdout and f"invoke --help {args[0]}" in result.stdout
    assert project.written() == []


def test_choosing_the_default_profile_is_no_change(project: Project) -> None:
    assert project.call("render").returncode == 0
    chosen = project.call("profile", "local", "--json")
    tasks = {t["name"]: t for t in chosen.json()["tasks"]}
    assert tasks["profile"]["status"] == "ok" and chosen.json()["recap"]["changed"] == 0
    assert project.call("profiles").stdout.startswith("active profile: local (from invoke profile (state))")


def test_a_linked_lock_or_state_folder_is_refused(project: Project, tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (project.root / ".ultra-env").mkdir()
    (project.root / ".ultra-env" / "lock").symlink_to(victim)
    result = project.call("render")
    assert result.returncode == 1 and "symbolic link" in result.stdout
    assert victim.read_text() == "precious\n"
