"""The executor's connection limits, divided between small httpcore pools."""

from __future__ import annotations

import math

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.runtime.http import HttpSettings, shard_limits


def test_the_default_limits_become_thirteen_pools_of_at_most_four():
    parts = shard_limits(HttpSettings().limits())
    assert [p.max_connections for p in parts] == [4] * 11 + [3] * 2
    assert [p.max_keepalive_connections for p in parts] == [4] * 11 + [3] * 2
    assert {p.keepalive_expiry for p in parts} == {30.0}


@settings(max_examples=50)
@given(total=st.integers(1, 500), keepalive=st.integers(0, 600), per_shard=st.integers(1, 16))
def test_shares_add_up_to_the_client_limits(total, keepalive, per_shard):
    parts = shard_limits(httpx.Limits(max_connections=total, max_keepalive_connections=keepalive), per_shard=per_shard)
    assert len(parts) == math.ceil(total / per_shard)
    assert sum(p.max_connections for p in parts) == total
    assert all(1 <= p.max_connections <= per_shard for p in parts)
    assert sum(p.max_keepalive_connections for p in parts) == min(keepalive, total)
