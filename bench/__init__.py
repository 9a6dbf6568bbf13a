"""The benchmarks behind `perpchain bench NAME` and `make bench` (docs/performance.md). Those of the
app in process set up and drive their chain through app/driver.py; checktx, restart, e2e and tui
measure real processes over their sockets."""
