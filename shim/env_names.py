"""The environment variables the host sets for a shimmed child, in one place.

Configuration reaches descendants through variables that *name files*, never through the keys
themselves (docs/shim.md#subprocesses-and-fork): the snapshot file and the telemetry socket live in a private
0700 run directory that the host removes at exit.
"""

__all__ = [
    "CALLER_HEADER",
    "CONFIG_SNAPSHOT",
    "PROXY_URL",
    "SHIM_BODIES",
    "SHIM_DEBUG",
    "SHIM_DIR",
    "SNAPSHOT_VERSION",
    "TELEMETRY_SOCKET",
    "USER_ANTHROPIC_BASE_URL",
    "USER_OPENAI_BASE_URL",
]

CONFIG_SNAPSHOT = "ROUTER_SHIM_CONFIG"  # path of the JSON config snapshot (mode 0600)
TELEMETRY_SOCKET = "ROUTER_TELEMETRY_SOCK"  # path of the host's AF_UNIX datagram socket
PROXY_URL = "ROUTER_SHIM_PROXY_URL"  # http://127.0.0.1:PORT of the host's proxy (an LLM host to the shim)
# The user's own OPENAI_BASE_URL / ANTHROPIC_BASE_URL when the host replaced it with the proxy's: where
# the shim sends a call aimed at the proxy whose model has no route (docs/shim-process-tree.md).
USER_OPENAI_BASE_URL = "ROUTER_SHIM_USER_OPENAI_BASE_URL"
USER_ANTHROPIC_BASE_URL = "ROUTER_SHIM_USER_ANTHROPIC_BASE_URL"
SHIM_DEBUG = "ROUTER_SHIM_DEBUG"  # "1": print shim tracebacks to stderr
SHIM_BODIES = "ROUTER_SHIM_BODIES"  # "1" (router shim -vv): print each call's bodies, redacted, to stderr
SHIM_DIR = "ROUTER_SHIM_DIR"  # the injected directory (to tell it apart from the user's PYTHONPATH)

# Not a variable, but shared the same way: the request header a child's aiohttp hand-off carries to
# the host's proxy, {"pid","ppid","program"} as JSON, so the call is reported as the child's. Only the
# proxy ``router shim`` runs reads it; the engine never forwards it upstream.
CALLER_HEADER = "x-router-caller"

# {"version": SNAPSHOT_VERSION, "config": <RouterConfig.from_dict input, keys included>}
SNAPSHOT_VERSION = 1

# Variables the host sets that belong to other programs (the SDKs, LiteLLM, Python itself).
PYTHONPATH = "PYTHONPATH"  # the injected directory first, then the user's entries in order
# Set to PLACEHOLDER_API_KEY when absent, and when a backend reads its key from it (key_env).
OPENAI_API_KEY = "OPENAI_API_KEY"
ANTHROPIC_API_KEY = "ANTHROPIC_API_KEY"
OPENAI_BASE_URL = "OPENAI_BASE_URL"  # http://127.0.0.1:PORT/v1 (the proxy): see host/child_env.py for when
ANTHROPIC_BASE_URL = "ANTHROPIC_BASE_URL"  # http://127.0.0.1:PORT (the proxy): likewise
LITELLM_RUST = "LITELLM_RUST"  # "false" unless the user set it: LiteLLM's Rust core is out of reach in-process

# The router's own key (clients of a proxy send it). router shim removes it from the child's
# environment: nothing the child runs needs it (docs/secrets.md#what-a-shimmed-program-gets).
ROUTER_API_KEY = "ROUTER_API_KEY"

# What the SDK constructors see when the user has no key of their own: obviously not a real key.
# The shim (or the proxy) puts the backend's real key on the wire for routed calls.
PLACEHOLDER_API_KEY = "router-placeholder-key"
