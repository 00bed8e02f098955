"""The operator's side of the team server as data: what [server] accepts, the proxy's key list and
its configuration (issue 21). The real nginx reads the rendered configuration in
tests/test_team_server.py, where it serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Project
from hypothesis import given
from hypothesis import strategies as st

from ultra_env.config.settings import Settings
from ultra_env.config.sources import load
from ultra_env.errors import ConfigError
from ultra_env.server import proxy

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ({"host": "ssh://admin@gpu box"}, "server.host"),
        ({"host": "tcp://10.0.0.2:2375"}, "server.host"),  # no SSH, no tunnel to the runner's loopback
        ({"bind": "everywhere"}, "server.bind"),
        ({"url": "https://admin:pw@models.example.com/v1"}, "server.url"),
        ({"gpu": "tpu"}, "server.gpu"),
        ({"proxy_port": 0}, "server.proxy_port"),
    ],
)
def test_a_bad_server_setting_is_refused_naming_it(tmp_path: Path, table: dict, said: str) -> None:
    lines = "\n".join(
        f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}" for key, value in table.items()
    )
    (tmp_path / "ultra-env.toml").write_text(f"[server]\n{lines}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, environ={})
    assert said in raised.value.cause and "pw@" not in raised.value.cause


@pytest.mark.parametrize("host", ["ssh://admin@gpu-box.example.com", "ssh://10.0.0.2:2222", "team-gpu"])
def test_a_host_is_an_ssh_url_or_a_context_name(host: str) -> None:
    assert Settings.model_validate({"server": {"host": host}}).server.host == host


def test_the_server_serves_the_configured_models_unless_told() -> None:
    settings = Settings.model_validate({"models": [{"name": "ai/a"}, {"name": "ai/b"}]})
    assert settings.server_models == [m.name for m in settings.models] and len(settings.server_models) == 2
    assert Settings.model_validate({"server": {"models": ["ai/c"]}}).server_models == ["ai/c"]


names = st.from_regex(proxy.NAME, fullmatch=True)
keys = st.from_regex(r"[A-Za-z0-9_-]{8,60}", fullmatch=True)


@given(st.dictionaries(names, keys, max_size=8))
def test_the_key_list_reads_back_what_was_written(written: dict[str, str]) -> None:
    assert proxy.parse_keys(proxy.keys_text(written)) == written


@pytest.mark.parametrize(
    "line",
    ['"Bearer abc" "alice"', '"Bearer a b" "alice";', "include /etc/passwd;", '"Bearer abc" "Alice";', "default 1;"],
)
def test_a_line_ultra_env_did_not_write_is_refused_not_guessed(line: str) -> None:
    with pytest.raises(ValueError, match="keys.map:2"):
        proxy.parse_keys(f'"Bearer abcdefgh" "bob";\n{line}\n')


def test_new_keys_are_long_random_and_fit_the_list() -> None:
    made = {proxy.new_key() for _ in range(50)}
    assert len(made) == 50 and all(len(k) >= 40 for k in made)
    assert proxy.parse_keys(proxy.keys_text({f"dev{i}": k for i, k in enumerate(made)}))


def test_the_proxy_passes_only_the_openai_routes_to_the_runner_on_its_port() -> None:
    settings = Settings.model_validate({"server": {"runner_port": 12555}})
    conf = proxy.conf(settings, TEMPLATES)
    assert "proxy_pass http://127.0.0.1:12555;" in conf and "listen 0.0.0.0:8080;" in conf
    assert "location ~ ^/(engines/)?v1/" in conf and 'proxy_set_header Authorization "";' in conf
    assert conf.count("proxy_pass") == 1  # /models/create and the rest of the runner's API stay on the server
    other = Settings.model_validate({"server": {"runner_port": 12555, "proxy_port": 9000, "bind": "::1"}})
    assert "listen [::1]:9000;" in proxy.conf(other, TEMPLATES)
    assert proxy.digest(conf, settings, {}) != proxy.digest(proxy.conf(other, TEMPLATES), other, {})
    assert proxy.digest(conf, settings, {}) != proxy.digest(conf, settings, {"cert.pem": "another certificate"})
    assert "ssl" not in conf


def test_with_a_certificate_the_proxy_listens_with_tls() -> None:
    settings = Settings.model_validate({"server": {"tls_cert": "tls/cert.pem", "tls_key": "tls/key.pem"}})
    conf = proxy.conf(settings, TEMPLATES)
    assert "listen 0.0.0.0:8080 ssl;" in conf and f"ssl_certificate_key {proxy.TLS_DIR}/key.pem;" in conf


def test_without_a_server_the_tasks_say_how_to_name_one(project: Project) -> None:
    for task in ("server.setup", "server.status", "server.keys"):
        result = project.call(task)
        assert result.returncode == 2 and "[server]" in result.output and "ssh://" in result.output, result.output


@pytest.mark.parametrize("name", ['bob" "x', "Bob", "../etc", "a b", "-rf", "x" * 80])
def test_a_developer_name_that_could_break_the_list_is_refused_before_the_server_is_asked(
    project: Project, name: str
) -> None:
    project.write("ultra-env.toml", '[server]\nhost = "ssh://nobody@192.0.2.1"\n')  # TEST-NET: never reached
    result = project.call("server.keys", f"--add={name}")
    assert result.returncode == 2 and "not a developer name" in result.output, result.output
