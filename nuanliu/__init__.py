"""Nuanliu the program: the composition layer, the only package that wires things together.

It sits above the domains (`coordinator`) and the consumers, and nothing of ours imports it:
`runtime` starts the broker, relay, consumers, SMS sender and scheduler and builds the
process's one `coordinator.process.Services`; `scheduler` lists every scheduled job and runs
them with their context; `app` builds the FastAPI app over those services; `cli` is the
`nuanliu` command. The whole-program tools live here too, because they read every domain and
the consumers' book-keeping: `schema` (every table, the migrations), `check` (`nuanliu
check`), `repair` (the sweep that mends what `check`'s timed rules find), `observability`
and `system_views` (/healthz, /metrics). See ARCHITECTURE.md.
"""
