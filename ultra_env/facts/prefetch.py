"""The probes that need no configuration, started before it is even imported (this module imports
no pydantic): the docker CLI runs on the other core while the configuration loads."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ultra_env import http, trace
from ultra_env.facts.docker import context_host, docker_info, docker_version

EARLY_TIMEOUT = 10.0


class Prefetch:
    """``docker version``, ``docker info`` and the context, running."""

    def __init__(self, verbose: bool = False) -> None:
        trace.arm(verbose, os.environ)
        http.prewarm()
        self.pool = ThreadPoolExecutor(max_workers=12)
        self.version = self.pool.submit(docker_version, EARLY_TIMEOUT)
        self.info = self.pool.submit(docker_info, EARLY_TIMEOUT)
        self.context = self.pool.submit(context_host, EARLY_TIMEOUT)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
