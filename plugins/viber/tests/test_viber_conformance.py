"""broadcaster-viber passes the plugin conformance kit, as a module and through its entry point."""

from __future__ import annotations

import broadcaster_viber
from hypothesis import strategies as st
from viber_fakes import INTEGRATION

from broadcaster.testing import check_provider_conformance
from broadcaster.testing.conformance import ProviderConformance

_STATUS = st.integers(0, 22) | st.integers()
_TOKEN = st.integers(0, 2**63) | st.text(max_size=12)
# 200 bodies as Viber shapes them (the kit wraps them in replies of every status)
VIBER_REPLIES = st.fixed_dictionaries(
    {"status": _STATUS},
    optional={
        "status_message": st.text(max_size=20),
        "message_token": _TOKEN,
        "failed_list": st.lists(
            st.fixed_dictionaries(
                {"receiver": st.sampled_from(["123450", "123451", "123452"]) | st.text(max_size=5), "status": _STATUS}
            ),
            max_size=4,
        ),
    },
)
VIBER_CALLBACKS = st.fixed_dictionaries(
    {"event": st.sampled_from(["delivered", "seen", "failed", "subscribed", "message"])},
    optional={
        "timestamp": st.integers() | st.floats(),
        "message_token": _TOKEN,
        "user_id": st.text(max_size=10),
        "desc": st.text(max_size=50),
    },
)


class TestViberConformance(ProviderConformance):
    plugin = broadcaster_viber
    provider = "viber"
    integration = INTEGRATION
    reply_shapes = VIBER_REPLIES
    callback_shapes = VIBER_CALLBACKS
    max_examples = 150


def test_installed_entry_point_passes_the_kit() -> None:
    check_provider_conformance(None, provider="viber", integration=INTEGRATION, max_examples=30)
