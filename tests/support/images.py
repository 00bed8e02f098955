"""Build the local images the Docker tests run, without a registry.

Run `python tests/support/images.py [--force]` from the repository root, or call `build_all()`;
it also fills the wheelhouse the shipped backend's image is built from (`wheelhouse()`).
Built images are kept: an image is skipped when `docker image inspect` finds it (unless forced).
The DMR stand-in's runner image is rebuilt when the stand-in's source changed (a label holds its digest).
The Debian rootfs tarball is cached in $ULTRA_ENV_CACHE (default ~/.cache/ultra-env), so that
rebuilding after `docker system prune -a` does not run debootstrap again; delete it to refresh.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

SUPPORT = Path(__file__).resolve().parent
DOCKERFILES = SUPPORT / "dockerfiles"
LABEL = "ultra-env.test-image=1"
ROOTFS_LABEL = "ultra-env.rootfs"
STANDIN_LABEL = "ultra-env.standin-source"
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-pip", "redis-server", "postgresql-15", "libgomp1", "procps", "nginx-light")
DEBIAN_STRIP = (
    "var/lib/apt/lists",
    "var/cache/apt",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/lib/postgresql/15/main",
    "etc/postgresql/15/main",
)
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BUSYBOX = "ultra-test/busybox:1"
DEBIAN = "ultra-test/debian:12"
POSTGRES = "ultra-test/postgres:15"
REDIS = "ultra-test/redis:7"
PYTHON = "ultra-test/python:3"  # the shipped backend's base image in the tests (images.python)
FRONTEND = "ultra-test/frontend:1"  # stands in for Ultra's own frontend image (images.frontend)
# the DMR stand-in as a runner container (tests/dmr_standin/container.py); tests tag it
# docker/model-runner:latest on the engine they run `docker model install-runner` against
MODEL_RUNNER = "ultra-test/model-runner:standin"
REPO = SUPPORT.parent.parent
STANDIN = SUPPORT.parent / "dmr_standin"


class ImageBuildError(RuntimeError):
    pass


def cache_dir() -> Path:
    path = Path(os.environ.get("ULTRA_ENV_CACHE") or Path.home() / ".cache" / "ultra-env")
    path.mkdir(parents=True, exist_ok=True)
    return path


def log(message: str) -> None:
    print(f"[images] {message}", flush=True)


def run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as error:
        raise ImageBuildError(f"{args[0]} {args[1]} timed out after {timeout:g} s") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise ImageBuildError(f"{' '.join(args)} failed ({done.returncode}):\n{tail}")
    return done.stdout


def image_exists(name: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def docker_import(tar: IO[bytes], name: str, changes: list[str]) -> None:
    args = ["docker", "import", "-c", f"LABEL {LABEL}"]
    for change in changes:
        args += ["-c", change]
    try:
        done = subprocess.run([*args, "-", name], stdin=tar, capture_output=True, timeout=600, check=False)
    except subprocess.TimeoutExpired as error:
        raise ImageBuildError(f"docker import {name} timed out after 600 s") from error
    if done.returncode != 0:
        raise ImageBuildError(f"docker import {name} failed: {done.stderr.decode().strip()}")


def import_dir(root: Path, name: str, changes: list[str]) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    try:
        docker_import(tar.stdout, name, changes)
    finally:
        tar.stdout.close()
        if tar.wait(timeout=60) != 0:
            raise ImageBuildError(f"tar of {root} failed ({tar.returncode})")


def docker_build(name: str, dockerfile: str, files: dict[str, Path], labels: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory(prefix="ultra-image-") as tmp:
        context = Path(tmp)
        shutil.copy(DOCKERFILES / dockerfile, context / "Dockerfile")
        for target, source in files.items():
            if source.is_dir():
                shutil.copytree(source, context / target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, context / target)
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        extra = [arg for label in labels for arg in ("--label", label)]
        run(["docker", "build", "-q", "--label", LABEL, *extra, "-t", name, str(context)], 900, env)


def build_busybox() -> None:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise ImageBuildError("/bin/busybox is missing: apt-get install -y busybox-static")
    with tempfile.TemporaryDirectory(prefix="ultra-busybox-") as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        (root / "tmp").mkdir(mode=0o1777)
        (root / "tmp").chmod(0o1777)
        shutil.copy(busybox, root / "bin" / "busybox")
        for applet in run([str(busybox), "--list"], 30).split():
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        import_dir(root, BUSYBOX, ["ENV PATH=/bin", 'CMD ["/bin/sh"]'])


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith(("#", " ", "\t")):
                fields[key.strip().lower()] = value.strip()
        stanzas.append(fields)
    return stanzas


def debian_mirror() -> str:
    """The first Debian mirror apt uses for the suite (deb822 files, then sources.list)."""
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for fields in deb822_stanzas(sources.read_text()):
            if (
                "deb" in fields.get("types", "").split()
                and DEBIAN_SUITE in fields.get("suites", "").split()
                and fields.get("enabled", "yes").lower() != "no"
                and fields.get("uris")
            ):
                return fields["uris"].split()[0]
    sources_list = Path("/etc/apt/sources.list")
    if sources_list.exists():
        for line in sources_list.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == DEBIAN_SUITE:
                return words[1]
    raise ImageBuildError(
        f"apt has no source for Debian {DEBIAN_SUITE}: debootstrap takes its mirror from "
        "/etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
    )


def unmount_below(root: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], timeout=30, check=False)


def rootfs_key() -> str:
    """What the Debian rootfs is made of (suite, packages, what is stripped), as a short digest."""
    return hashlib.sha256(" ".join((DEBIAN_SUITE, *DEBIAN_PACKAGES, *DEBIAN_STRIP)).encode()).hexdigest()[:12]


def debian_rootfs() -> Path:
    """The cached debootstrap tarball, made when missing (keyed by suite and packages)."""
    tarball = cache_dir() / f"debian-{DEBIAN_SUITE}-minbase-{rootfs_key()}.tar"
    if tarball.exists():
        log(f"reusing rootfs {tarball}")
        return tarball
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is missing: apt-get install -y debootstrap")
    mirror = debian_mirror()
    log(f"debootstrap {DEBIAN_SUITE} from {mirror} (about a minute)")
    work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=cache_dir()))
    root = work / "root"
    try:
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                DEBIAN_SUITE,
                str(root),
                mirror,
            ],
            1800,
        )
        unmount_below(root)
        for relative in DEBIAN_STRIP:
            shutil.rmtree(root / relative, ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        partial = work / "rootfs.tar"
        run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], 600)
        partial.replace(tarball)
    finally:
        unmount_below(root)
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def build_debian() -> None:
    with debian_rootfs().open("rb") as tar:
        docker_import(
            tar,
            DEBIAN,
            [f"ENV PATH={DEBIAN_PATH}", "ENV LANG=C.UTF-8", 'CMD ["bash"]', f"LABEL {ROOTFS_LABEL}={rootfs_key()}"],
        )


def current(name: str) -> bool:
    """Whether the image exists, and (the Debian one) was made from today's package list, (the
    stand-in runner) from today's stand-in source."""
    keyed = {DEBIAN: (ROOTFS_LABEL, rootfs_key), MODEL_RUNNER: (STANDIN_LABEL, standin_key)}
    if name not in keyed:
        return image_exists(name)
    label, key = keyed[name]
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', name],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip() == key()


