"""The generated audience: contact *i* is a pure function of (seed, i), made page by page.

Nothing is materialised: a page is built when the dispatcher asks for it and dropped
once its contacts are sent, so a million contacts cost no more memory than five hundred.
A retry's explicit contact-ID list is paged the same way, regenerating each contact
from its index.
"""

from __future__ import annotations

import bisect
from typing import Mapping, Sequence

from broadcaster.core.channels import ChannelSpec
from broadcaster.core.events import PageLoaded
from broadcaster.core.models import Chat, Contact

from .draws import WordBlocks, field16, stream_id, threshold16, words
from .model import AudienceSpec
from .specs import chat_id_maker

__all__ = ["AudienceGenerator", "contact_id", "contact_index"]

_FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Ewa", "Farid", "Gosia", "Hugo", "Inês", "Jun", "Kofi", "Lena")
_CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Warsaw", "Kyiv")
#: names and cities cycle together every 12 contacts
_CYCLE = 12

#: two words per contact, each cut into four 16-bit fields:
#: traits = (no chat, opted out, first channel, closed window),
#: more = (missing field, unused, second chat, second channel) — drawn only when a
#: scenario uses one of them
_S_TRAITS = stream_id("audience:traits")
_S_MORE = stream_id("audience:more")

#: contacts whose window is open wrote in the last few hours; closed ones days ago
_OPEN_WINDOW_AGE = 6 * 3600.0
_GOLDEN = 0x9E37  # 2**16 / golden ratio, odd
_CLOSED_WINDOW_AGE = 3 * 86_400.0


def contact_id(index: int) -> str:
    # Fixed width: keyset pagination orders ids as strings, which must be index order.
    return f"c{index:08d}"


def contact_index(cid: str) -> int:
    return int(cid[1:])


class AudienceGenerator:
    def __init__(
        self,
        spec: AudienceSpec,
        *,
        key: int,
        start: float,
        providers: Mapping[str, str],
        specs: Mapping[str, ChannelSpec],
    ) -> None:
        """``providers`` maps each integration to its provider; ``specs`` each provider to its channel."""
        self.spec = spec
        self.key = key
        self.start = start
        names = [name for name, weight in spec.channels.items() if weight > 0]
        total = sum(spec.channels[name] for name in names)
        self._integrations = names
        self._providers = [providers[name] for name in names]
        self._windowed = [specs[p].window_seconds is not None for p in self._providers]
        self._chat_ids = [chat_id_maker(p) for p in self._providers]
        # the channel pick as integer thresholds on a 16-bit field; the last takes the rest
        self._cumulative: list[int] = []
        acc = 0.0
        for name in names:
            acc += spec.channels[name] / total
            self._cumulative.append(threshold16(acc))
        self._cumulative[-1] = 1 << 16
        self._no_chat = threshold16(spec.no_chat)
        self._opted_out = threshold16(spec.opted_out)
        self._closed = threshold16(spec.closed_window)
        self._missing = threshold16(spec.missing_field)
        self._second = threshold16(spec.second_chat) if len(names) > 1 else 0
        self._needs_more = bool(self._missing or self._second)
        self._traits = WordBlocks(key, _S_TRAITS)
        # Contacts share their fields mappings (read-only by contract: the core never
        # writes to a contact), one per position in the name/city cycle.
        self._fields_full = [
            {"city": _CITIES[i % len(_CITIES)], "first_name": _FIRST_NAMES[i % len(_FIRST_NAMES)]}
            for i in range(_CYCLE)
        ]
        self._fields_missing = [{"city": _CITIES[i % len(_CITIES)]} for i in range(_CYCLE)]

    # -- traits (each a pure function of the index) -----------------------------------------

    def window_closed(self, index: int) -> bool:
        return bool(self._closed) and field16(self._traits[index], 3) < self._closed

    def contact(self, index: int) -> Contact:
        return self.contacts((index,))[0]

    def contacts(self, indexes: Sequence[int]) -> list[Contact]:
        """Contacts by index. One loop with everything it needs in locals: this builds
        every contact of a run."""
        key, start = self.key, self.start
        needs_more = self._needs_more
        no_chat, opted_out_below, closed, missing, second = (
            self._no_chat,
            self._opted_out,
            self._closed,
            self._missing,
            self._second,
        )
        integrations, windowed, chat_ids, cumulative = (
            self._integrations,
            self._windowed,
            self._chat_ids,
            self._cumulative,
        )
        single = len(cumulative) == 1
        fields_full, fields_missing = self._fields_full, self._fields_missing
        closed_inbound = start - _CLOSED_WINDOW_AGE
        pick = bisect.bisect_right
        out: list[Contact] = []
        append = out.append
        mores = words(key, _S_MORE, indexes) if needs_more else [0] * len(indexes)
        for index, traits, more in zip(indexes, words(key, _S_TRAITS, indexes), mores, strict=True):
            cid = f"c{index:08d}"
            cycle = index % _CYCLE
            name = f"{_FIRST_NAMES[cycle]} {index}"
            fields = fields_missing[cycle] if more & 0xFFFF < missing else fields_full[cycle]
            opted_out = (traits >> 16) & 0xFFFF < opted_out_below
            if traits & 0xFFFF < no_chat:
                append(Contact(cid, name, fields, opted_out, ()))
                continue
            if traits >> 48 < closed:
                last_inbound = closed_inbound
            else:
                # How long ago an open-window contact wrote only has to be spread over the
                # last hours, not random: a golden-ratio sequence of the index (no hash).
                last_inbound = start - _OPEN_WINDOW_AGE * ((index * _GOLDEN) & 0xFFFF) / 65536
            first = 0 if single else pick(cumulative, (traits >> 32) & 0xFFFF)
            chat = Chat(integrations[first], chat_ids[first](index), last_inbound if windowed[first] else None)
            if (more >> 32) & 0xFFFF >= second:
                append(Contact(cid, name, fields, opted_out, (chat,)))
                continue
            other = pick(cumulative, more >> 48)
            if other == first:
                other = (first + 1) % len(integrations)
            also = Chat(integrations[other], chat_ids[other](index), last_inbound if windowed[other] else None)
            append(Contact(cid, name, fields, opted_out, (chat, also)))
        return out

    # -- pages -------------------------------------------------------------------------------

    def page(self, after_id: str | None, limit: int, *, ids: Sequence[str] | None = None) -> PageLoaded:
        """The next page after ``after_id``: of the whole audience, or of an explicit id list
        (a retry's audience, sorted)."""
        if ids is None:
            first = 0 if after_id is None else contact_index(after_id) + 1
            last = min(first + limit, self.spec.size)
            contacts = self.contacts(range(first, last))
            return PageLoaded(contacts, exhausted=last >= self.spec.size)
        begin = 0 if after_id is None else bisect.bisect_right(ids, after_id)
        chunk = ids[begin : begin + limit]
        contacts = self.contacts([contact_index(cid) for cid in chunk])
        return PageLoaded(contacts, exhausted=begin + limit >= len(ids))
