"""broadcaster-whatsapp passes the plugin conformance kit, as a module and through its entry point."""

from __future__ import annotations

import broadcaster_whatsapp
from broadcaster_whatsapp.errors import CATALOGUE
from hypothesis import strategies as st

from broadcaster.core.models import Integration
from broadcaster.testing import check_provider_conformance
from broadcaster.testing.conformance import ProviderConformance

TOKEN = "EAAGq7ZxK2pLw9fR4tYvN0bHs8cJd3mUoE5aWi6"
APP_SECRET = "fake-app-secret-abcdef"
INTEGRATION = Integration(
    "wa-main", "whatsapp", {"token": TOKEN, "phone_number_id": "106540352242922", "app_secret": APP_SECRET}
)

_codes = st.sampled_from(sorted({code for code, _ in CATALOGUE} | {0, 190, 10, 250, 99999})) | st.integers(-3, 10**6)
_error = st.fixed_dictionaries(
    {"code": _codes, "message": st.text(max_size=20) | st.just(f"(#190) token {TOKEN} expired")},
    optional={"error_subcode": st.integers(0, 3000000), "is_transient": st.booleans(), "title": st.text(max_size=9)},
)
REPLY_SHAPES = st.one_of(
    st.fixed_dictionaries({"error": _error}),
    st.fixed_dictionaries(
        {
            "messaging_product": st.just("whatsapp"),
            "messages": st.lists(st.fixed_dictionaries({"id": st.text(max_size=12)}), max_size=2),
        }
    ),
)
_status = st.fixed_dictionaries(
    {
        "id": st.text(max_size=12),
        "status": st.sampled_from(["sent", "delivered", "read", "failed", "played", "weird"]),
        "timestamp": st.sampled_from(["1700000000", "-5", "nan", "x"]) | st.integers(-10, 2**40),
    },
    optional={"errors": st.lists(_error, max_size=2), "recipient_id": st.text(max_size=5)},
)
CALLBACK_SHAPES = st.fixed_dictionaries(
    {
        "object": st.just("whatsapp_business_account"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {"value": st.fixed_dictionaries({"statuses": st.lists(_status, max_size=3)})}
                        ),
                        max_size=2,
                    )
                }
            ),
            max_size=2,
        ),
    }
)


class TestWhatsAppConformance(ProviderConformance):
    plugin = broadcaster_whatsapp
    provider = "whatsapp"
    integration = INTEGRATION
    reply_shapes = REPLY_SHAPES
    callback_shapes = CALLBACK_SHAPES
    max_examples = 150


def test_installed_entry_point_passes_the_kit():
    check_provider_conformance(None, provider="whatsapp", integration=INTEGRATION, max_examples=30)
