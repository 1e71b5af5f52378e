"""The load test (``make loadtest``, ``python -m bench.load``): many emails over SMTP from concurrent
senders to a sandbox on 127.0.0.1 while simulated agents claim and reply through the HTTP API, then
the invariants of :mod:`sandbox.invariants` checked on the table, and the figures as JSON.

Modules: :mod:`~bench.load.mix` (what is sent), :mod:`~bench.load.senders` (SMTP clients),
:mod:`~bench.load.agents` (API clients), :mod:`~bench.load.org` (mailboxes, teams, agents),
:mod:`~bench.load.figures` (latency, throughput, memory), :mod:`~bench.load.sweep` (the scheduled
queue sweep, run to the end), :mod:`~bench.load.run` (one run, start to finish).
"""
