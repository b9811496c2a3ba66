"""``demine params``: create and check parameter files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import EXIT_BAD_INPUT, err_console, fail, handle_errors, params_app


@params_app.command("init")
@handle_errors
def params_init(
    path: Annotated[Path, typer.Argument(help="Where to write the commented default file.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the commented default parameter file (a byte-for-byte copy) to PATH."""
    from .. import io as dio

    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; give a file name", param_hint="PATH")
    if path.exists() and not force:
        raise fail(f"{path}: exists and won't be overwritten without --force", EXIT_BAD_INPUT)
    if not path.parent.exists():
        raise typer.BadParameter(
            f"{path}: directory {path.parent} does not exist", param_hint="PATH"
        )
    dio.copy_file(dio.default_data().parameters, path)
    err_console().print(f"wrote {path}; edit it and pass it with --params {path}", markup=False)


@params_app.command("check")
@handle_errors
def params_check(
    path: Annotated[Path, typer.Argument(help="Parameter file to validate.")],
) -> None:
    """Validate a parameter file and list the keys it changes from the defaults."""
    from ..pipeline import load_default_params

    p = load_default_params(path)
    typer.echo(f"{path}: valid (schema_version {p.schema_version}, sha256 {p.sha256[:12]})")
    if p.overridden_keys:
        typer.echo("changes from the defaults: " + ", ".join(p.overridden_keys))
    else:
        typer.echo("no changes from the defaults")
