"""``make bench``: how fast rollbackctl restores, how lean its cold starts are, how it behaves in an alarm
storm and what an incident costs, measured on the embedded emulator. Entry point: ``python -m bench.run``."""
