"""router's host side: the CLI, the configuration store and (later) the launcher, collector and
proxy. Runs in the router's own process and may use any dependency."""
