"""Values from outside, made safe to print in router's own lines: :mod:`shim.log_text` (the shimmed
child prints ``-vv`` bodies with the same rules, standard library only)."""

from shim.log_text import LOG_VALUE_LIMIT, PROBLEM_LIMIT, printable

__all__ = ["LOG_VALUE_LIMIT", "PROBLEM_LIMIT", "printable"]
