"""Holds sitecustomize.py, the template host/injection.py renders into the injected directory.

This package is never imported in a child: only the rendered copy is, under the name sitecustomize."""
