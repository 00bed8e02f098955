"""No secret in any output: keys and passwords planted everywhere they can live, every task run in
every output mode, and every byte of output, state, backup and generated file searched."""

from __future__ import annotations

import itertools
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, Project

SECRETS = {
    "dotenv": "sk-DOTENV-planted-9d1c7e",
    "environ": "sk-ant-ENVIRON-planted-51b0",
    "config": "AIzaCONFIG-planted-77aa",
    "password": "pw-PLANTED-3f9e2a1b",
    "unrelated_token": "tok-PLANTED-GITHUB-0c0c",
}
RUNS = [
    ["render"],
    ["render", "--diff"],
    ["render", "--json"],
    ["render", "--check", "--diff"],
    ["profile", "cloud", "--diff"],
    ["profile", "hybrid", "--json", "--diff"],
    ["profiles"],
    ["profiles", "--json"],
    ["config"],
    ["config", "--json"],
    ["doctor"],
    ["doctor", "--json"],
    ["doctor", "--profile", "cloud", "--json"],
    ["setup", "--check", "--diff", "--profile", "cloud"],
    ["render", "--force", "--diff"],
    ["status"],
    ["models.list"],
    ["llm.ask", "hi", "--provider", "openai", "--profile", "local"],  # refused: no network
    ["render", "--profile", "nope"],  # error path
    ["-d", "render", "--diff"],  # invoke's own debug output
]


def plant(project: Project) -> dict[str, str]:
    project.call("render", "--profile", "hybrid")
    text = project.read(".env").replace("OPENAI_API_KEY=\n", f"OPENAI_API_KEY={SECRETS['dotenv']}\n")
    text = text.replace("POSTGRES_PASSWORD=", f"POSTGRES_PASSWORD={SECRETS['password']}\n# old: ", 1)
    project.write(".env", text + f"GITHUB_TOKEN={SECRETS['unrelated_token']}\n")
    project.write("ultra-env.toml", f'[providers.google]\napi_key = "{SECRETS["config"]}"\n')
    # An edited compose file makes --force write a backup, which must hold no secret either.
    project.write("docker-compose.yml", project.read("docker-compose.yml") + "# edited\n")
    return {"ANTHROPIC_API_KEY": SECRETS["environ"], "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def test_no_secret_in_any_output_file_or_state(project: Project) -> None:
    env = plant(project)
    for args in RUNS:
        result = project.call(*args, **env)
        assert leaks(result.stdout) == [], (args, result.stdout)
        assert leaks(result.stderr) == [], (args, result.stderr)
    for path in project.root.rglob("*"):
        if path.is_file() and path.name not in (".env", "ultra-env.toml"):  # where the user put them
            assert leaks(path.read_text(errors="replace")) == [], path
    env_values = project.read(".env")
    assert SECRETS["dotenv"] in env_values and SECRETS["unrelated_token"] in env_values  # kept, only there
    assert list((project.root / ".ultra-env" / "backups").iterdir())  # the --force run made one


def test_files_holding_secrets_or_state_are_private(project: Project) -> None:
    plant(project)
    project.call("render", "--force")
    build = project.root / ".ultra-env" / "build"  # the backend's sources, world-readable for its image's user
    private = [project.root / ".env", *(p for p in (project.root / ".ultra-env").rglob("*") if build not in p.parents)]
    for path in private:
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((project.root / ".ultra-env").stat().st_mode) == 0o700  # so nobody else reaches build/
    staged = [p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()]
    assert staged and not [name for name in staged if ".env" in name or "state" in name]
    assert not [
        s
        for s in SECRETS.values()
        if any(s in p.read_text(errors="replace") for p in build.rglob("*.*") if p.is_file())
    ]


def test_a_crash_report_masks_secrets(tmp_path: Path) -> None:
    """An unexpected exception (a bug) prints its traceback with every known secret masked."""
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={SECRETS['dotenv']}\n")
    script = (
        "import sys; from pathlib import Path; from ultra_env.cli.command import command\n"
        "def boom(ctx): raise RuntimeError('lost key ' + "
        + repr(SECRETS["dotenv"])
        + " + ' and ' + "
        + repr(SECRETS["environ"])
        + ")\n"
        "sys.exit(command('render', changes=True)(boom).invoke(Path(" + repr(str(REPO)) + ")))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "ULTRA_ENV_PROJECT_DIR": str(tmp_path), "ANTHROPIC_API_KEY": SECRETS["environ"]},
    )
    assert done.returncode == 1
    assert "RuntimeError: lost key *** and ***" in done.stderr
    assert "internal error" in done.stderr
    assert leaks(done.stdout + done.stderr) == []


@pytest.mark.parametrize(("mode", "json_flag"), itertools.product(["render", "doctor"], [False, True]))
def test_validation_errors_never_echo_a_secret(project: Project, mode: str, json_flag: bool) -> None:
    args = [mode, "--json"] if json_flag else [mode]
    result = project.call(*args, ULTRA_ENV_PROVIDERS__OPENAI__API_KEY=f'["{SECRETS["environ"]}"]')
    assert result.returncode == 2
    assert "providers.openai.api_key" in result.stdout
    assert leaks(result.output) == []


def test_escaped_and_unowned_secrets_stay_out_of_json_and_diffs(project: Project) -> None:
    project.call("render", "--profile", "mock")
    quoted = 'pw"with\\quote${x'
    text = project.read(".env")
    text = text.replace(
        "REDIS_PASSWORD=",
        "REDIS_PASSWORD=" + __import__("ultra_env.project.envfile", fromlist=["quote"]).quote(quoted) + "\n# was: ",
        1,
    )
    project.write(".env", text + "SMTP_PASS=hunter2xyz\nSENTRY_URL=https://abc123secret@sentry.example/1\n")
    for args in (
        ["render", "--profile", "cloud", "--json"],
        ["render", "--profile", "mock", "--diff"],
        ["render", "--profile", "cloud", "--diff", "--json"],
        ["up", "--json"],
    ):
        result = project.call(*args, VERIFY_SSL_KEY="false", DOCKER_HOST="unix:///nonexistent.sock")
        out = result.output
        assert "hunter2xyz" not in out and "abc123secret" not in out, (args, out)
        assert 'pw\\"with\\\\quote' not in out and quoted not in out, (args, out)
        if "--json" in args:
            __import__("json").loads(result.stdout)  # a common word as a "secret" must not break the JSON
