"""The kit's chat-id fuzzing: a contact's chat id must never steer the request.

Chat ids come from imported contact data, so they may hold anything. Built into a URL
unescaped, ``../admin`` climbs the path, ``x?to=all`` or ``x&token=`` adds a query
parameter, ``x#`` cuts the rest of the URL off, and a CR/LF in a header splits it. For
every hostile chat id, ``build_call`` must either refuse the message as a value
(``Failed``) or build a request to the same scheme, host, port and number of path
segments, with the same query parameter names and no fragment, as for a plain chat id —
and must not raise.
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from ..core.errors import ConfigError
from ..core.http import HttpCall
from ..core.results import Failed
from .case import ConformanceCase, check_call, check_declaration, check_result, fail, run_property

__all__ = ["HOSTILE_CHAT_IDS", "check_chat_ids", "request_shape"]

HOSTILE_CHAT_IDS = (
    "../../admin",
    "..",
    ".",
    "a/b",
    "/leading",
    "x?to=all",
    "x&token=stolen",
    "x#fragment",
    "x;jsessionid=1",
    "%2e%2e%2fadmin",
    "x%3Fy%3D1",
    "x%26y",
    "with space",
    "line\r\nX-Injected: 1",
    "nul\x00byte",
    "@evil.example",
    "https://evil.example/",
    "\u202egnp.exe",
    "é😀",
    "9" * 300,
    "",
)

_CHAT_ID_CHARS = st.sampled_from(list("/?#&=%.;:@ \r\n\t\\+") + ["..", "%2F", "%3F", "é", "\x00"])


def request_shape(call: HttpCall) -> tuple[Any, ...]:
    """What a chat id must not change: scheme, host, port, method, path depth and dot
    segments, query parameter names, fragment."""
    url = httpx.URL(call.url)
    depth = len(url.raw_path.split(b"?")[0].split(b"/"))
    # a segment that decodes to "." or ".." climbs the path on a server that decodes first
    dots = sum(segment in (".", "..") for segment in url.path.split("/"))
    return (url.scheme, url.host, url.port, call.method, depth, dots, sorted(set(url.params.keys())), url.fragment)


def _check_one(case: ConformanceCase, chat_id: str, plain: tuple[Any, ...]) -> None:
    registry = case.registry()
    spec = registry.spec(case.provider)
    secrets = case.secrets(spec)
    message = case.messages_for(spec)[0]
    where = f"build_call(chat_id={chat_id!r})"
    try:
        call = registry.build_call(integration=case.integration, chat_id=chat_id, message=message)
    except ConfigError as exc:
        raise fail(
            f"{where} raised ConfigError ({exc}); a chat id is contact data, not configuration:"
            " refuse it as a value, Failed(ErrorKind.PERMANENT_CONTACT, ...)",
            secrets=secrets,
        ) from None
    except Exception as exc:
        raise fail(f"{where} raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
    if isinstance(call, Failed):
        check_result(call, case=case, secrets=secrets, where=where)
        return
    check_call(call, case=case, spec=spec, where=where)
    shape = request_shape(call)
    if shape != plain:
        raise fail(
            f"{where}: the chat id changed the request (URL {call.redacted()!r}): percent-encode it where it"
            " goes into the URL (urllib.parse.quote(chat_id, safe='')), or refuse it as a Failed value",
            secrets=secrets,
        )


def check_chat_ids(case: ConformanceCase) -> None:
    spec = check_declaration(case)
    registry = case.registry()
    message = case.messages_for(spec)[0]
    plain_call = registry.build_call(integration=case.integration, chat_id=case.chat_id, message=message)
    if isinstance(plain_call, Failed):
        raise fail(f"build_call refused the kit's plain message ({plain_call.reason})")
    plain = request_shape(plain_call)
    for chat_id in HOSTILE_CHAT_IDS:
        _check_one(case, chat_id, plain)

    @case.hypothesis_settings()
    @given(chat_id=st.lists(st.one_of(_CHAT_ID_CHARS, st.text(max_size=4)), max_size=6).map("".join))
    def no_chat_id_steers_the_request(chat_id: str) -> None:
        _check_one(case, chat_id, plain)

    run_property(no_chat_id_steers_the_request)
