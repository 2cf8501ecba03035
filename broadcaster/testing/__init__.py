"""Test kit for plugin authors (conformance suite, strategies, fake transports)."""
