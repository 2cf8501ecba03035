"""A token never reaches a stored row, the CSV export or a log line, whatever the provider says."""

from __future__ import annotations

import io
import logging

import httpx
import trio

from broadcaster.core.outcomes import Outcome

from .fake_telegram import FakeTelegram
from .test_worker import TOKEN, fire_and_run, make_runtime, schedule, setup_store


class LeakyTelegram(FakeTelegram):
    """Answers with the bot token echoed in its error texts, or drops the connection."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        chat = request.url.path  # contains the token: /bot<TOKEN>/sendMessage
        body = request.content.decode()
        if '"chat_id":1,' in body or '"chat_id": 1,' in body:
            raise httpx.ConnectError(f"connection refused for {request.url}")
        if '"chat_id":2,' in body or '"chat_id": 2,' in body:
            raise httpx.ReadTimeout(f"no answer from {request.url}")
        if '"chat_id":3,' in body or '"chat_id": 3,' in body:
            return httpx.Response(400, json={"ok": False, "error_code": 400, "description": f"Bad Request: {chat}"})
        if '"chat_id":4,' in body or '"chat_id": 4,' in body:
            return httpx.Response(500, text=f"<html>upstream {request.url} failed</html>")
        if '"chat_id":5,' in body or '"chat_id": 5,' in body:
            return httpx.Response(200, text=f'{{"ok": true, "result": {{"message_id": "{TOKEN}"')  # truncated
        return super().handler(request)


async def test_no_output_contains_the_token(autojump_clock, caplog):
    caplog.set_level(logging.DEBUG)
    store = setup_store(8)
    fake = LeakyTelegram()
    runtime, events = make_runtime(store, fake)
    schedule(store)
    with trio.fail_after(600):
        (done,) = await fire_and_run(runtime)
    assert done.counters.failed >= 4  # the refused, timed-out, 400, 500 and truncated replies
    rows = store.history("b1", limit=100).rows
    assert len(rows) == 8
    csv_out = io.StringIO()
    store.export_csv("b1", csv_out)
    outputs = [repr(rows), csv_out.getvalue(), caplog.text, repr(events), repr(store.get_broadcast("b1"))]
    secret_part = TOKEN.split(":")[1]
    for text in outputs:
        assert TOKEN not in text and secret_part not in text
    reasons = {str(r.error_reason) for r in rows if r.outcome is Outcome.FAILED}
    assert all(reason.startswith(("telegram:", "tg:")) for reason in reasons)
