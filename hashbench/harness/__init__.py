"""The run engine: suites and their cells, the cell plan, the tracks, models provisioned and
cached, the runner and its executors (local and Ray), attack evaluation under the harness's
guards and threat model, locks, timing, provenance, external scoring and reproduction.

It imports the plugin kit, the registry and ``records``; never ``report``."""
