"""GraphiQL in a real browser (Debian's Chromium through Playwright): sign in, run a query.

The page's Content-Security-Policy is enforced by the browser, so a script or request that
tried to leave the server would fail here, not only in a grep of the HTML.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def open_page(browser: Any, server: Any) -> tuple[Page, list[str], list[str]]:
    page = browser.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.goto(server.url.removesuffix("/graphql") + "/graphiql")
    return page, requested, problems


def test_graphiql_signs_in_runs_a_query_and_asks_nothing_of_anyone_else(browser, server):
    service = server.service()
    service.create(name="Browser <b>check</b>", flow_id="f1", contact_ids=["c1"])
    service.store.close()
    page, requested, problems = open_page(browser, server)
    page.fill("#token", server.tokens["read"])
    page.click("#signin button[type=submit]")
    page.locator(".graphiql-container").wait_for(timeout=20_000)
    page.click(".graphiql-execute-button")
    result = page.locator(".result-window")
    result.get_by_text("Browser <b>check</b>").first.wait_for(timeout=20_000)
    shown = " ".join(result.inner_text().split())  # split() also takes the editor's no-break spaces
    assert '"name": "Browser <b>check</b>", "state": "SCHEDULED", "delivered": 0' in shown
    origin = server.url.removesuffix("/graphql")
    assert [url for url in requested if not url.startswith((origin + "/", "blob:" + origin + "/"))] == []
    assert set(requested) >= {
        origin + "/graphiql",
        origin + "/graphql",
        origin + "/graphiql/static/graphiql/graphiql.min.js",
    }
    assert problems == []
    # the token stays in this tab: a reload goes straight back to GraphiQL
    page.reload()
    page.locator(".graphiql-container").wait_for(timeout=20_000)
    page.close()


def test_a_refused_token_shows_the_servers_reason_and_no_graphiql(browser, server):
    page, _, _ = open_page(browser, server)
    page.fill("#token", "bct_not-a-token")
    page.click("#signin button[type=submit]")
    problem = page.locator("#problem")
    problem.get_by_text("the token is not valid").wait_for(timeout=10_000)
    assert problem.inner_text() == "the token is not valid (unknown or revoked) — see `broadcaster tokens list`"
    assert page.locator(".graphiql-container").count() == 0
    assert page.evaluate("sessionStorage.getItem('broadcasterToken')") is None
    page.close()


def test_a_subscription_runs_over_graphiqls_websocket_with_the_signed_in_token(browser, server):
    page, _, problems = open_page(browser, server)
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.fill("#token", server.tokens["read"])
    page.click("#signin button[type=submit]")
    page.locator(".graphiql-container").wait_for(timeout=20_000)
    page.click(".graphiql-query-editor .CodeMirror")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type('subscription Watch { broadcastUpdates(broadcastId: "nope") { broadcast { id ')
    # GraphiQL reads the operation from the editor after a debounce: run it once it names Watch
    page.locator(".graphiql-query-editor").get_by_text("Watch").first.wait_for(timeout=10_000)
    page.wait_for_timeout(600)
    page.click(".graphiql-execute-button")
    result = page.locator(".result-window")
    result.get_by_text("NOT_FOUND").first.wait_for(timeout=20_000)
    # the server's own answer, so the socket was accepted: an unsigned one is closed with 4403
    assert "no broadcast with id 'nope'" in " ".join(result.inner_text().split())
    assert sockets == [server.url.replace("http://", "ws://")]
    assert problems == ["Array(1)"]  # GraphiQL's console.error of the subscription's errors, nothing else
    page.close()
