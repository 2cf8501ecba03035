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

from .draws import stream_id, unit
from .model import AudienceSpec
from .specs import chat_id_for

__all__ = ["AudienceGenerator", "contact_id", "contact_index"]

_FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Ewa", "Farid", "Gosia", "Hugo", "Inês", "Jun", "Kofi", "Lena")
_CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Warsaw", "Kyiv")

_S_NO_CHAT = stream_id("audience:no_chat")
_S_CHANNEL = stream_id("audience:channel")
_S_SECOND = stream_id("audience:second_chat")
_S_SECOND_CHANNEL = stream_id("audience:second_channel")
_S_OPTED_OUT = stream_id("audience:opted_out")
_S_MISSING = stream_id("audience:missing_field")
_S_WINDOW = stream_id("audience:closed_window")
_S_INBOUND = stream_id("audience:last_inbound")

#: contacts whose window is open wrote in the last few hours; closed ones days ago
_OPEN_WINDOW_AGE = 6 * 3600.0
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
        self._cumulative: list[float] = []
        acc = 0.0
        for name in names:
            acc += spec.channels[name] / total
            self._cumulative.append(acc)
        self._cumulative[-1] = 1.0

    # -- traits (each a pure function of the index) -----------------------------------------

    def window_closed(self, index: int) -> bool:
        return unit(self.key, _S_WINDOW, index) < self.spec.closed_window

    def _pick(self, u: float) -> int:
        return min(bisect.bisect_right(self._cumulative, u), len(self._cumulative) - 1)

    def contact(self, index: int) -> Contact:
        spec = self.spec
        key = self.key
        cid = contact_id(index)
        name = _FIRST_NAMES[index % len(_FIRST_NAMES)]
        fields: dict[str, str] = {"city": _CITIES[index % len(_CITIES)]}
        if unit(key, _S_MISSING, index) >= spec.missing_field:
            fields["first_name"] = name
        opted_out = unit(key, _S_OPTED_OUT, index) < spec.opted_out
        if unit(key, _S_NO_CHAT, index) < spec.no_chat:
            return Contact(cid, f"{name} {index}", fields, opted_out, ())
        closed = unit(key, _S_WINDOW, index) < spec.closed_window
        if closed:
            last_inbound = self.start - _CLOSED_WINDOW_AGE
        else:
            last_inbound = self.start - _OPEN_WINDOW_AGE * unit(key, _S_INBOUND, index)
        first = self._pick(unit(key, _S_CHANNEL, index))
        chats = [self._chat(first, index, last_inbound)]
        if len(self._integrations) > 1 and unit(key, _S_SECOND, index) < spec.second_chat:
            other = self._pick(unit(key, _S_SECOND_CHANNEL, index))
            if other == first:
                other = (first + 1) % len(self._integrations)
            chats.append(self._chat(other, index, last_inbound))
        return Contact(cid, f"{name} {index}", fields, opted_out, tuple(chats))

    def _chat(self, position: int, index: int, last_inbound: float) -> Chat:
        provider = self._providers[position]
        inbound = last_inbound if self._windowed[position] else None
        return Chat(self._integrations[position], chat_id_for(provider, index), inbound)

    # -- pages -------------------------------------------------------------------------------

    def page(self, after_id: str | None, limit: int, *, ids: Sequence[str] | None = None) -> PageLoaded:
        """The next page after ``after_id``: of the whole audience, or of an explicit id list
        (a retry's audience, sorted)."""
        if ids is None:
            first = 0 if after_id is None else contact_index(after_id) + 1
            last = min(first + limit, self.spec.size)
            contacts = [self.contact(i) for i in range(first, last)]
            return PageLoaded(contacts, exhausted=last >= self.spec.size)
        begin = 0 if after_id is None else bisect.bisect_right(ids, after_id)
        chunk = ids[begin : begin + limit]
        contacts = [self.contact(contact_index(cid)) for cid in chunk]
        return PageLoaded(contacts, exhausted=begin + limit >= len(ids))
