"""router's engine and in-process driver.

Everything in this package runs inside users' Python processes as well as the router's own, so it
is standard-library only, pure Python, in Python 3.9 syntax, and imports nothing from ``host``.
Modules import each other relatively: the shim is copied under a private name
(``_router_shim_<version>``) when injected into a child, where a generic top-level name would
collide with the program's own modules.
"""

__version__ = "0.1.0"
