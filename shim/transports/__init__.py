"""The shim's in-process drivers: one module per patched HTTP library, one shared call driver."""
