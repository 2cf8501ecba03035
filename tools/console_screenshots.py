"""Take the console screenshots in docs/ (console-list.png, console-detail.png).

    .venv/bin/python tools/console_screenshots.py

It rehearses examples/outage-mid-run.toml (a WhatsApp outage mid-run, then retries) into a
scratch store, serves it with `broadcaster serve`, signs in with a fresh write token and
photographs the pages in Debian's Chromium (/usr/bin/chromium) through Playwright.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


def broadcaster(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "broadcaster.cli", *args], check=True, capture_output=True,
                          text=True, **kw)  # type: ignore[call-overload]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "rehearsal.db"
        broadcaster("rehearse", str(ROOT / "examples/outage-mid-run.toml"), "--store", str(db), "--size", "3000")
        token = broadcaster("--store", str(db), "tokens", "create", "screenshots", "--scope", "write").stdout.strip()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "broadcaster.cli", "--store", str(db), "serve",
                                   "--port", str(port)], stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 860}, timezone_id="Europe/Oslo",
                                        locale="en-GB", color_scheme="light")  # fmt: skip
                page.goto(base + "/")
                page.fill("#token", token)
                page.click("#signin button[type=submit]")
                page.wait_for_selector("#broadcasts tbody tr")
                page.screenshot(path=str(DOCS / "console-list.png"))
                first = page.get_attribute("#broadcasts tbody tr:last-child", "data-id")
                page.goto(f"{base}/#/broadcasts/{first}")
                page.wait_for_selector("#history tbody tr")
                page.select_option("#status-filter", "FAILED")
                page.wait_for_function("() => document.querySelector('#history-info').innerText.startsWith('rows ')")
                page.screenshot(path=str(DOCS / "console-detail.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print("wrote", ", ".join(str(p.relative_to(ROOT)) for p in sorted(DOCS.glob("console-*.png"))))


if __name__ == "__main__":
    main()
