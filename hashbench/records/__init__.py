"""Result records: their typed form (``types``), reading and writing them checked against the
schema (``io``), and the intervals they carry (``intervals``). Imports no harness module: a
record is read the same way whatever computed it."""
