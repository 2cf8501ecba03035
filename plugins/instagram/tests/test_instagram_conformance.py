"""broadcaster-instagram passes the plugin conformance kit, as a module and through its entry point."""

from __future__ import annotations

import broadcaster_instagram
from hypothesis import strategies as st
from instagram_fakes import INTEGRATION

from broadcaster.testing import check_provider_conformance
from broadcaster.testing.conformance import ProviderConformance

# real-shaped Graph error bodies, so hypothesis reaches every branch of the catalogue
_CODES = st.sampled_from([1, 2, 3, 4, 9, 10, 17, 32, 100, 102, 190, 230, 341, 368, 551, 613, 1200]) | st.integers()
_SUBCODES = st.sampled_from([2534022, 2018278, 2018108, 2018001, 2018352, 2018354, 1545041, 460]) | st.integers()
GRAPH_REPLIES = st.one_of(
    st.fixed_dictionaries(
        {
            "error": st.fixed_dictionaries(
                {"code": _CODES},
                optional={"error_subcode": _SUBCODES, "message": st.text(max_size=40), "is_transient": st.booleans()},
            )
        }
    ),
    st.fixed_dictionaries({"recipient_id": st.text(max_size=10), "message_id": st.text(max_size=20)}),
)
SEEN_CALLBACKS = st.fixed_dictionaries(
    {
        "object": st.just("instagram"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "messaging": st.lists(
                        st.fixed_dictionaries(
                            {
                                "timestamp": st.integers() | st.floats(),
                                "read": st.fixed_dictionaries({"mid": st.text(max_size=12)}),
                            }
                        ),
                        max_size=3,
                    )
                }
            ),
            max_size=2,
        ),
    }
)


class TestInstagramConformance(ProviderConformance):
    plugin = broadcaster_instagram
    provider = "instagram"
    integration = INTEGRATION
    reply_shapes = GRAPH_REPLIES
    callback_shapes = SEEN_CALLBACKS
    max_examples = 150


def test_installed_entry_point_passes_the_kit() -> None:
    check_provider_conformance(None, provider="instagram", integration=INTEGRATION, max_examples=30)
