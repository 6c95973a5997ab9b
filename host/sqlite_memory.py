"""How much of SQLite's page cache a connection the router keeps open may hold.

SQLite's default is 2 MiB a connection, kept for as long as the connection is open. The proxy keeps
three open for its whole life (the telemetry writer, the stored responses' writer and reader), and
after a burst of calls they held 4–5 MiB that the process never gave back. What they do needs
little cache: the writers append (rowids, time-ordered ids and indexes), the reader looks up one
primary key; a page not cached is read again from the operating system's cache, which the
measurements did not show (docs/proxy-limits.md#memory-after-a-burst).
"""

import sqlite3

__all__ = ["PAGE_CACHE_KIB", "limit_page_cache"]

PAGE_CACHE_KIB = 256


def limit_page_cache(connection: sqlite3.Connection) -> None:
    """Hold ``connection``'s page cache to :data:`PAGE_CACHE_KIB` (a negative ``cache_size`` is KiB)."""
    connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
