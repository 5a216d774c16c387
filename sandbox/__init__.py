"""The simulators of every external system and the demo data, for the demo, the tests and the benchmarks.

Mounted under /sandbox/ only when SANDBOX_ENABLED is on; nothing in the product imports this package."""
