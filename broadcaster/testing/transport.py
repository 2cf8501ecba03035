"""Running plugin calls through ``httpx.MockTransport`` (tests only; no network).

The runtime's own HTTP layer does the same conversion for real; this small copy lets a
plugin's tests check that its :class:`HttpCall` survives becoming an actual httpx request
(URL, headers, JSON body) and that a real httpx response reads back as the same reply.
"""

from __future__ import annotations

from typing import Callable

import httpx

from ..core.http import HttpCall, HttpReply

__all__ = ["Handler", "reply_from_response", "request_from_call", "send_through_mock"]

Handler = Callable[[httpx.Request], httpx.Response]


def request_from_call(call: HttpCall) -> httpx.Request:
    """The httpx request an :class:`HttpCall` stands for."""
    kwargs = {} if call.json is None else {"json": call.json}
    return httpx.Request(call.method, call.url, headers=list(call.headers), **kwargs)


def reply_from_response(response: httpx.Response) -> HttpReply:
    """The :class:`HttpReply` a plugin sees for an httpx response (body read in full)."""
    return HttpReply(status=response.status_code, headers=list(response.headers.multi_items()), body=response.read())


def send_through_mock(call: HttpCall, handler: Handler) -> HttpReply:
    """Send ``call`` to ``handler`` through a real httpx client on a MockTransport."""
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return reply_from_response(client.send(request_from_call(call)))
