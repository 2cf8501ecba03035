"""broadcaster-simulator: rehearse broadcasts against simulated providers, deterministically."""
