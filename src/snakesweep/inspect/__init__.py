"""Read-only tools over a running or finished sweep: `snakesweep status` and `snakesweep
verify`, and the one loader of a sweep's results folder they share (results)."""
