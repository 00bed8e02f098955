"""Stand-in for Ultra's worker: `python3 -m ultra.worker` touches a heartbeat file every 5 s."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

HEARTBEAT = Path("/tmp/worker-heartbeat")
INTERVAL = 5.0


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"worker: touching {HEARTBEAT} every {INTERVAL:g} s", flush=True)
    while True:
        HEARTBEAT.touch()
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
