"""broadcaster-telegram passes the plugin conformance kit, as a module and through its entry point."""

from __future__ import annotations

import broadcaster_telegram
from hypothesis import strategies as st

from broadcaster.core.models import Integration
from broadcaster.testing import check_provider_conformance
from broadcaster.testing.conformance import ProviderConformance

TOKEN = "123456789:AAEqZ7-Xk2pLw9_fR4tYvN0bHs8cJd3mUo"
INTEGRATION = Integration("tg-main", "telegram", {"token": TOKEN, "secret_token": "webhook-secret-42"})

# real-shaped error bodies, with descriptions from providers.md §1, so hypothesis reaches every branch
ERROR_SHAPES = st.fixed_dictionaries(
    {
        "ok": st.just(False),
        "error_code": st.sampled_from([400, 401, 403, 404, 429, 500]),
        "description": st.sampled_from(
            [
                "Forbidden: bot was blocked by the user",
                "Bad Request: chat not found",
                "Too Many Requests: retry after 5",
            ]
        )
        | st.text(max_size=30),
    },
    optional={
        "parameters": st.fixed_dictionaries(
            {},
            optional={"retry_after": st.integers(-5, 100) | st.text(max_size=3), "migrate_to_chat_id": st.integers()},
        )
    },
)


class TestTelegramConformance(ProviderConformance):
    plugin = broadcaster_telegram
    provider = "telegram"
    integration = INTEGRATION
    reply_shapes = ERROR_SHAPES
    max_examples = 150


def test_installed_entry_point_passes_the_kit():
    check_provider_conformance(None, provider="telegram", integration=INTEGRATION, max_examples=30)
