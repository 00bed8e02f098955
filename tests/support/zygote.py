"""A fork server for `python -m invoke -r REPO ARGS`: one process per test worker imports invoke and
ultra-env once, then forks a child for each run. The child is a process of its own, as a user's
run is: its own session, environment, folder, standard streams (pipes the test reads), signal
dispositions, exit code and exit-time work; only the ≈0.4 s of interpreter start and imports is
saved. What a fork cannot take over from the new environment, the interpreter's start-up settings
(``PYTHON*``, the locale), makes ``run`` fall back to a real ``exec``; so does
``ULTRA_ENV_TEST_EXEC=1``, which runs the whole suite the slow way.

The same idea as multiprocessing's ``forkserver``: the server forks from a clean process that
never runs a task, so no state of one run (a cache, a lock, a thread) reaches the next."""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke", "-r", str(REPO)]
_STARTUP = (b"PYTHON", b"LC_", b"LANG")  # read once when an interpreter starts


class Hung(Exception):
    """The run outlived its timeout; its process group was killed."""

    def __init__(self, argv: list[str], timeout: float, pid: int, out: bytes, err: bytes) -> None:
        super().__init__(f"`invoke {' '.join(argv)}` hung for {timeout}s")
        self.pid, self.out, self.err = pid, out, err


def run(args: list[str], env: dict[bytes, bytes], cwd: Path, timeout: float) -> tuple[int, bytes, bytes]:
    """`invoke ARGS` in ``cwd`` with exactly ``env``, stdin at /dev/null: its exit code (negative
    for a signal, as subprocess reports it), stdout and stderr. Raises ``Hung`` on a timeout."""
    if os.environ.get("ULTRA_ENV_TEST_EXEC") == "1" or _startup_differs(env):
        return _exec(args, env, cwd, timeout)
    return _server().run(args, env, cwd, timeout)


def text(data: bytes, errors: str = "strict") -> str:
    """Output as ``subprocess.run(text=True)`` gives it: decoded, with universal newlines."""
    return data.decode("utf-8", errors).replace("\r\n", "\n").replace("\r", "\n")


def _startup_differs(env: dict[bytes, bytes]) -> bool:
    mine = {k: v for k, v in os.environb.items() if k.startswith(_STARTUP)}
    theirs = {k: v for k, v in env.items() if k.startswith(_STARTUP)}
    return mine != theirs


