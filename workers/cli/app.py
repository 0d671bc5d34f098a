"""`workers COMMAND` (or `python -m workers COMMAND`): the Typer application, its global
options, and `main`, which turns every failure into one line and an honest exit code:
0 done, 1 not found or a part failed, 2 a usage or configuration error."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # Typer's vendored click

from workers.cli import (
    audit_commands,
    nats_commands,
    privacy_commands,
    read_commands,
    resources,
    retention_commands,
    service_commands,
    tenant_commands,  # noqa: F401 - adds add, creds and revoke to `tenants`
)
from workers.cli.errors import USAGE, CommandError
from workers.config import ConfigError
from workers.errors import WorkersError

PACKAGE = "ide-event-workers"
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
BROKEN_PIPE = 1  # what Typer exits with when the reader leaves while a command writes

app = typer.Typer(
    name="workers",
    help=(
        "IDE event workers: NATS JetStream events, validated, applied exactly once to the "
        "store with their audit trail. Settings come from the environment (README: "
        "Configuration); the options below override two of them."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for group in (service_commands, nats_commands, read_commands, retention_commands):
    app.add_typer(group.commands)
app.add_typer(nats_commands.dlq, name="dlq")
app.add_typer(read_commands.tenants, name="tenants")
app.add_typer(retention_commands.hold, name="hold")
app.add_typer(retention_commands.retention, name="retention")
app.add_typer(retention_commands.files, name="files")
app.add_typer(audit_commands.audit, name="audit")
app.add_typer(privacy_commands.subject, name="subject")


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"workers {version(PACKAGE)}")
        except PackageNotFoundError:
            print("workers (not installed: run from a source tree)")
        raise typer.Exit()


@app.callback()
def global_options(
    nats_url: Annotated[
        str | None, typer.Option(metavar="URL", help="NATS server (default: NATS_URL).")
    ] = None,
    store_url: Annotated[
        str | None, typer.Option(metavar="URL", help="The store (default: STORE_URL).")
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version."),
    ] = False,
) -> None:
    resources.overrides.nats_url = nats_url
    resources.overrides.store_url = store_url


def prog_name() -> str:
    return "python -m workers" if sys.argv[0].endswith("__main__.py") else "workers"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; what went wrong is one line on stderr, never a traceback."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name=prog_name(), standalone_mode=False)
    except NoArgsIsHelpError as e:  # `workers`, `workers dlq`: what can be done there
        print(e.format_message())
        return USAGE
    except UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        return _fail(f"error: {e.format_message()}{hint}", USAGE)
    except (typer.Abort, KeyboardInterrupt):
        return INTERRUPTED
    except ConfigError as e:  # also found only when used: a cron expression, a busy port
        return _fail(f"configuration error: {e}", USAGE)
    except CommandError as e:
        return _fail(f"error: {e}", e.exit_code)
    except WorkersError as e:
        return _fail(f"error: {e}", 1)
    try:  # what is still buffered (Typer handles a reader leaving while the command runs)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return result if isinstance(result, int) else 0


def _fail(line: str, code: int) -> int:
    print(line, file=sys.stderr)
    return code


def _quiet_broken_pipe() -> int:
    """The reader left (`… | head -1`): stop writing, and let Python's exit flush go nowhere
    instead of printing a second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return BROKEN_PIPE
