"""The pure core: no I/O, no clock, no global randomness.

Everything here is a value or a function of its arguments; time arrives as ``now``
(POSIX seconds) and randomness as a seeded ``random.Random`` passed in.
"""
