"""The security suite runs against the real servers (numi service and Rasa, as
subprocesses), as an attacker from outside would see them."""
import socket

import pytest

from numi.devstack import Stack


def machine_addresses():
    """This machine's non-loopback IPv4 addresses (to check nothing listens there)."""
    found = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(info[4][0])
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing interface
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127."))


@pytest.fixture(scope="module")
def numi_only(tmp_path_factory):
    """The numi service alone (endpoints that need no model)."""
    s = Stack(tmp_path_factory.mktemp("numi")).start(rasa=False)
    yield s
    s.stop()


async def hang_up(sio) -> None:
    """Disconnect a socket.io test client at once: over polling, a polite disconnect waits
    for the pending long-poll (up to the server's 25 s ping interval)."""
    await sio.eio.disconnect(abort=True)
