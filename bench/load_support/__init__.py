"""Support modules of ``bench/hostile.py`` and ``bench/soak.py``: a fake provider that also fails the
ways providers fail, a real ``router proxy`` in front of it with what to measure of it, and raw HTTP
for clients that do what HTTP libraries refuse to.
"""
