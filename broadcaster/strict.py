"""The one strict converter for data coming in from outside: files, JSON Lines, configuration.

cattrs structures a primitive by calling its type, so out of the box ``"false"`` becomes
``True`` (``bool("false")``), ``1.9`` becomes ``1`` and ``"abc"`` a tuple of letters. At the
edges that is silent corruption: an opted-out flag read as its opposite, a flow saved as
published when the file said ``"no"``. Here a value is taken only when it already has the
type asked for (an integer is accepted where a decimal is), unknown keys are refused, and
the values a model cannot do without (an id, a text) must not be empty. Every refusal is
an :class:`EdgeError` saying what was wrong; :func:`describe` gives cattrs' nested errors
as one phrase with the path (``first_card.text: must not be empty``).

The lenient :func:`broadcaster.serde.converter` stays for broadcaster's own stored data.
"""

from __future__ import annotations

import functools
import math
import typing
from typing import Any, Callable, Mapping, Union

import cattrs
from cattrs.strategies import configure_tagged_union
from cattrs.v import format_exception

from .core.models import Chat, Contact, Flow, Message, Template, TemplateCard, TextCard
from .serde import MESSAGE_TAGS, TAG_KEY, make_converter

__all__ = [
    "MAX_PARAM_COUNT",
    "EdgeError",
    "describe",
    "strict_bool",
    "strict_converter",
    "strict_int",
    "strict_number",
    "strict_structure",
    "type_name",
]

#: more ``{{n}}`` parameters than any provider takes
MAX_PARAM_COUNT = 100


class EdgeError(ValueError):
    """A value from outside that is not what was asked for (the message says why)."""


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "null" if value is None else type(value).__name__


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise EdgeError(f"expected true or false, got {type_name(value)} {_shown(value)}")
    return value


def strict_int(value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EdgeError(f"expected a whole number, got {type_name(value)} {_shown(value)}")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise EdgeError(f"expected a whole number from {minimum} to {maximum}, got {value}")
    return value


def strict_number(value: object, *, minimum: float = -math.inf, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EdgeError(f"expected a number, got {type_name(value)} {_shown(value)}")
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise EdgeError(f"expected a number from {minimum:g} to {maximum:g}, got {_shown(value)}")
    return float(value)


def _strict_str(value: object, _: Any) -> str:
    if not isinstance(value, str):
        raise EdgeError(f"expected text, got {type_name(value)} {_shown(value)}")
    return value


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = typing.get_args(cls)
    return typing.get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _not_empty(*names: str) -> Callable[[Any], None]:
    def check(model: Any) -> None:
        for name in names:
            if not str(getattr(model, name)).strip():
                raise EdgeError(f"{name} must not be empty")

    return check


def _param_count(template: Template) -> None:
    _not_empty("name", "language")(template)
    try:
        strict_int(template.param_count, minimum=0, maximum=MAX_PARAM_COUNT)
    except EdgeError as exc:
        raise EdgeError(f"param_count: {exc}") from None


#: what a model from outside must hold beyond its types; a model's hook captures its
#: fields' hooks when built, so the parts come before what holds them
_PARTS: Mapping[type, Callable[[Any], None]] = {
    Chat: _not_empty("integration", "chat_id"),
    TextCard: _not_empty("text"),
    TemplateCard: _not_empty("template"),
    Template: _param_count,
}


def _flow(flow: Flow) -> None:
    _not_empty("id")(flow)
    if isinstance(flow.first_card, TextCard) and not flow.first_card.text.strip():
        raise EdgeError("first_card: a flow needs a first card with a text (or a template)")


_WHOLES: Mapping[type, Callable[[Any], None]] = {Contact: _not_empty("id"), Flow: _flow}


@functools.cache
def strict_converter() -> cattrs.Converter:
    """A converter that takes outside data only when it is exactly what a model asks for."""
    conv = make_converter(forbid_extra_keys=True)
    conv.register_structure_hook(bool, lambda value, _: strict_bool(value))
    conv.register_structure_hook(int, lambda value, _: strict_int(value))
    conv.register_structure_hook(float, lambda value, _: strict_number(value))
    conv.register_structure_hook(str, _strict_str)

    def tuple_hook(cls: Any) -> Callable[[Any, Any], Any]:
        member = typing.get_args(cls)[0]

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            if not isinstance(value, (list, tuple)):
                raise EdgeError(f"expected a list, got {type_name(value)} {_shown(value)}")
            return tuple(conv.structure(item, member) for item in value)

        return structure

    conv.register_structure_hook_factory(_is_homogeneous_tuple, tuple_hook)
    for cls, check in _PARTS.items():
        conv.register_structure_hook(cls, _checked(conv.gen_structure_attrs_fromdict(cls), check))
    configure_tagged_union(Message, conv, tag_generator=MESSAGE_TAGS.__getitem__, tag_name=TAG_KEY)
    configure_tagged_union(
        Union[TextCard, TemplateCard], conv, tag_generator=MESSAGE_TAGS.__getitem__, tag_name=TAG_KEY
    )
    for cls, check in _WHOLES.items():
        conv.register_structure_hook(cls, _checked(conv.gen_structure_attrs_fromdict(cls), check))
    return conv


def _checked(base: Callable[[Any, Any], Any], check: Callable[[Any], None]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, cls: Any) -> Any:
        if not isinstance(value, dict):
            raise EdgeError(f"expected a table, got {type_name(value)}")
        model = base(value, cls)
        check(model)
        return model

    return structure


def strict_structure(data: Any, cls: Any) -> Any:
    """``data`` as ``cls`` through :func:`strict_converter` (cattrs errors on bad data)."""
    return strict_converter().structure(data, cls)


def _format(exc: BaseException, cls: type | None) -> str:
    if isinstance(exc, EdgeError) or isinstance(exc, TypeError) and "contact field value" in str(exc):
        return str(exc)
    return format_exception(exc, cls)


def describe(exc: BaseException) -> str:
    """A structuring error as one phrase: ``opted_out: expected true or false, got text 'no'``."""
    if isinstance(exc, cattrs.BaseValidationError):
        notes = cattrs.transform_error(exc, format_exception=_format)
        return "; ".join(_path_first(note) for note in notes) if notes else str(exc)
    return str(exc)


def _path_first(note: str) -> str:
    message, sep, path = note.rpartition(" @ ")
    if not sep:
        return note
    path = path.removeprefix("$").lstrip(".")
    return f"{path}: {message}" if path else message