def build_postgres() -> None:
    docker_build(
        POSTGRES,
        "postgres.Dockerfile",
        {"postgres-entrypoint.sh": DOCKERFILES / "postgres-entrypoint.sh"},
    )


def build_redis() -> None:
    docker_build(REDIS, "redis.Dockerfile", {})


def build_python() -> None:
    """Python with pip: the Debian image under another name, as an official python image would be."""
    run(["docker", "tag", DEBIAN, PYTHON], 60)


def wheelhouse() -> Path:
    """The shipped backend's packages as wheels (``pip wheel``, pip's cache makes a second time
    quick), so that its image builds with no network: ``backend.wheelhouse`` in the tests."""
    sys.path.insert(0, str(REPO))
    from ultra_env.operations.image import requirements

    folder = cache_dir() / "wheelhouse"
    wanted = requirements()
    stamp = folder / "requirements.txt"
    if stamp.exists() and stamp.read_text() == "\n".join(wanted) + "\n" and any(folder.glob("*.whl")):
        log(f"reusing wheelhouse {folder}")
        return folder
    log(f"pip wheel {' '.join(wanted)} -w {folder}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "-w", str(folder), *wanted],
        900,
    )
    stamp.write_text("\n".join(wanted) + "\n")
    return folder


def build_frontend() -> None:
    docker_build(FRONTEND, "frontend.Dockerfile", {})


def standin_key() -> str:
    """What the stand-in runner image is made of (the stand-in's modules, its Dockerfile), as a short digest."""
    digest = hashlib.sha256()
    for path in [*sorted(STANDIN.glob("*.py")), DOCKERFILES / "model-runner-standin.Dockerfile"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_model_runner() -> None:
    """The DMR stand-in's runner: the Python image with tests/dmr_standin at /opt/standin/dmr_standin,
    serving the DMR API on $MODEL_RUNNER_PORT (`python3 -m dmr_standin.container`)."""
    docker_build(
        MODEL_RUNNER,
        "model-runner-standin.Dockerfile",
        {"dmr_standin": STANDIN},
        labels=(f"{STANDIN_LABEL}={standin_key()}",),
    )
    # the runner image it replaces, now untagged (dangling images only; one a container uses stays)
    run(["docker", "image", "prune", "-f", "--filter", f"label={STANDIN_LABEL}"], 120)


BUILDERS: dict[str, tuple[Callable[[], None], str | None]] = {
    BUSYBOX: (build_busybox, None),
    DEBIAN: (build_debian, None),
    POSTGRES: (build_postgres, DEBIAN),
    REDIS: (build_redis, DEBIAN),
    PYTHON: (build_python, DEBIAN),
    FRONTEND: (build_frontend, BUSYBOX),
    MODEL_RUNNER: (build_model_runner, PYTHON),
}


def build_all(force: bool = False) -> dict[str, float]:
    """Build every missing test image, every image whose base was just built, or all if forced.

    Returns the seconds spent per image; replaced images left untagged are removed.
    """
    try:
        run(["docker", "version", "--format", "{{.Server.Version}}"], 30)
    except ImageBuildError as error:
        raise ImageBuildError(f"no Docker engine ({error}); run tests/support/engine.sh start") from None
    seconds: dict[str, float] = {}
    built: set[str] = set()
    for name, (build, base) in BUILDERS.items():
        start = time.monotonic()
        if not force and base not in built and current(name):
            seconds[name] = time.monotonic() - start
            log(f"{name}: cached")
            continue
        log(f"{name}: building")
        build()
        built.add(name)
        seconds[name] = time.monotonic() - start
        log(f"{name}: built in {seconds[name]:.1f} s")
    if built:
        run(["docker", "image", "prune", "-f", "--filter", f"label={LABEL}"], 120)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild images that already exist")
    options = parser.parse_args()
    try:
        seconds = build_all(force=options.force)
    except ImageBuildError as error:
        log(f"error: {error}")
        return 1
    start = time.monotonic()
    wheelhouse()
    log(
        f"wheelhouse in {time.monotonic() - start:.1f} s; "
        f"total {sum(seconds.values()) + time.monotonic() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
