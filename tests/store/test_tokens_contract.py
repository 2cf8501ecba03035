"""API tokens in the store, on both engines: a name once, revocation seen by every store
instance at once, "last used" written at most once a minute, an import keeps what is there."""

from __future__ import annotations

import pytest

from broadcaster.core.errors import ConfigError, NotFound
from broadcaster.store import SQLStore, open_store
from broadcaster.store.base import ApiToken, Scope


def tok(name: str, digest: str, scope: Scope = Scope.READ, at: float = 10.0) -> ApiToken:
    return ApiToken(name, scope, digest, at)


def test_add_list_find_revoke(store: SQLStore) -> None:
    store.add_api_token(tok("ops", "d1", Scope.WRITE))
    store.add_api_token(tok("dash", "d2"))
    assert [(t.name, t.scope, t.created_at, t.last_used_at) for t in store.list_api_tokens()] == [
        ("dash", Scope.READ, 10.0, None),
        ("ops", Scope.WRITE, 10.0, None),
    ]
    with pytest.raises(ConfigError) as dup:
        store.add_api_token(tok("ops", "d3"))
    assert str(dup.value) == "a token named 'ops' already exists — revoke it first: broadcaster tokens revoke ops"
    assert [t.digest for t in store.list_api_tokens()] == ["d2", "d1"]  # nothing changed
    assert store.api_token_by_digest("d1", 100.0) == ApiToken("ops", Scope.WRITE, "d1", 10.0, 100.0)
    assert store.api_token_by_digest("nope", 100.0) is None
    store.revoke_api_token("ops")
    assert store.api_token_by_digest("d1", 101.0) is None
    with pytest.raises(NotFound) as unknown:
        store.revoke_api_token("ops")
    assert str(unknown.value) == "no API token named 'ops' — known tokens: dash"
    assert [t.name for t in store.list_api_tokens()] == ["dash"]


def test_last_used_is_written_at_most_once_a_minute(store: SQLStore) -> None:
    store.add_api_token(tok("ops", "d1"))
    assert store.api_token_by_digest("d1", 100.0).last_used_at == 100.0
    assert store.api_token_by_digest("d1", 159.0).last_used_at == 100.0
    assert store.list_api_tokens()[0].last_used_at == 100.0
    assert store.api_token_by_digest("d1", 161.0).last_used_at == 161.0
    assert store.list_api_tokens()[0].last_used_at == 161.0


def test_import_keeps_tokens_already_there(store: SQLStore) -> None:
    store.add_api_token(tok("ops", "mine", Scope.WRITE))
    kept = store.import_api_tokens([tok("ops", "theirs"), tok("dash", "d2"), tok("same-digest", "mine")])
    assert kept == ["ops", "same-digest"]
    assert [(t.name, t.digest) for t in store.list_api_tokens()] == [("dash", "d2"), ("ops", "mine")]


def test_a_revocation_reaches_another_store_instance_at_once(shared_url: str) -> None:
    with open_store(shared_url) as serving, open_store(shared_url) as admin:
        admin.add_api_token(tok("ops", "d1"))
        assert serving.api_token_by_digest("d1", 1.0) is not None
        admin.revoke_api_token("ops")
        assert serving.api_token_by_digest("d1", 2.0) is None
