"""agentchat's benchmark suite: agentchat against raw aiohttp, the official ``openai`` SDK and
``pydo`` (DigitalOcean's SDK), all talking to one local OpenAI-compatible server that runs in a
process of its own.

    nox -s bench                        # the full run (a few minutes)
    nox -s bench -- --quick             # fewer rounds and calls (under two minutes)
    python -m bench.run --help          # the same, by hand, from the repository root

Modules, one concept each:

- :mod:`bench.payloads`: the bytes the server sends, built once;
- :mod:`bench.server`: the server process, and the handle the runner holds on it;
- :mod:`bench.system`: CPU pinning, file-descriptor limits, a process's CPU time and CPU
  waits, the machine;
- :mod:`bench.clients`: one class per client, all with the same interface;
- :mod:`bench.pydo_http`: how pydo's clients are made to talk to the plain-http server;
- :mod:`bench.measure`: interleaved rounds, medians, and the server's CPU (and the CPU waits
  of both sides) beside each figure;
- :mod:`bench.scenarios`: what is measured, and how each scenario drives the clients;
- :mod:`bench.decode`: stream decoding in memory, without a socket;
- :mod:`bench.isolated`: the worker process of a client that changes its process (the
  OpenTelemetry SDK's), its rounds interleaved with the runner's;
- :mod:`bench.otel`: the OpenTelemetry set-ups of the telemetry rows (none; an SDK);
- :mod:`bench.rss`: the child process that holds 1,000 streams open and reports its peak RSS;
- :mod:`bench.imports`: import times, in fresh interpreters;
- :mod:`bench.budget`: the performance budget, as ratios against raw aiohttp;
- :mod:`bench.profiling`: an optional cProfile of one client's timed calls;
- :mod:`bench.report`: the markdown table, the JSON file and ``docs/benchmarks.md``;
- :mod:`bench.run`: the command line.

Beside the suite, run on their own: :mod:`bench.instructions` (client instructions per call
under callgrind, for close calls the wall clock cannot settle) and :mod:`bench.fanout`
(``create_many`` against a hand-written ``asyncio.gather`` + semaphore, and a paced run).
"""
