"""``python -m broadcaster.cli`` (the same program as the ``broadcaster`` script)."""

from . import main

main()
