"""The trio shell around the pure core: it performs the I/O the core asks for.

Modules: :mod:`.http` (the one place provider requests become httpx requests),
:mod:`.callbacks` (the ASGI endpoint for providers' delivery callbacks),
:mod:`.webhooks` (lifecycle events to plugins and signed webhooks), :mod:`.health`
(per-integration health tracking).
"""

from __future__ import annotations

__all__: list[str] = []
