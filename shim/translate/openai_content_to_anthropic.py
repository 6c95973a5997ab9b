"""OpenAI message ``content`` (a string or content parts) → Anthropic content blocks
(docs/protocol-rules.md#messages; pitfall numbers: docs/pitfalls.md).

Which part types a message may carry depends on its role, so callers pass one of the converter
tables below: :data:`USER_PARTS`, :data:`ASSISTANT_PARTS` or :data:`TEXT_PARTS` (system,
developer and tool messages).
"""

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..errors import InvalidRequestError, UnsupportedFeatureError
from .request_checks import describe, expect_object, expect_str, json_type_name

__all__ = ["ASSISTANT_PARTS", "TEXT_PARTS", "USER_PARTS", "PartConverter", "content_blocks", "text_block"]

Block = Dict[str, Any]
PartConverter = Callable[[Dict[str, Any], str], Optional[Block]]

# The only image media types Anthropic accepts (anthropic SDK ``Base64ImageSourceParam``).
_IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# "image/jpg" is not a registered type but clients send it; Anthropic would reject it verbatim.
_MEDIA_TYPE_ALIASES = {"image/jpg": "image/jpeg"}
_PDF = "application/pdf"


def content_blocks(content: Any, param: str, converters: Mapping[str, PartConverter]) -> List[Block]:
    """Blocks for one message's ``content``; blank text is left out (P9: Anthropic rejects empty
    text blocks with "text content blocks must be non-empty")."""
    if isinstance(content, str):
        block = text_block(content)
        return [block] if block else []
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"'{param}' must be a string or an array of content parts, not {json_type_name(content)}", param=param
        )
    blocks = []
    for index, part in enumerate(content):
        block = _part_block(part, f"{param}[{index}]", converters)
        if block is not None:
            blocks.append(block)
    return blocks


def text_block(text: str) -> Optional[Block]:
    """A text block, or None for text Anthropic would reject as empty (whitespace-only counts:
    the API answers "text content blocks must contain non-whitespace text")."""
    return {"type": "text", "text": text} if text.strip() else None


def _part_block(part: Any, param: str, converters: Mapping[str, PartConverter]) -> Optional[Block]:
    part = expect_object(part, param)
    part_type = expect_str(part.get("type"), f"{param}.type")
    converter = converters.get(part_type)
    if converter is None:
        allowed = ", ".join(repr(name) for name in converters)
        raise InvalidRequestError(
            f"'{param}.type' is {describe(part_type)}; this message may only contain {allowed} parts",
            param=f"{param}.type",
        )
    return converter(part, param)


def _text_part(part: Dict[str, Any], param: str) -> Optional[Block]:
    return text_block(expect_str(part.get("text"), f"{param}.text"))


def _refusal_part(part: Dict[str, Any], param: str) -> Optional[Block]:
    # An earlier refusal replayed in history: Anthropic has no refusal part, the words are text.
    return text_block(expect_str(part.get("refusal"), f"{param}.refusal"))


def _image_part(part: Dict[str, Any], param: str) -> Block:
    """``image_url`` → image block; ``detail`` has no Anthropic counterpart and is dropped."""
    image = part.get("image_url")
    url_param = f"{param}.image_url.url"
    # The spec'd shape is {"url": …}; a bare string is a common client shortcut, accepted too.
    url = image if isinstance(image, str) else expect_object(image, f"{param}.image_url").get("url")
    return {"type": "image", "source": _image_source(expect_str(url, url_param), url_param)}


def _image_source(url: str, param: str) -> Block:
    """P12: data URIs become base64 sources; http(s) URLs stay URLs (Anthropic fetches them itself,
    so the router never downloads or re-encodes an image)."""
    if url.startswith("data:"):
        media_type, data = _parse_data_uri(url, param)
        media_type = _MEDIA_TYPE_ALIASES.get(media_type, media_type)
        if media_type not in _IMAGE_MEDIA_TYPES:
            raise UnsupportedFeatureError(
                f"'{param}' has media type {media_type!r}; Anthropic accepts only "
                f"{', '.join(sorted(_IMAGE_MEDIA_TYPES))} images",
                param=param,
            )
        return {"type": "base64", "media_type": media_type, "data": data}
    if url[:8].lower().startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise InvalidRequestError(f"'{param}' must be an http(s) URL or a base64 data URI", param=param)


def _parse_data_uri(uri: str, param: str) -> Tuple[str, str]:
    """``data:<media type>[;params];base64,<data>`` → (lower-cased media type, data)."""
    header, comma, data = uri.partition(",")
    media_type, *attributes = header[len("data:"):].split(";")
    if not comma or "base64" not in attributes or not data or "/" not in media_type:
        raise InvalidRequestError(
            f"'{param}' must be a base64 data URI (data:<media type>;base64,<data>)", param=param
        )
    return media_type.strip().lower(), data


def _file_part(part: Dict[str, Any], param: str) -> Block:
    """An inline PDF → document block. Other files have no portable Anthropic form."""
    file = expect_object(part.get("file"), f"{param}.file")
    if file.get("file_id") is not None:
        raise UnsupportedFeatureError(
            f"'{param}.file.file_id': OpenAI file ids cannot be read by an Anthropic backend; "
            "send the file inline as 'file_data'",
            param=f"{param}.file.file_id",
        )
    data_param = f"{param}.file.file_data"
    media_type, data = _parse_data_uri(expect_str(file.get("file_data"), data_param), data_param)
    if media_type != _PDF:
        raise UnsupportedFeatureError(
            f"'{data_param}' has media type {media_type!r}; only PDF files can be sent to an Anthropic backend",
            param=data_param,
        )
    block: Block = {"type": "document", "source": {"type": "base64", "media_type": _PDF, "data": data}}
    filename = file.get("filename")
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def _audio_part(part: Dict[str, Any], param: str) -> Block:
    # Anthropic has no audio input; its own OpenAI-compat layer strips audio silently
    # (docs/protocol-rules.md#documents),
    # which would make the model answer a question it never heard. Refuse instead.
    raise UnsupportedFeatureError(
        f"'{param}.input_audio': audio input has no Anthropic counterpart", param=f"{param}.input_audio"
    )


USER_PARTS: Mapping[str, PartConverter] = {
    "text": _text_part,
    "image_url": _image_part,
    "file": _file_part,
    "input_audio": _audio_part,
}
ASSISTANT_PARTS: Mapping[str, PartConverter] = {"text": _text_part, "refusal": _refusal_part}
TEXT_PARTS: Mapping[str, PartConverter] = {"text": _text_part}