def _exec(args: list[str], env: dict[bytes, bytes], cwd: Path, timeout: float) -> tuple[int, bytes, bytes]:
    process = subprocess.Popen(
        [*INVOKE, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise Hung(args, timeout, process.pid, out, err) from None
    return process.returncode, out, err


class _Server:
    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL
        )
        theirs.close()
        self.sock = mine
        if self.sock.recv(1) != b"R":
            raise RuntimeError("the invoke fork server did not start")

    def run(self, args: list[str], env: dict[bytes, bytes], cwd: Path, timeout: float) -> tuple[int, bytes, bytes]:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            request = pickle.dumps((args, env, str(cwd)))
            socket.send_fds(self.sock, [len(request).to_bytes(4, "big") + request], [devnull, out_w, err_w])
        finally:
            for fd in (devnull, out_w, err_w):
                os.close(fd)
        pid = int.from_bytes(_exactly(self.sock, 4), "big", signed=True)
        try:
            return self._collect(pid, out_r, err_r, args, timeout)
        except Hung:
            raise
        except BaseException:  # a Ctrl-C on the tests: the exchange is cut short, start afresh next time
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            for fd in (out_r, err_r):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.sock.close()
            _SERVERS.pop(os.getpid(), None)
            raise

    def _collect(self, pid: int, out_r: int, err_r: int, args: list[str], timeout: float) -> tuple[int, bytes, bytes]:
        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
        status: int | None = None
        timed_out = False
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for fd in (out_r, err_r):
                selector.register(fd, selectors.EVENT_READ)
            selector.register(self.sock, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    os.killpg(pid, signal.SIGKILL)
                    deadline = float("inf")  # now read to the end: the kill closes every pipe
                    timed_out = True
                    continue
                for key, _ in selector.select(min(left, 3600)):
                    if key.fileobj is self.sock:
                        status = int.from_bytes(_exactly(self.sock, 4), "big", signed=True)
                        selector.unregister(self.sock)
                        continue
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
                        os.close(key.fd)
        out, err = b"".join(chunks[out_r]), b"".join(chunks[err_r])
        if timed_out:
            raise Hung(args, timeout, pid, out, err)
        assert status is not None
        return status, out, err


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise RuntimeError("the invoke fork server died")
        data += part
    return data


_SERVERS: dict[int, _Server] = {}


def _server() -> _Server:
    """This process's server (a forked test process starts its own)."""
    if os.getpid() not in _SERVERS:
        _SERVERS[os.getpid()] = _Server()
    return _SERVERS[os.getpid()]


# --- the server --------------------------------------------------------------------------------


# What ultra-env imports inside the functions that use it, so that `invoke --list` stays fast: a
# run that talks HTTP pays ≈0.16 s for httpx and httpcore's backends, one that renders ≈0.02 s for
# jinja2. Ready in the server, a forked run finds them imported, as it finds ultra-env; a name
# missing here costs time, never a result.
_IMPORTED_WHEN_USED = (
    "httpx",
    "httpcore._sync.connection_pool",
    "httpcore._backends.sync",
    "jinja2",
    "pickle",
    "python_on_whales.components.container.models",
)


def _serve(sock: socket.socket) -> None:
    import importlib
    import pkgutil

    import invoke.main

    import ultra_env

    for module in pkgutil.walk_packages(ultra_env.__path__, "ultra_env."):
        if not module.name.startswith("ultra_env.backend"):  # the shipped service, not the CLI
            importlib.import_module(module.name)
    for name in _IMPORTED_WHEN_USED:
        importlib.import_module(name)
    assert invoke.main.program
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C on the test run is the tests' to handle
    sock.sendall(b"R")
    while True:
        try:
            head, fds, _, _ = socket.recv_fds(sock, 4, 3)
        except OSError:
            return
        if not head:
            return  # the test worker is gone
        request = pickle.loads(_exactly(sock, int.from_bytes(head, "big")))
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(*request, fds)  # never returns
        for fd in fds:
            os.close(fd)
        sock.sendall(pid.to_bytes(4, "big", signed=True))
        _, status = os.waitpid(pid, 0)
        sock.sendall(os.waitstatus_to_exitcode(status).to_bytes(4, "big", signed=True))


def _child(args: list[str], env: dict[bytes, bytes], cwd: str, fds: list[int]) -> None:
    """Become the process `python -m invoke -r REPO ARGS` would be, run it, exit as it would."""
    import atexit
    import io
    import tempfile
    import threading
    import traceback

    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.environb.clear()
        os.environb.update(env)
        time.tzset()
        tempfile.tempdir = None
        os.chdir(cwd)
        # The server started with the same PYTHON* and locale variables, so its streams' encoding
        # and error handler are what a new interpreter would choose; only the buffering differs.
        like = sys.__stdout__
        encoding, errors = (like.encoding, like.errors) if like else ("utf-8", "strict")
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding, errors=errors)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding, errors=errors)
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding=encoding, errors="backslashreplace", line_buffering=True
        )
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        sys.argv = [invoke_main_path(), "-r", str(REPO), *args]
        sys.path[0] = cwd  # `python -m` puts the working folder first
        atexit._clear()
        from invoke.main import program

        try:
            program.run(["invoke", "-r", str(REPO), *args])
            code = 0
        except SystemExit as done:
            code = _exit_code(done)
        except KeyboardInterrupt:
            _flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)  # as the interpreter ends on an uncaught Ctrl-C
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # the interpreter's exit: join threads
        atexit._run_exitfuncs()
        if not _flush():
            code = 120  # what the interpreter exits with when flushing stdout fails
    finally:
        os._exit(code)


def _exit_code(done: SystemExit) -> int:
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code
    print(done.code, file=sys.stderr)
    return 1


def _flush() -> bool:
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            ok = False
    return ok


def invoke_main_path() -> str:
    import invoke

    return str(Path(invoke.__file__).with_name("__main__.py"))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    _serve(socket.socket(fileno=int(sys.argv[1])))
