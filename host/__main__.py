"""``python -m host``: the ``router`` command line."""

from .cli import main

main()
