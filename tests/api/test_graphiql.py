"""GraphiQL from the server itself: a public sign-in, every file behind the token, no CDN."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
STATIC = resources.files("broadcaster.api").joinpath("static")


def base(server) -> str:
    return server.url.removesuffix("/graphql")


def page(server, path: str = "/graphiql", **headers: str) -> httpx.Response:
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.get(base(server) + path, headers=named, timeout=10)


def assets_of(html: str) -> list[str]:
    block = re.search(r'<script type="application/json" id="assets">(.*?)</script>', html, re.S)
    assert block is not None
    return json.loads(block.group(1))


def test_the_sign_in_page_is_public_and_references_nothing_outside_the_server(server):
    response = page(server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'unsafe-inline' blob:" in csp
    html = response.text
    assert re.findall(r"(?:https?:|wss?:)?//[\w.-]+", html.replace("<!--", "").replace("-->", "")) == []
    # nothing loaded by the browser on its own (it could not send the token): no src=, no <link>
    # but the empty icon that spares a request for /favicon.ico
    assert re.findall(r"\bsrc=|<link\b[^>]*|@import|url\(", html) == ['<link rel="icon" href="data:,"']
    assert assets_of(html) == [
        "/graphiql/static/graphiql/graphiql.min.css",
        "/graphiql/static/react/react.production.min.js",
        "/graphiql/static/react-dom/react-dom.production.min.js",
        "/graphiql/static/graphiql/graphiql.min.js",
    ]
    # the same page from a browser's GET of the endpoint
    assert page(server, "/graphql", accept="text/html,application/xhtml+xml").text == html


def test_every_asset_needs_a_valid_token_and_is_the_packaged_file(server):
    for path in assets_of(page(server).text):
        for token in (None, "bct_not-a-token"):
            headers = {} if token is None else {"authorization": f"Bearer {token}"}
            refused = page(server, path, **headers)
            assert refused.status_code == 401, path
            assert refused.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
        served = page(server, path, authorization=f"Bearer {server.tokens['read']}")
        assert served.status_code == 200, path
        assert served.content == STATIC.joinpath(path.removeprefix("/graphiql/static/")).read_bytes()
        kind = "text/css" if path.endswith(".css") else "text/javascript"
        assert served.headers["content-type"] == f"{kind}; charset=utf-8"
        again = page(
            server, path, authorization=f"Bearer {server.tokens['read']}", if_none_match=served.headers["etag"]
        )
        assert (again.status_code, again.content) == (304, b"")


def test_the_built_files_fetch_nothing_themselves_and_keep_their_licenses():
    css = STATIC.joinpath("graphiql", "graphiql.min.css").read_text()
    assert set(re.findall(r"url\(\s*[\"']?(\w+):", css)) == {"data"}
    assert "@import" not in css
    for name in ("graphiql/graphiql.min.js", "graphiql/graphiql.min.css"):
        assert "sourceMappingURL" not in STATIC.joinpath(name).read_text()
    for package in ("graphiql", "react", "react-dom"):
        assert "MIT License" in STATIC.joinpath(package, "LICENSE").read_text()
    versions = STATIC.joinpath("VERSIONS").read_text().splitlines()
    script = (ROOT / "tools" / "refresh-graphiql.sh").read_text()
    graphiql, react = (line.split()[1] for line in versions[:2])
    assert versions == [f"graphiql {graphiql}", f"react {react}", f"react-dom {react}"]
    assert f"GRAPHIQL=${{1:-{graphiql}}}" in script and f"REACT=${{2:-{react}}}" in script


def test_a_missing_file_is_404_only_for_a_signed_in_client(server):
    read = f"Bearer {server.tokens['read']}"
    for path in (
        "/graphiql/static/nope.js",
        "/graphiql/static/graphiql/..%2F..%2Fserver.py",
        "/graphiql/static/graphiql/",
    ):
        assert page(server, path).status_code == 401
        missing = page(server, path, authorization=read)
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


def test_graphiqls_schema_request_needs_the_token(server):
    # what GraphiQL sends first: an introspection query, with the header its sign-in set
    introspection = {"query": "query IntrospectionQuery { __schema { queryType { name } mutationType { name } } }"}
    assert server.post(introspection, None).status_code == 401
    answered = server.post(introspection, "read")
    assert answered.json() == {
        "data": {"__schema": {"queryType": {"name": "Query"}, "mutationType": {"name": "Mutation"}}}
    }
