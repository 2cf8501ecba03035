"""broadcaster: one message to a large audience, paced, crash-safe, honestly accounted."""

from .core.errors import BroadcasterError
from .hookspecs import hookimpl

__all__ = ["BroadcasterError", "hookimpl"]
__version__ = "0.1.0"
