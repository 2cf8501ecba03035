"""``simulate --html`` / ``rehearse --html``: one self-contained page with the text report's
figures, byte-identical per seed (a simulation's), every scenario string escaped."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from broadcaster.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?%?")
HOSTILE_NAME = '<script>alert("name")</script> & "co"'
HOSTILE_TEXT = "<img src=x onerror=alert(1)> </p><h1>owned</h1>"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def visible_text(page: str) -> str:
    """What a reader sees: the page without its style, SVG markup and tags, entities decoded."""
    body = re.sub(r"<style>.*?</style>|<svg.*?</svg>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def figures(text: str) -> Counter[str]:
    return Counter(FIGURE.findall(text))


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>\n") and page.endswith("</html>\n")
    tags = " ".join(re.findall(r"<[^>]+>", page))
    names = set(re.findall(r"<(\w+)", tags))
    assert names <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span", "table", "thead",
                     "tbody", "tr", "th", "td", "svg", "rect", "line", "text", "polyline", "circle"}, names  # fmt: skip
    for banned in ("src=", "href=", "http:", "https:", "//", " on"):
        assert banned not in tags, banned
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert "url(" not in style and "@import" not in style
    assert page.count("<svg") == 1


def hostile(scenario: Path, target: Path) -> Path:
    text = scenario.read_text()
    text = re.sub(r'^name = ".*"$', f"name = '{HOSTILE_NAME}'", text, count=1, flags=re.M)
    text = re.sub(r'^description = ".*"$', f"description = '{HOSTILE_TEXT}'", text, count=1, flags=re.M)
    target.write_text(text)
    return target


def test_a_simulation_page_carries_the_text_reports_figures_and_is_the_same_twice(tmp_path):
    example = EXAMPLES / "outage-mid-run.toml"
    one, two = tmp_path / "one.html", tmp_path / "two.html"
    text = run("simulate", str(example), "--no-plot", "--html", str(one))
    again = run("simulate", str(example), "--no-plot", "--html", str(two))
    assert text.exit_code == 0 and again.exit_code == 0
    assert text.stderr == f"page: {one}\n"
    page = one.read_text()
    assert page == two.read_text()
    assert_self_contained(page)
    # every figure of the text report, as often as it appears there, formatted the same
    assert figures(text.stdout) - figures(visible_text(page)) == Counter()
    seen = " ".join(visible_text(page).split())
    for line in ("delivered 8,255", "delivery rate 82.55%", "took 0h04m55s"):
        assert line in " ".join(text.stdout.split())
    assert "delivered 8,255 failed 1,567 skipped 178 delivery rate 82.55% drop rate 17.45%" in seen
    # the incidents are marked on the plot and listed
    assert "whatsapp outage +0h01m00s +0h02m00s whatsapp outage +0h02m00s +0h03m00s" in seen
    plot = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert plot.count("<title>whatsapp outage</title>") == 2 and plot.count(">retry</text>") == 2


def test_scenario_strings_are_escaped_on_the_page(tmp_path):
    scenario = hostile(EXAMPLES / "outage-mid-run.toml", tmp_path / "hostile.toml")
    out = tmp_path / "page.html"
    result = run("simulate", str(scenario), "--no-plot", "--size", "500", "--html", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert_self_contained(page)
    assert HOSTILE_NAME not in page and HOSTILE_TEXT not in page and "<h1>owned" not in page
    assert html.escape(HOSTILE_NAME) in page and html.escape(HOSTILE_TEXT) in page
    assert f"<title>Simulation: {html.escape(HOSTILE_NAME)}</title>" in page


def test_a_rehearsal_page_matches_its_text_report_and_is_the_same_for_the_same_seed(tmp_path):
    scenario = hostile(EXAMPLES / "outage-mid-run.toml", tmp_path / "hostile.toml")
    pages = []
    for n in (1, 2):
        out = tmp_path / f"r{n}.html"
        result = run(
            "rehearse", str(scenario), "--size", "300", "--store", str(tmp_path / f"r{n}.db"), "--html", str(out)
        )
        assert result.exit_code == 0, result.output
        pages.append(out.read_text())
    page = pages[0]
    # the tables are the same for the same seed; the plot is not quite: the real runtime's rows land
    # a fraction of a second apart from run to run (threads and trio's scheduling are not seeded)
    assert re.sub(r"<svg.*?</svg>", "", page, flags=re.S) == re.sub(r"<svg.*?</svg>", "", pages[1], flags=re.S)
    assert_self_contained(page)
    assert HOSTILE_NAME not in page and html.escape(HOSTILE_NAME) in page
    # the store's path and the wall time differ run to run: they stay out of the page
    reported = [line for line in result.stdout.splitlines() if not line.startswith(("  store:", "Wall time"))]
    assert figures("\n".join(reported)) - figures(visible_text(page)) == Counter()
    assert "r2.db" not in page and "Wall time" not in page
    seen = " ".join(visible_text(page).split())
    assert "one row per contact ok" in seen and "no duplicate accepts ok" in seen
    lineage = next(line for line in result.stdout.splitlines() if line.startswith("Lineage: "))
    assert html.escape(lineage) in page


def test_an_unwritable_page_is_one_line(tmp_path):
    result = run("simulate", str(EXAMPLES / "healthy.toml"), "--no-plot", "--html", str(tmp_path / "no" / "x.html"))
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot write the page to {tmp_path / 'no' / 'x.html'}: No such file or directory\n"
