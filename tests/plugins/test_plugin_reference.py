"""docs/plugin-reference.md is exactly what the docstrings render (regenerate it with
``python -m broadcaster.plugin_reference > docs/plugin-reference.md``)."""

from __future__ import annotations

from pathlib import Path

from broadcaster import plugin
from broadcaster.plugin_reference import render

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_reference_page_is_current():
    assert render() == (DOCS / "plugin-reference.md").read_text(encoding="utf-8")


def test_the_reference_documents_every_method_and_hook():
    page = render()
    for name in ("build_call", "interpret_reply", "build_batch_call", "interpret_batch_reply", "verify_callback"):
        assert f"### `Provider.{name}(" in page
    assert "### `register_providers(register: 'Register') -> 'None'`" in page
    assert "(undocumented)" not in page


def test_the_author_module_exports_what_it_says_and_nothing_lazily():
    assert 25 <= len(plugin.__all__) <= 35
    assert all(getattr(plugin, name) is not None for name in plugin.__all__)
    assert not hasattr(plugin, "__getattr__")


def test_no_document_cites_a_missing_providers_page():
    root = DOCS.parent
    assert (DOCS / "providers.md").exists()
    readmes = [root / "plugins" / name / "README.md" for name in ("telegram", "whatsapp", "instagram", "viber")]
    for readme in readmes:
        text = readme.read_text(encoding="utf-8")
        assert "providers.md" not in text.replace("docs/providers.md", "")
