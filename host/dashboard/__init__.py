"""The live dashboard: one static page (no build step, nothing loaded from elsewhere) and a small JSON
API over the telemetry store, served by ``router dashboard`` and by ``router proxy`` at ``/``.

Modules: :mod:`.data` (what is shown, from the store), :mod:`.site` (request → response, shared by
both servers), :mod:`.server` (``router dashboard``); the page is in ``static/``. Nothing is imported
here: a process that only reads the store (``host.store_reader``) imports :mod:`.data` alone.
"""
