"""pytest plugin (``pytest11`` entry point) exposing broadcaster's test kit fixtures."""
