"""The one cattrs converter used at the edges (store, CLI, webhooks).

Rules it encodes:

* enums as their value (``"DELIVERED"``, ``"flow"``, ``"rate_limited"``);
* :class:`~broadcaster.core.reasons.ErrorReason` as its canonical string
  (``"telegram:403:blocked_by_user"``), parsed back — a malformed string raises
  :class:`~broadcaster.core.errors.ReasonFormatError`;
* the message unions (``Message``, a flow's ``first_card``) as tagged dicts with a
  ``"type"`` key: ``{"type": "text", "text": "hi"}``, ``{"type": "template", ...}``;
* contact field values (str / int / float / bool / None) kept as they are.

Models have no ``to_dict``; call ``make_converter().unstructure(model)`` or the
:func:`dumps` / :func:`loads` helpers.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Union

import cattrs
from cattrs.strategies import configure_tagged_union

from broadcaster.core.models import FieldValue, Message, TemplateCard, TemplateMessage, TextCard, TextMessage
from broadcaster.core.reasons import ErrorReason, parse_reason

__all__ = ["MESSAGE_TAGS", "TAG_KEY", "converter", "dumps", "loads", "make_converter"]

TAG_KEY = "type"

#: the ``type`` tag of each union member
MESSAGE_TAGS: dict[type, str] = {
    TextMessage: "text",
    TemplateMessage: "template",
    TextCard: "text",
    TemplateCard: "template",
}

_FIELD_VALUE_TYPES = (str, int, float, bool, type(None))


def _structure_field_value(value: Any, _: Any) -> FieldValue:
    if not isinstance(value, _FIELD_VALUE_TYPES):
        raise TypeError(f"a contact field value must be text, a number, a boolean or null, not {type(value).__name__}")
    return value


def _structure_reason(value: Any, _: Any) -> ErrorReason:
    if isinstance(value, ErrorReason):
        return value
    return parse_reason(value)


def make_converter(*, forbid_extra_keys: bool = False) -> cattrs.Converter:
    """A fresh converter with broadcaster's hooks (cheap; prefer :func:`converter`)."""
    conv = cattrs.Converter(forbid_extra_keys=forbid_extra_keys)
    conv.register_unstructure_hook(ErrorReason, str)
    conv.register_structure_hook(ErrorReason, _structure_reason)
    conv.register_structure_hook(FieldValue, _structure_field_value)
    configure_tagged_union(Message, conv, tag_generator=MESSAGE_TAGS.__getitem__, tag_name=TAG_KEY)
    configure_tagged_union(
        Union[TextCard, TemplateCard], conv, tag_generator=MESSAGE_TAGS.__getitem__, tag_name=TAG_KEY
    )
    return conv


@functools.cache
def converter() -> cattrs.Converter:
    """The process-wide converter (built once, on first use)."""
    return make_converter()


def dumps(value: Any, *, unstructure_as: Any = None) -> str:
    """``value`` as compact JSON text (keys in declaration order)."""
    data = converter().unstructure(value, unstructure_as=unstructure_as)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes, cls: Any) -> Any:
    """Parse JSON text into ``cls`` (raises cattrs' ClassValidationError on bad data)."""
    return converter().structure(json.loads(text), cls)
