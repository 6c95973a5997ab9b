"""Which process of the tree holds the other end of a loopback connection (Linux /proc)."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from host.peer_process import PeerFinder, PeerProcess

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")

# Connects to the port in argv[1], says so, and holds the connection until stdin closes.
CLIENT = """
import socket, sys
connection = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(connection.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(10)
    yield server
    server.close()


def connect_from(argv: List[str], server: socket.socket) -> Tuple["subprocess.Popen[str]", int]:
    """Start ``argv`` (CLIENT with the port), accept its connection; the process and its client port."""
    child = subprocess.Popen([*argv, str(server.getsockname()[1])], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    accepted, _ = server.accept()
    accepted.close()  # the client's end stays open: it is still its socket
    return child, port


def stop(child: "subprocess.Popen[str]") -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=10)


def test_a_descendant_holding_the_connection_is_found_with_its_program(listener: socket.socket,
                                                                        tmp_path: Path) -> None:
    script = tmp_path / "client_tool.py"
    script.write_text(CLIENT)
    child, port = connect_from([sys.executable, "-u", str(script)], listener)
    try:
        finder = PeerFinder(os.getpid())
        peer = finder.find(port, listener.getsockname()[1])
        interpreter = os.path.basename(sys.executable)
        assert peer == PeerProcess(child.pid, os.getpid(), f"{interpreter} client_tool.py")
        assert finder.find(port, listener.getsockname()[1]) == peer  # the connection's next call
    finally:
        stop(child)
    assert finder.find(port, listener.getsockname()[1]) is None  # gone: the port names nobody now


def test_inline_code_is_named_after_the_interpreter_alone(listener: socket.socket) -> None:
    child, port = connect_from([sys.executable, "-c", CLIENT], listener)
    try:
        peer = PeerFinder(os.getpid()).find(port, listener.getsockname()[1])
        assert peer is not None and peer.program == os.path.basename(sys.executable)
    finally:
        stop(child)


def test_a_process_outside_the_tree_or_an_unknown_port_is_not_named(listener: socket.socket) -> None:
    own = socket.create_connection(listener.getsockname())  # this process: not its own descendant
    try:
        accepted, _ = listener.accept()
        server_port = listener.getsockname()[1]
        assert PeerFinder(os.getpid()).find(own.getsockname()[1], server_port) is None
        assert PeerFinder(os.getpid()).find(1, server_port) is None  # no such connection
        accepted.close()
    finally:
        own.close()
