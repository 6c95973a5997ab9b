"""``-vv``: the request and response bodies of a call, printable, cut and with secrets redacted.

For debugging a client, ``router proxy -vv`` and ``router shim -vv`` print, after each call's ``-v``
line, what the client sent and what it was answered (docs/operator-switches.md#bodies). A body may
hold keys — a client that puts its key in the JSON, a tool result that echoes an environment, a
backend error quoting a header — so before a byte is printed every string shaped like a credential
is replaced by ``[redacted]``:

* the keys the router itself holds (each configured backend's key, ``ROUTER_API_KEY``), by value;
* the published key formats of the providers the router speaks to: Anthropic ``sk-ant-…``, OpenAI
  and the many OpenAI-compatible services that copied its ``sk-…`` (``sk-proj-…``, OpenRouter's
  ``sk-or-v1-…``, DeepSeek), Groq ``gsk_…``, xAI ``xai-…``, Google ``AIza…``, Fireworks ``fw_…``,
  Together ``tgp_v1_…``, Hugging Face ``hf_…``, NVIDIA ``nvapi-…``, Perplexity ``pplx-…`` — each only
  where it starts a word, so ``ask-…`` or ``task-…`` in a prompt stays;
* any ``Bearer``/``Basic`` credential, and any JSON Web Token (three base64url parts, the first ``eyJ``);
* the value of any JSON field whose name says it is a secret (``api_key``, ``openai_api_key``,
  ``authorization``, ``x-api-key``, ``password``, ``client_secret``, ``access_token``, …), also
  inside JSON carried in a string (``"{\\"password\\": \\"…\\"}"``, as tool arguments are);
* the value of a header line a backend error quotes (``x-api-key: …``, ``authorization: …``), and
  of an assignment or query parameter named like a secret (``OPENAI_API_KEY=…`` in an echoed
  environment, ``?api_key=…`` in a URL).

Then the text is cut at :data:`BODY_LOG_LIMIT` characters (redaction runs on a little more than
that, so a key cut in two at the limit is still recognised) and escaped like every other outside
value in a log line (:func:`shim.log_text.printable`). Streams are shown as sent on the wire: their
first 8 KB of event lines. Nothing here is imported unless ``-vv`` is on.
"""

import re

from .log_text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Sequence

__all__ = ["BODY_LOG_LIMIT", "REDACTED", "BodyCapture", "body_line", "redacted"]

BODY_LOG_LIMIT = 8192  # characters of a body shown
_LOOKAHEAD = 512  # redacted beyond the limit, so that a secret straddling it is still found
REDACTED = "[redacted]"
_MIN_KNOWN_SECRET = 8  # a configured "key" shorter than this is a placeholder, not worth hiding text for

# Every shape starts a word: "task-…" or "risk-…" in a prompt is not an OpenAI key.
_SECRET_SHAPES = re.compile(
    r"""
    (?<![A-Za-z0-9_\-])
    (?: sk-ant-[A-Za-z0-9_\-]{8,}
      | sk-[A-Za-z0-9_\-]{16,}
      | gsk_[A-Za-z0-9]{16,}
      | xai-[A-Za-z0-9]{16,}
      | AIza[0-9A-Za-z_\-]{30,}
      | fw_[A-Za-z0-9]{16,}
      | tgp_v1_[A-Za-z0-9_\-]{16,}
      | hf_[A-Za-z0-9]{16,}
      | nvapi-[A-Za-z0-9_\-]{16,}
      | pplx-[A-Za-z0-9]{16,}
      | eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*
      | (?i:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}
    )
    """,
    re.VERBOSE,
)
# A name that says its value is a secret: one of the header names, or ending in one of the secret
# words ("openai_api_key", "db_password"). Not "token" alone (a logprobs entry's text is a "token"),
# nor "max_tokens" or "prompt_cache_key".
_SECRET_NAME = (
    r"(?:authorization|x-api-key|api-key|x-goog-api-key|"
    r"[A-Za-z0-9_\-]*?(?:api[_-]?key|secret|password|passwd|access[_-]?token|refresh[_-]?token|"
    r"auth[_-]?token|api[_-]?token|session[_-]?token|private[_-]?key|secret[_-]?key))"
)
# "name": "value" — and the same inside a JSON string, where every quote is escaped (\").
_SECRET_FIELDS = re.compile(rf'("{_SECRET_NAME}"\s*:\s*")((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_ESCAPED_SECRET_FIELDS = re.compile(
    rf'(\\"{_SECRET_NAME}\\"\s*:\s*\\")((?:(?!\\")[^\n])*)\\"', re.IGNORECASE
)
# name: value (a header a backend error quotes) and name=value (an echoed environment, a URL query).
_SECRET_HEADER_LINES = re.compile(
    r"(?<![A-Za-z0-9_\-])((?:authorization|x-api-key|api-key|x-goog-api-key)[ \t]*:[ \t]*)"
    r"(?:(?:bearer|basic|token)[ \t]+)?[^\s,;\"'\\]+",
    re.IGNORECASE,
)
_SECRET_ASSIGNMENTS = re.compile(
    rf"(?<![A-Za-z0-9_\-])({_SECRET_NAME}[ \t]*=[ \t]*)[^\s&,;\"'\\#]+",
    re.IGNORECASE,
)


def redacted(text: str, secrets: "Iterable[str]" = ()) -> str:
    """``text`` with every known secret and every credential-shaped string replaced by ``[redacted]``."""
    for secret in sorted((s for s in secrets if s and len(s) >= _MIN_KNOWN_SECRET), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _SECRET_FIELDS.sub(lambda match: f'{match.group(1)}{REDACTED}"', text)
    text = _ESCAPED_SECRET_FIELDS.sub(lambda match: f'{match.group(1)}{REDACTED}\\"', text)
    text = _SECRET_HEADER_LINES.sub(lambda match: f"{match.group(1)}{REDACTED}", text)
    text = _SECRET_ASSIGNMENTS.sub(lambda match: f"{match.group(1)}{REDACTED}", text)
    return _SECRET_SHAPES.sub(REDACTED, text)


def body_line(label: str, data: bytes, size: int, secrets: "Sequence[str]" = ()) -> str:
    """``  request body (1234 bytes): {...}``: ``data`` (at least the first :data:`BODY_LOG_LIMIT`
    bytes of a body of ``size`` bytes) decoded, redacted, cut and escaped."""
    text = redacted(data[: BODY_LOG_LIMIT + _LOOKAHEAD].decode("utf-8", errors="replace"), secrets)
    shown = printable(text[:BODY_LOG_LIMIT], BODY_LOG_LIMIT)
    more = "…" if size > BODY_LOG_LIMIT or len(text) > BODY_LOG_LIMIT else ""
    return f"  {label} ({size} bytes): {shown}{more}"


class BodyCapture:
    """The first bytes of a body as it goes by (enough for :func:`body_line`), and its whole size."""

    __slots__ = ("data", "size")

    def __init__(self) -> None:
        self.data = bytearray()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = BODY_LOG_LIMIT + _LOOKAHEAD - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def line(self, label: str, secrets: "Sequence[str]" = ()) -> str:
        return body_line(label, bytes(self.data), self.size, secrets)
