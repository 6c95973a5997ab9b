"""What the fake provider should answer: one :class:`Reply` per upstream call, protocol-neutral.

The vocabulary (and the wire writers rendering it) ships in the package as :mod:`host.demo.reply`,
because ``router demo``'s provider speaks it too; tests import it from here, next to the scripted
:class:`~fakes.fake_provider.FakeProvider`.
"""

from host.demo.reply import ErrorSpec, Reply, ToolCall, UsageSpec, split_fragments

__all__ = ["ErrorSpec", "Reply", "ToolCall", "UsageSpec", "split_fragments"]
