"""Real-server rigs shared by the tests and the benchmarks: private PostgreSQL and Redis servers,
the ingest worker rig, event factories and the tamper matrix. Nothing here imports pytest or
tests/, so the benchmarks depend on these and not on the test suite."""
