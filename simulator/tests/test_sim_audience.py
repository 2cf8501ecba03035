"""The generated audience, made a page at a time with numpy, is contact by contact the
scalar definition of contact *i*'s traits (the words of :func:`draws.word`, cut in Python)."""

from __future__ import annotations

import bisect

import pytest
from broadcaster_simulator.audience import AudienceGenerator
from broadcaster_simulator.draws import stream_id, threshold16, word
from broadcaster_simulator.model import AudienceSpec
from broadcaster_simulator.specs import SIM_SPECS, chat_id_maker

from broadcaster.core.models import Chat, Contact

PROVIDERS = {"wa": "whatsapp", "tg": "telegram", "ig": "instagram", "vb": "viber"}
START = 1_700_000_000.0
NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Ewa", "Farid", "Gosia", "Hugo", "Inês", "Jun", "Kofi", "Lena")
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Warsaw", "Kyiv")


def scalar_contact(spec: AudienceSpec, key: int, index: int) -> Contact:
    """Contact ``index`` as its traits define it, one field of one word at a time."""
    names = [name for name, weight in spec.channels.items() if weight > 0]
    total = sum(spec.channels[name] for name in names)
    cumulative, acc = [], 0.0
    for name in names:
        acc += spec.channels[name] / total
        cumulative.append(threshold16(acc))
    cumulative[-1] = 1 << 16
    traits = word(key, stream_id("audience:traits"), index)
    more = word(key, stream_id("audience:more"), index)
    field = lambda w, n: (w >> (16 * n)) & 0xFFFF  # noqa: E731
    fields = {"city": CITIES[index % 12 % 6]}
    if not field(more, 0) < threshold16(spec.missing_field):
        fields["first_name"] = NAMES[index % 12]
    opted_out = field(traits, 1) < threshold16(spec.opted_out)
    name = f"{NAMES[index % 12]} {index}"
    if field(traits, 0) < threshold16(spec.no_chat):
        return Contact(f"c{index:08d}", name, fields, opted_out, ())
    if field(traits, 3) < threshold16(spec.closed_window):
        last_inbound = START - 3 * 86_400.0
    else:
        last_inbound = START - 6 * 3600.0 * ((index * 0x9E37) & 0xFFFF) / 65536

    def chat(position: int) -> Chat:
        provider = PROVIDERS[names[position]]
        windowed = SIM_SPECS[provider].window_seconds is not None
        return Chat(names[position], chat_id_maker(provider)(index), last_inbound if windowed else None)

    first = bisect.bisect_right(cumulative, field(traits, 2))
    chats = [chat(first)]
    if len(names) > 1 and field(more, 2) < threshold16(spec.second_chat):
        other = bisect.bisect_right(cumulative, field(more, 3))
        chats.append(chat((first + 1) % len(names) if other == first else other))
    return Contact(f"c{index:08d}", name, fields, opted_out, tuple(chats))


SPECS = [
    AudienceSpec(size=0, channels={"wa": 0.5, "tg": 0.5}, no_chat=0.01, opted_out=0.01),
    AudienceSpec(size=0, channels={"wa": 1.0}, closed_window=0.3),
    AudienceSpec(size=0, channels={"tg": 1.0}, no_chat=0.2, missing_field=0.1),
    AudienceSpec(
        size=0,
        channels={"wa": 0.3, "tg": 0.3, "ig": 0.4},
        second_chat=0.3,
        no_chat=0.1,
        opted_out=0.1,
        missing_field=0.2,
        closed_window=0.3,
    ),
    AudienceSpec(size=0, channels={"wa": 0.5, "tg": 0.0, "vb": 0.5}, second_chat=0.5),
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("key", [1, 2**63 + 12_345])
def test_a_page_of_contacts_is_each_contacts_scalar_traits(spec, key):
    generator = AudienceGenerator(spec, key=key, start=START, providers=PROVIDERS, specs=SIM_SPECS)
    for indexes in (range(0, 1500), range(99_999_000, 99_999_100), [7, 70, 700, 7000, 12_345_678], []):
        made = generator.contacts(indexes)
        assert made == [scalar_contact(spec, key, index) for index in indexes]
        for contact in made:
            assert all(type(chat.last_inbound_at) in (float, type(None)) for chat in contact.chats)
            assert type(contact.opted_out) is bool
