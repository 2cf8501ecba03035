"""The console in a real browser: Debian's Chromium driven by Playwright, against real
``broadcaster serve`` / ``run`` / ``sandbox`` processes on loopback ports.

``.ci/run`` installs the ``chromium`` package when /usr/bin/chromium is missing; off CI a
machine without it skips these tests (saying so) rather than failing the suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(db: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Run ``broadcaster --store DB ARGS`` and return its stdout (a failure shows its stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "broadcaster.cli", "--store", str(db), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=db.parent,
        timeout=60,
    )
    assert done.returncode == 0, f"broadcaster {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def start(command: list[str], port: int | None, *, cwd: Path, name: str,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start a process logging to ``cwd/NAME.log``; with ``port``, wait until it listens there."""
    log = open(cwd / f"{name}.log", "wb")  # noqa: SIM115 - the process holds it
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
    if port is None:
        return process
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited with {process.returncode}; see {log.name}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{command} did not listen on {port} in 30 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def broadcaster(*args: str) -> list[str]:
    return [sys.executable, "-m", "broadcaster.cli", *args]


def serve(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    return start(
        broadcaster("--store", str(db), "serve", "--port", str(port)), port, cwd=db.parent, name="serve"
    ), f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with `apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.console_errors = errors  # a test expecting a refusal takes its one entry out
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"the console logged errors: {errors}"


def sign_in(page: Any, base: str, secret: str) -> None:
    page.goto(base + "/")
    page.fill("#token", secret)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#viewer")


def rows_shown(page: Any) -> list[dict[str, str]]:
    """The history rows in the DOM: cursor, contact id, status chip, error reason."""
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "#history tbody tr",
        "trs => trs.map(tr => ({cursor: tr.dataset.cursor, contact: tr.dataset.contact,"
        " status: tr.cells[2].innerText, reason: tr.cells[3].innerText}))",
    )


def every_row_by_paging(page: Any) -> list[dict[str, str]]:
    """From the page shown to the last, each page's rows (a page counts once it has loaded)."""
    seen = rows_shown(page)
    while page.is_enabled("#history-older"):
        before = page.inner_text("#history-info")
        page.click("#history-older")
        page.wait_for_function(
            "before => { const t = document.querySelector('#history-info').innerText;"
            " return t !== before && t.startsWith('rows '); }",
            arg=before,
        )
        seen += rows_shown(page)
    return seen
