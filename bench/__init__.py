"""Benchmarks of clockwork-compose, each next to its yardstick: ``python -m bench``.

Every benchmark is a module with ``run(ctx) -> list[Row]``; ``__main__`` prints the rows as
one table and writes them as JSON. Slowness never fails the command; only a real error does.
"""
