"""`hashbench ...` run inside the test process: the same entry point (``hashbench.cli.main``:
its error handling, exit codes and one-line messages) without a new interpreter and torch import
per case, which is most of a case's time."""

import contextlib
import io
import sys
from dataclasses import dataclass


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def hb(*args) -> Result:
    from hashbench import cli

    out, err = io.StringIO(), io.StringIO()
    argv, code = sys.argv, 0
    sys.argv = ["hashbench", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())
