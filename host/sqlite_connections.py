"""How the router opens an SQLite connection it keeps open for as long as the process lives.

The proxy keeps three such connections (the telemetry writer, the stored responses' writer and
reader) and ``router shim`` one; all of them get the same settings from :func:`configure_long_lived`:

- ``busy_timeout``: another process's write (a ``router shim`` run and a proxy share a telemetry
  file) makes this one wait that long, not fail at once;
- WAL with ``synchronous = NORMAL``: readers never wait for the writer, and a commit is durable at
  the next checkpoint instead of costing an fsync each;
- a page cache of :data:`PAGE_CACHE_KIB`. SQLite's default is 2 MiB a connection, kept for as long
  as the connection is open, and after a burst of calls the proxy's connections held 4–5 MiB that
  the process never gave back. What they do needs little cache: the writers append (rowids,
  time-ordered ids and indexes), the reader looks up one primary key; a page not cached is read
  again from the operating system's cache, which the measurements did not show
  (docs/proxy-limits.md#memory-after-a-burst).
"""

import sqlite3

__all__ = ["PAGE_CACHE_KIB", "configure_long_lived"]

PAGE_CACHE_KIB = 256


def configure_long_lived(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Apply the settings of the module docstring to ``connection`` (a negative ``cache_size`` is KiB)."""
    connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
