"""Configuration: precedence of sources, provenance, profiles and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ultra_env.config.settings import PROFILE_FEATURES, Profile, Settings
from ultra_env.config.sources import Flag, load
from ultra_env.errors import ConfigError

SECRET = "sk-test-SECRET-value-4242"


def write_toml(root: Path, text: str) -> None:
    (root / "ultra-env.toml").write_text(text, encoding="utf-8")


def test_defaults_are_the_local_profile(tmp_path: Path) -> None:
    loaded = load(tmp_path, environ={})
    assert loaded.settings.profile is Profile.LOCAL
    assert loaded.settings.features.local_llm is True
    assert loaded.origin("profile") == "default"
    assert loaded.origin("features.local_llm") == "profile local"
    assert loaded.origin("ports.backend") == "default"


@pytest.mark.parametrize("profile", list(Profile))
def test_each_profile_sets_its_features_and_only_those(tmp_path: Path, profile: Profile) -> None:
    environ = {"ULTRA_ENV_TEAM__URL": "https://llm.team.example/v1"}  # the team profile needs its server
    features = load(tmp_path, environ=environ, flags=[Flag("--profile", "profile", profile.value)]).settings.features
    on = {name for name, value in features.model_dump().items() if value}
    assert on == set(PROFILE_FEATURES[profile])


def test_precedence_flag_over_env_over_file_over_profile(tmp_path: Path) -> None:
    write_toml(tmp_path, "[ports]\nbackend = 8100\nfrontend = 3100\n[features]\nworker = true\n")
    environ = {"ULTRA_ENV_PORTS__BACKEND": "8200", "ULTRA_ENV_FEATURES__LOCAL_LLM": "false"}
    loaded = load(tmp_path, environ=environ, flags=[Flag("--local-llm", "features.local_llm", True)])
    s = loaded.settings
    assert (s.ports.backend, s.ports.frontend, s.features.worker, s.features.local_llm) == (8200, 3100, True, True)
    assert loaded.origin("ports.backend") == "env ULTRA_ENV_PORTS__BACKEND"
    assert loaded.origin("ports.frontend") == "ultra-env.toml"
    assert loaded.origin("features.worker") == "ultra-env.toml"
    assert loaded.origin("features.local_llm") == "flag --local-llm"


@pytest.mark.parametrize(
    ("flag", "env", "state", "file", "expected", "origin"),
    [
        ("cloud", "mock", "hybrid", "local", "cloud", "flag --profile"),
        (None, "mock", "hybrid", "local", "mock", "env ULTRA_ENV_PROFILE"),
        (None, None, "hybrid", "cloud", "hybrid", "invoke profile (state)"),
        (None, None, None, "cloud", "cloud", "ultra-env.toml"),
        (None, None, None, None, "local", "default"),
    ],
)
def test_profile_resolution_order(tmp_path: Path, flag, env, state, file, expected, origin) -> None:
    if file:
        write_toml(tmp_path, f'profile = "{file}"\n')
    flags = [Flag("--profile", "profile", flag)] if flag else []
    environ = {"ULTRA_ENV_PROFILE": env} if env else {}
    loaded = load(tmp_path, environ=environ, flags=flags, state_profile=state)
    assert (loaded.settings.profile.value, loaded.origin("profile")) == (expected, origin)


def test_local_llm_flag_turns_local_models_on_for_any_profile(tmp_path: Path) -> None:
    flags = [Flag("--profile", "profile", "cloud"), Flag("--local-llm", "features.local_llm", True)]
    features = load(tmp_path, environ={}, flags=flags).settings.features
    assert features.local_llm and features.cloud_llm


def test_cloud_keys_come_from_dotenv_and_the_environment_wins(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        environ={"ANTHROPIC_API_KEY": "sk-ant-env"},
        dotenv={"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": "sk-ant-file"},
    )
    providers = loaded.settings.providers
    assert providers["openai"].api_key.get_secret_value() == SECRET
    assert providers["anthropic"].api_key.get_secret_value() == "sk-ant-env"
    assert loaded.origin("providers.openai.api_key") == ".env OPENAI_API_KEY"
    assert loaded.origin("providers.anthropic.api_key") == "env ANTHROPIC_API_KEY"
    assert SECRET not in repr(loaded.settings)


@pytest.mark.parametrize(
    "var",
    [
        "ULTRA_ENV_PROJECT_DIR",
        "ULTRA_ENV_TEMPLATES_DIR",
        "ULTRA_ENV_DEBUG",
        "ULTRA_ENV_REQUIRE_DMR",
        "ULTRA_ENV_DMR_QUIET",
    ],
)
def test_the_variables_that_steer_ultra_env_itself_are_not_configuration(tmp_path: Path, var: str) -> None:
    assert load(tmp_path, environ={var: "1"}).settings.profile is Profile.LOCAL
    with pytest.raises(ConfigError, match="ULTRA_ENV_DEBUGGING"):
        load(tmp_path, environ={"ULTRA_ENV_DEBUGGING": "1"})  # a misspelt one is still refused


def test_models_from_env_json_are_normalised(tmp_path: Path) -> None:
    environ = {
        "ULTRA_ENV_MODELS": '[{"name": "gemma3:270M-Q4_K_M", "context_size": 2048}, '
        '{"name": "smollm2", "key": "small"}]'
    }
    models = load(tmp_path, environ=environ).settings.models
    assert [m.name for m in models] == ["ai/gemma3:270M-Q4_K_M", "ai/smollm2:latest"]


@pytest.mark.parametrize(
    ("environ", "toml", "flags", "expected"),
    [
        (
            {"ULTRA_ENV_PORTS__BACKEND": "eighty"},
            None,
            [],
            ["ports.backend", "env ULTRA_ENV_PORTS__BACKEND", "'eighty'"],
        ),
        (
            {"ULTRA_ENV_PROFILE": "staging"},
            None,
            [],
            ["unknown profile 'staging'", "env ULTRA_ENV_PROFILE", "local, cloud, hybrid, mock"],
        ),
        ({}, None, [Flag("--profile", "profile", "prod")], ["unknown profile 'prod'", "flag --profile"]),
        ({}, 'profile = "nope"\n', [], ["unknown profile 'nope'", "ultra-env.toml"]),
        ({}, "[ports]\nbackend = 0\n", [], ["ports.backend", "greater than or equal to 1", "ultra-env.toml"]),
        ({}, "[ports]\nbackend = 3009\n", [], ["same host port", "ultra-env.toml"]),
        ({}, "colour = 'blue'\n", [], ["colour", "Extra inputs are not permitted", "ultra-env.toml"]),
        ({}, "[ports\nbackend = 1\n", [], ["ultra-env.toml: invalid TOML", "line 1"]),
        ({"ULTRA_ENV_MODELS": "[{bad json"}, None, [], ["ULTRA_ENV_MODELS: not valid JSON"]),
        ({"ULTRA_ENV_MODELS": '[{"name": "ai/x; rm -rf /"}]'}, None, [], ["models.0.name", "is not a model name"]),
        ({"ULTRA_ENV_MODELS": '[{"name": ""}]'}, None, [], ["models.0.name", "cannot be empty"]),
        ({"ULTRA_ENV_MODELS": '[{"name": "../../etc/passwd"}]'}, None, [], ["is not a model name"]),
        ({"ULTRA_ENV_MODELS": '[{"name": "a", "key": "my.model"}]'}, None, [], ["models.0.key", "letters, digits"]),
        ({"ULTRA_ENV_PULL_POLICY": "sometimes"}, None, [], ["pull_policy", "'never', 'missing' or 'always'"]),
        ({"ULTRA_ENV_IMAGES__BACKEND": "Bad Image!"}, None, [], ["images.backend", "image reference"]),
        ({"ULTRA_ENV_IMAGES__BACKEND": "postgres:15\n"}, None, [], ["images.backend", "image reference"]),
        ({"ULTRA_ENV_MODEL_RUNNER__HOST_URL": "http://x\n"}, None, [], ["model_runner.host_url"]),
        ({"ULTRA_ENV_MODEL_RUNNER__HOST_URL": "localhost:12434"}, None, [], ["model_runner.host_url", "http(s) URL"]),
    ],
)
def test_bad_configuration_names_the_field_and_its_source(tmp_path: Path, environ, toml, flags, expected) -> None:
    if toml:
        write_toml(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=environ, flags=flags)
    assert caught.value.exit_code == 2
    assert caught.value.fix
    for fragment in expected:
        assert fragment in caught.value.cause


def test_a_bad_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    environ = {"ULTRA_ENV_PROVIDERS__OPENAI__API_KEY": '{"not": "a string"}', "OPENAI_API_KEY": SECRET}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=environ)
    assert "providers.openai.api_key" in caught.value.cause
    assert "a string" not in caught.value.cause
    assert SECRET not in caught.value.cause


def test_models_get_distinct_keys_and_duplicates_are_refused() -> None:
    settings = Settings.model_validate({"models": [{"name": "a"}, {"name": "b"}, {"name": "c", "key": "big"}]})
    assert [m.key for m in settings.models] == ["llm", "llm2", "big"]
    with pytest.raises(ValueError, match="need a `key` each"):
        Settings.model_validate({"models": [{"name": "a", "key": "x"}, {"name": "b", "key": "x"}]})
    with pytest.raises(ValueError, match="list a model twice"):
        Settings.model_validate({"models": [{"name": "a"}, {"name": "ai/a:latest"}]})


def test_the_state_knows_every_profile() -> None:
    from ultra_env.config.settings import Profile
    from ultra_env.project.state import PROFILES

    assert {p.value for p in Profile} == PROFILES
