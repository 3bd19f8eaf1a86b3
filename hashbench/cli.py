"""The ``hashbench`` command: the group, its commands (one module each in
``hashbench.commands``) and the one-line error handling. The library computes; the commands
talk (rich output only in ``hashbench.commands``)."""

# ruff: noqa: E402 - the imports below come after the kernel pinning, on purpose
from __future__ import annotations

from hashbench import cpu_kernels

cpu_kernels.pin()  # the command-line entry point: before anything below imports torch

import sys

import click

from hashbench import __version__
from hashbench.commands.data import data
from hashbench.commands.evaluate_queries import evaluate_queries
from hashbench.commands.listing import list_cmd
from hashbench.commands.output import console, terminal_safe
from hashbench.commands.report import report
from hashbench.commands.reproduce import reproduce
from hashbench.commands.run import run
from hashbench.commands.schema import schema
from hashbench.commands.selfcheck import selfcheck
from hashbench.commands.validate import validate
from hashbench.commands.zoo import zoo
from hashbench.errors import HashbenchError, one_line


@click.group()
@click.version_option(__version__, prog_name="hashbench")
@click.option("--debug", is_flag=True, help="on an error, show the full traceback instead of one "
              "line (allowed anywhere on the command line)")
def cli(debug):
    """Adversarial robustness benchmark for deep-hashing retrieval."""


for _command in (list_cmd, selfcheck, run, report, validate, reproduce, evaluate_queries, zoo,
                 data, schema):
    cli.add_command(_command)


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    if debug:  # accepted anywhere, not only before the command
        sys.argv = [a for a in sys.argv if a != "--debug"]
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted; finished cells are kept, run the same command again to resume")
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except HashbenchError as err:
        if debug:
            console.print_exception()
        message = one_line(err, with_type=False, limit=2000)
        console.print(f"[red]error:[/] {terminal_safe(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted; finished cells are kept, run the same command again to resume")
        sys.exit(130)
    except OSError as err:  # an unwritable folder, a full disk, a file that vanished
        if debug:
            console.print_exception()
        where = f"{err.filename}: " if err.filename else ""
        console.print(f"[red]error:[/] {terminal_safe(where + (err.strerror or str(err)))}; "
                      "check that the folder exists, is writable and has free space "
                      "(finished records are kept)", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback on --debug
        if debug:
            console.print_exception()
            sys.exit(1)
        console.print(f"[red]internal error:[/] {terminal_safe(one_line(err))}; "
                      "rerun with --debug for the traceback and report it", highlight=False,
                      soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
