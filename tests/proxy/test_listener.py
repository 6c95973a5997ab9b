"""The proxy's listening socket takes every connection waiting when the loop looks, on the proxy's
loop (uvloop) and CPython's, a bounded number at a time, and waits out a lack of descriptors without
losing a connection (host/proxy/listener.py, docs/proxy-limits.md#accepting)."""

import asyncio
import select
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Awaitable, Callable, Dict, Iterator, List, Optional

import pytest
import uvloop

from host.proxy.listener import DrainingListener

ROOT = Path(__file__).resolve().parents[2]
_WAITING = 30  # connections in the accept queue before the loop first looks
_DEADLINE = 10.0


class Iterations:
    """Counts the loop's iterations: a callback that schedules itself again runs once in each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        self._loop = loop
        self._handle = loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


class Recorded(asyncio.Protocol):
    """Notes the iteration its connection was made in."""

    def __init__(self, iterations: Iterations, made: List[int], everyone: asyncio.Event) -> None:
        self._iterations, self._made, self._everyone = iterations, made, everyone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._made.append(self._iterations.count)
        if len(self._made) == _WAITING:
            self._everyone.set()


@pytest.fixture()
def waiting() -> Iterator[socket.socket]:
    """A listening socket with ``_WAITING`` connections in its accept queue, each with a request sent."""
    listening = socket.create_server(("127.0.0.1", 0), backlog=128)
    clients = [socket.create_connection(listening.getsockname(), timeout=_DEADLINE) for _ in range(_WAITING)]
    for client in clients:
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    yield listening
    for client in clients:
        client.close()
    listening.close()


async def _iterations_of_each_connection(serve: Callable[[asyncio.AbstractEventLoop, Callable[[], asyncio.Protocol]],
                                                         Awaitable[object]]) -> List[int]:
    loop = asyncio.get_running_loop()
    iterations, made, everyone = Iterations(loop), [], asyncio.Event()
    server = await serve(loop, lambda: Recorded(iterations, made, everyone))
    try:
        await asyncio.wait_for(everyone.wait(), _DEADLINE)
    finally:
        iterations.stop()
        server.close()  # type: ignore[attr-defined]
    return made


def test_every_waiting_connection_is_taken_in_one_look(waiting: socket.socket,
                                                       run: Callable[[Awaitable[List[int]]], List[int]]) -> None:
    async def serve(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol]) -> DrainingListener:
        return DrainingListener(waiting, factory).start(loop)

    made = run(_iterations_of_each_connection(serve))
    assert len(made) == _WAITING
    assert max(made) - min(made) <= 1, f"connections made over iterations {sorted(set(made))}"


def test_uvloop_own_server_takes_one_connection_an_iteration(waiting: socket.socket) -> None:
    """Why the listener exists: ``loop.create_server`` on uvloop (libuv >= 1.45) accepts one
    connection per iteration, so the thirtieth waits for twenty-nine iterations. If this ever
    fails, uvloop drains the queue itself and the listener is no longer needed."""
    async def serve(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol]) -> asyncio.AbstractServer:
        return await loop.create_server(factory, sock=waiting)

    made = uvloop.run(_iterations_of_each_connection(serve))
    assert len(made) == _WAITING
    assert max(made) - min(made) >= _WAITING - 1


def test_a_look_takes_at_most_a_batch(waiting: socket.socket, run: Callable[[Awaitable[List[int]]], List[int]]) -> None:
    """A storm of connections cannot take a whole iteration: each look takes ``batch`` at most."""
    async def serve(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol]) -> DrainingListener:
        return DrainingListener(waiting, factory, batch=8).start(loop)

    made = run(_iterations_of_each_connection(serve))
    per_iteration: Dict[int, int] = {}
    for iteration in made:
        per_iteration[iteration] = per_iteration.get(iteration, 0) + 1
    assert len(made) == _WAITING
    assert max(per_iteration.values()) <= 8
    assert len(per_iteration) >= 4  # 30 connections, 8 a look


def test_a_closed_listener_takes_nothing(waiting: socket.socket, run: Callable[[Awaitable[int]], int]) -> None:
    """After ``close()`` (uvicorn's shutdown), waiting connections stay in the queue for nobody."""
    async def twenty_iterations_after_close() -> int:
        loop = asyncio.get_running_loop()
        made: List[int] = []
        listener = DrainingListener(waiting, lambda: made.append(1) or asyncio.Protocol()).start(loop)
        listener.close()
        iterations = Iterations(loop)
        while iterations.count < 20:
            await asyncio.sleep(0)
        iterations.stop()
        return len(made)

    assert run(twenty_iterations_after_close()) == 0


def test_a_protocol_that_cannot_be_made_loses_its_connection_not_the_server(
        run: Callable[[Awaitable[List[bytes]]], List[bytes]]) -> None:
    class Hello(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(b"hello")  # type: ignore[attr-defined]

    made: List[int] = []

    def factory() -> asyncio.Protocol:
        made.append(1)
        if len(made) == 1:
            raise RuntimeError("no protocol for this one")
        return Hello()

    async def two_clients() -> List[bytes]:
        listening = socket.create_server(("127.0.0.1", 0))
        listener = DrainingListener(listening, factory).start(asyncio.get_running_loop())
        answers = []
        try:
            for _ in range(2):
                reader, writer = await asyncio.open_connection(*listening.getsockname())
                answers.append(await asyncio.wait_for(reader.read(5), _DEADLINE))
                writer.close()
        finally:
            listener.close()
            listening.close()
        return answers

    assert run(two_clients()) == [b"", b"hello"]  # the first closed at once, the second served


# Out of descriptors ------------------------------------------------------------------------------
# A child process serves a listener on the loop named by its first argument, with every descriptor
# but as many as its second taken; each connection it serves is answered with the number of times
# the listener has paused so far, and it prints that number whenever it changes ("pauses N", after
# the listener's own lines).
_CHILD = textwrap.dedent("""
    import asyncio, logging, os, sys
    import uvloop
    loop_name, spare_count = sys.argv[1], int(sys.argv[2])
    from host.proxy.listener import DrainingListener

    logging.basicConfig(stream=sys.stdout, format="%(message)s", level=logging.WARNING)

    class Answer(asyncio.Protocol):
        def connection_made(self, transport):
            transport.write(b"%d\\n" % listener.pauses)

    async def main():
        global listener
        import socket
        sock = socket.create_server(("127.0.0.1", 0))
        spare = []
        try:
            while True:
                spare.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        for fd in spare[len(spare) - spare_count:]:
            os.close(fd)  # room for the first connection the test makes, and no more
        listener = DrainingListener(sock, Answer).start(asyncio.get_running_loop())
        print("port", sock.getsockname()[1], flush=True)
        seen = 0
        while True:  # a pause comes every 0.1 s at most: a look every 10 ms sees each
            if listener.pauses != seen:
                seen = listener.pauses
                print("pauses", seen, flush=True)
            await asyncio.sleep(0.01)

    uvloop.run(main()) if loop_name == "uvloop" else asyncio.run(main())
""")
# A connection takes one descriptor on either loop, but uvloop opens one of its own with the first
# transport it makes (measured: /proc/self/fd grew by 2, then by 1 a connection).
_SPARE = {"asyncio": 1, "uvloop": 2}


class Child:
    def __init__(self, loop_name: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", "import resource; resource.setrlimit("
                                         "resource.RLIMIT_NOFILE, (64, 64)); exec(open(0).read())",
                                         loop_name, str(_SPARE[loop_name])],
                                        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(_CHILD)
        self.process.stdin.close()
        self.port = int(self.line().split()[1])

    def line(self) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], _DEADLINE)
        assert ready, "the child said nothing"
        return self.process.stdout.readline().strip()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(_DEADLINE)


def _answer(sock: socket.socket) -> Optional[bytes]:
    """The answer (None: the connection was closed without one)."""
    sock.settimeout(_DEADLINE)
    data = sock.recv(64)
    return data or None


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_out_of_descriptors_connections_wait_and_are_served_later(loop_name: str) -> None:
    """The first connection takes the last descriptor and is served without a pause (nobody waits
    then); the second waits, the listener pausing, until a descriptor frees up."""
    child = Child(loop_name)
    clients = [socket.create_connection(("127.0.0.1", child.port), timeout=_DEADLINE)]
    try:
        assert _answer(clients[0]) == b"0\n"
        clients.append(socket.create_connection(("127.0.0.1", child.port), timeout=_DEADLINE))
        ready, _, _ = select.select([clients[1], child.process.stdout], [], [], _DEADLINE)
        assert ready == [child.process.stdout], "the second connection was served, or nothing was said"
        assert "out of file descriptors" in child.line()
        waiting = clients[-1]
        clients[0].close()  # a descriptor comes free: the waiting connection is accepted
        answer = _answer(waiting)
        assert answer is not None and int(answer) >= 1, answer
        assert child.process.poll() is None
    finally:
        for client in clients:
            client.close()
        child.stop()


_SHORTAGE = "out of file descriptors"


def _lines_until_pauses(child: Child, count: int) -> List[str]:
    """The child's lines up to the one saying the listener has paused ``count`` times."""
    lines = [child.line()]
    while not (lines[-1].startswith("pauses ") and int(lines[-1].split()[1]) >= count):
        lines.append(child.line())
    return lines


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_one_warning_per_shortage(loop_name: str) -> None:
    """While a connection waits the listener looks again every 0.1 s; it warns when a shortage
    begins, not at every look, and again when the next one begins (after it has taken a connection)."""
    child = Child(loop_name)
    address = ("127.0.0.1", child.port)
    clients = [socket.create_connection(address, timeout=_DEADLINE)]
    try:
        assert _answer(clients[0]) == b"0\n"
        clients.append(socket.create_connection(address, timeout=_DEADLINE))  # the first shortage
        first = _lines_until_pauses(child, 3)
        assert sum(_SHORTAGE in line for line in first) == 1, first
        clients[0].close()
        answer = _answer(clients[1])
        assert answer is not None
        pauses = int(answer)  # how many the first shortage took
        clients.append(socket.create_connection(address, timeout=_DEADLINE))  # the second
        second = _lines_until_pauses(child, pauses + 1)
        assert sum(_SHORTAGE in line for line in second) == 1, second
    finally:
        for client in clients:
            client.close()
        child.stop()
