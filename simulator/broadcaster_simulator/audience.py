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

from .draws import WordBlocks, field16, index_array, stream_id, threshold16, word_array
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


#: fixed width: keyset pagination orders ids as strings, which must be index order
_ID_FORMAT = "c%08d"


def contact_id(index: int) -> str:
    return _ID_FORMAT % index


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
        import numpy as np  # not at the top: see draws.index_array

        self._cumulative_array = np.array(self._cumulative, dtype=np.uint64)
        self._windowed_array = np.array(self._windowed, dtype=bool)
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
        """Contacts by index. This builds every contact of a run, so the traits are cut from
        their words a page at a time with numpy (its uint64 shifts and masks, its float64
        arithmetic: the same values as Python's), and what stays per contact is building the
        strings and objects, mostly with ``map``."""
        import numpy as np

        count = len(indexes)
        if count == 0:
            return []
        start = self.start
        array = index_array(indexes)
        index_list: list[int] = array.tolist()
        traits = word_array(self.key, _S_TRAITS, array)
        cycles = [index % _CYCLE for index in index_list]
        ids = list(map(_ID_FORMAT.__mod__, index_list))  # contact_id's, ~2/3 of an f-string's cost
        names = [f"{_FIRST_NAMES[cycle]} {index}" for cycle, index in zip(cycles, index_list, strict=True)]
        more = word_array(self.key, _S_MORE, array) if self._needs_more else None
        if more is not None and self._missing:
            missing = ((more & 0xFFFF) < self._missing).tolist()
            full, short = self._fields_full, self._fields_missing
            fields = [short[c] if m else full[c] for c, m in zip(cycles, missing, strict=True)]
        else:
            full = self._fields_full
            fields = [full[c] for c in cycles]
        opted_out = (((traits >> 16) & 0xFFFF) < self._opted_out).tolist()
        # How long ago an open-window contact wrote only has to be spread over the last
        # hours, not random: a golden-ratio sequence of the index (no hash).
        inbound = np.where(
            (traits >> 48) < self._closed,
            start - _CLOSED_WINDOW_AGE,
            start - _OPEN_WINDOW_AGE * ((array * _GOLDEN) & 0xFFFF) / 65536,
        )
        integrations, windowed, chat_ids = self._integrations, self._windowed, self._chat_ids
        if len(integrations) == 1:
            firsts = [0] * count
            chat_id = chat_ids[0]
            chat_id_list = [chat_id(index) for index in index_list]
            integration_list = integrations * count
            inbound_list = inbound.tolist() if windowed[0] else [None] * count
        else:
            picked = np.searchsorted(self._cumulative_array, (traits >> 32) & 0xFFFF, side="right")
            firsts = picked.tolist()
            chat_id_list = [chat_ids[first](index) for first, index in zip(firsts, index_list, strict=True)]
            integration_list = [integrations[first] for first in firsts]
            stamps = inbound.astype(object)  # Python floats, and None where the channel has no window
            stamps[~self._windowed_array[picked]] = None
            inbound_list = stamps.tolist()
        chats: list[tuple[Chat, ...]] = list(zip(map(Chat, integration_list, chat_id_list, inbound_list)))  # 1-tuples
        # the few contacts with no chat, or a second one, are set right one by one
        for position in np.flatnonzero((traits & 0xFFFF) < self._no_chat).tolist():
            chats[position] = ()
        if more is not None and self._second:
            pick = bisect.bisect_right
            cumulative = self._cumulative
            for position in np.flatnonzero(((more >> 32) & 0xFFFF) < self._second).tolist():
                if not chats[position]:
                    continue
                other = pick(cumulative, int(more[position]) >> 48)
                if other == firsts[position]:
                    other = (other + 1) % len(integrations)
                index = index_list[position]
                last_inbound = inbound[position].item() if windowed[other] else None
                also = Chat(integrations[other], chat_ids[other](index), last_inbound)
                chats[position] = (chats[position][0], also)
        return list(map(Contact, ids, names, fields, opted_out, chats))

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
