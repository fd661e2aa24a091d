"""QanDu's benchmark suite: each server in its own process, a load generator in this one.

Run everything and print the table::

    .venv/bin/python -m benchmarks            # the full suite, a few minutes
    .venv/bin/python -m benchmarks --quick    # a smoke run for CI, about a minute and a half

Every QanDu figure is measured beside a bare trio-websocket server doing the same job
(``benchmarks.bare_server``) in the same run.  ``docs/benchmarks.md`` explains the
scenarios and how to read the table.
"""
