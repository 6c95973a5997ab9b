"""Just enough HTTP/1.1 over asyncio streams for attackers and load clients: exact bytes out, a
response read back (``content-length`` or chunked), every read bounded by a timeout.

HTTP client libraries refuse what an attacker sends (megabyte headers, half a request) and hide
what matters here (when the first byte came, whether the server closed): so, raw sockets.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

__all__ = ["Answer", "Connection", "request_bytes"]

READ_LIMIT = 1 << 20  # a response head or a chunk line longer than this is not an answer we expect


def request_bytes(path: str, body: Any, headers: Optional[Dict[str, str]] = None, method: str = "POST") -> bytes:
    """A request with a JSON (or raw bytes) body and ``content-length``."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", "content-type: application/json",
             f"content-length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


@dataclass
class Answer:
    status: int
    body: bytes
    closed: bool  # the server closed the connection after (or instead of) this answer


class Connection:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, timeout: float = 10.0) -> "Connection":
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=READ_LIMIT), timeout)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def exchange(self, data: bytes, timeout: float = 30.0) -> Answer:
        """Send a request, read its whole answer."""
        await self.send(data)
        return await asyncio.wait_for(self.read_answer(), timeout)

    async def read_head(self) -> Tuple[int, Dict[str, str]]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def read_answer(self) -> Answer:
        try:
            status, headers = await self.read_head()
        except (asyncio.IncompleteReadError, ConnectionError):
            return Answer(0, b"", True)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(status, body, headers.get("connection", "").lower() == "close")

    async def read_first_chunk(self) -> bytes:
        """The first piece of a chunked body (what a client that leaves mid-stream has read)."""
        size = int((await self.reader.readline()).strip() or b"0", 16)
        return await self.reader.readexactly(size + 2) if size else b""

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await self.reader.readline()
                return b"".join(parts)
            parts.append((await self.reader.readexactly(size + 2))[:-2])

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass
