"""A ``sitecustomize.py`` that lets a child Python resolve loopback names only.

Put its directory on the child's ``PYTHONPATH`` (``router shim`` chains a sitecustomize it finds
there): a call the router failed to route then errors out in the child instead of leaving the
machine. It patches ``socket.getaddrinfo`` only, far below the seams the shim patches, so it works
for any HTTP library and any program, console scripts included.
"""

import textwrap
from pathlib import Path

__all__ = ["LOOPBACK_ONLY", "write_netguard"]

LOOPBACK_ONLY = textwrap.dedent(
    """
    import socket as _socket

    _real = _socket.getaddrinfo


    def _loopback_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1", None, b"127.0.0.1", b"localhost"):
            raise OSError("network guard: refusing to resolve %r (the router did not route this call)" % (host,))
        return _real(host, *args, **kwargs)


    _socket.getaddrinfo = _loopback_only
    """
)


def write_netguard(directory: Path) -> Path:
    """Write the guard as ``directory/sitecustomize.py``; returns ``directory`` (for PYTHONPATH)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(LOOPBACK_ONLY)
    return directory
