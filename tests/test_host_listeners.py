"""Which addresses a port listens on, read from the kernel's socket tables (captured real
/proc/net/tcp and tcp6: tests/fixtures/README.md): what tells that containers cannot reach a runner
that listens on loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

from ultra_env.facts.host import loopback_only, parse_listeners

FIXTURES = Path(__file__).parent / "fixtures" / "proc-net"
TCP = (FIXTURES / "tcp").read_text()
TCP6 = (FIXTURES / "tcp6").read_text()


@pytest.mark.parametrize(
    ("port", "v4", "v6", "only_loopback"),
    [
        (41234, {"127.0.0.1"}, set(), True),  # the established connection to it is not a listener
        (41235, {"0.0.0.0"}, set(), False),
        (41236, set(), {"::1"}, True),
        (41237, set(), {"::"}, False),
        (41238, {"127.0.0.1"}, {"::1"}, True),
        (41299, set(), set(), False),  # nothing listens: nothing to judge
    ],
)
def test_listeners_of_a_port(port: int, v4: set[str], v6: set[str], only_loopback: bool) -> None:
    assert parse_listeners(TCP, port) == v4
    assert parse_listeners(TCP6, port) == v6
    assert loopback_only(v4 | v6) is only_loopback


def test_a_connection_from_the_port_is_not_a_listener() -> None:
    peer = next(
        int(line.split()[1].rsplit(":", 1)[1], 16)
        for line in TCP.splitlines()[1:]
        if line.split()[2].endswith(":A112") and line.split()[3] == "01"
    )
    assert parse_listeners(TCP, peer) == set()
