"""``demine hazard build``: a contamination proxy raster from conflict lines, zones and events."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from ._common import (
    app,
    check_output_paths,
    err_console,
    handle_errors,
    parse_date,
    setup_logging,
    with_progress,
)

logger = logging.getLogger(__name__)

hazard_app = typer.Typer(
    help="Build a contamination proxy (hazard classes and probability) from conflict data.",
    no_args_is_help=True,
)
app.add_typer(hazard_app, name="hazard")


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}{suffix}")


def _parse_extent(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not (parts[0] < parts[2] and parts[1] < parts[3]):
        raise typer.BadParameter(
            f"{value!r}: write LEFT,BOTTOM,RIGHT,TOP in metres of the grid CRS, left < right "
            "and bottom < top",
            param_hint="--extent",
        )
    return parts  # type: ignore[return-value]


@hazard_app.command("build")
@handle_errors
def hazard_build(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Class raster to write (GeoTIFF, uint8, 255 = nodata)."
        ),
    ],
    front_lines: Annotated[
        Path | None,
        typer.Option("--front-lines", help="Dated front lines (any OGR format; a date field)."),
    ] = None,
    contact_lines: Annotated[
        Path | None,
        typer.Option("--contact-lines", help="Long-held contact lines (e.g. 2015-2022)."),
    ] = None,
    trench_lines: Annotated[
        Path | None,
        typer.Option("--trench-lines", help="Trench and defensive lines."),
    ] = None,
    control: Annotated[
        Path | None,
        typer.Option(
            "--control",
            help="Control zones: a class field (russian_controlled/occupied, "
            "occupied_before_2022, contested_or_unknown, liberated) and a date field.",
        ),
    ] = None,
    events: Annotated[
        list[Path] | None,
        typer.Option(
            "--events",
            help="Point events: CSV (longitude, latitude) or OGR, with date and type fields "
            "(repeatable).",
        ),
    ] = None,
    region_file: Annotated[
        Path | None,
        typer.Option(
            "--region-file",
            help="Polygons: the grid covers them, cells outside are nodata, and the summary "
            "gives class areas per polygon ('name' field).",
        ),
    ] = None,
    region_name_field: Annotated[
        str, typer.Option("--region-name-field", help="Field naming the regions of --region-file.")
    ] = "name",
    extent: Annotated[
        str | None,
        typer.Option("--extent", help="LEFT,BOTTOM,RIGHT,TOP in metres of the grid CRS."),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option("--crs", help="Grid CRS, projected in metres.", show_default="hazard model"),
    ] = None,
    resolution: Annotated[
        float | None,
        typer.Option("--resolution", help="Cell size, metres.", show_default="hazard model"),
    ] = None,
    hazard_model: Annotated[
        Path | None,
        typer.Option("--hazard-model", help="Model coefficients (TOML).", show_default="embedded"),
    ] = None,
    params: opt.ParamsFile = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Ignore lines, zones and events after this date."),
    ] = None,
    probability: Annotated[
        Path | None,
        typer.Option(
            "--probability",
            help="Probability raster to write (float32, 0-1).",
            show_default="OUTPUT_probability.tif",
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Class areas per region as JSON (and Markdown beside it, .md).",
            show_default="OUTPUT_summary.json",
        ),
    ] = None,
    map_png: Annotated[
        Path | None,
        typer.Option("--map", help="Also draw a PNG map of the classes, lines and deposits."),
    ] = None,
    deposits: Annotated[
        Path | None,
        typer.Option("--deposits", help="Deposits drawn on the map.", show_default="embedded"),
    ] = None,
    date_field: Annotated[
        str, typer.Option("--date-field", help="Date field of lines, zones and events.")
    ] = "date",
    class_field: Annotated[
        str, typer.Option("--control-class-field", help="Class field of the control zones.")
    ] = "class",
    type_field: Annotated[
        str, typer.Option("--event-type-field", help="Type field of the events.")
    ] = "type",
    block_size: Annotated[
        int,
        typer.Option("--block-size", help="Processing block edge in cells (multiple of 256)."),
    ] = 1024,
    assume_crs: opt.AssumeCrs = None,
    verbose: opt.Verbose = 0,
    quiet: opt.Quiet = 0,
) -> None:
    """Build hazard-class and probability rasters from conflict data, block by block.

    Any combination of inputs works; every input needs its term in the hazard model.
    """
    import shapely

    from .. import hazard
    from .. import io as dio
    from ..pipeline import load_default_params

    setup_logging(verbose, quiet)
    probability = probability or _sibling(output, "_probability.tif")
    summary = summary or _sibling(output, "_summary.json")
    summary_md = summary.with_suffix(".md")
    check_output_paths(output=output, probability=probability, summary=summary, map=map_png)
    names = {output.resolve(), probability.resolve(), summary.resolve(), summary_md.resolve()}
    if len(names) < 4 or (map_png is not None and map_png.resolve() in names):
        raise typer.BadParameter("every output needs its own path", param_hint="--output")
    if block_size < 256 or block_size % 256:
        raise typer.BadParameter(f"{block_size}: use a multiple of 256", param_hint="--block-size")
    if resolution is not None and not resolution > 0:
        raise typer.BadParameter(f"{resolution}: must be > 0 metres", param_hint="--resolution")
    day: dt.date | None = parse_date(as_of, "--as-of")
    box = _parse_extent(extent)
    if box is None and region_file is None:
        raise typer.BadParameter(
            "give --region-file (the grid covers its polygons) or --extent", param_hint="--extent"
        )
    if not any((front_lines, contact_lines, trench_lines, control, events)):
        raise typer.BadParameter(
            "nothing to build from: give at least one of --front-lines, --contact-lines, "
            "--trench-lines, --control, --events",
            param_hint="--front-lines",
        )

    model = hazard.load_hazard_model(hazard_model or dio.default_data().hazard_model)
    p = load_default_params(params)
    values = model.class_raster_values({c.name: c.raster_value for c in p.classes}, str(p.source))
    grid_crs = crs or model.crs
    hazard.check_projected_crs(grid_crs, "--crs")
    cell = resolution or model.cell_size_m

    kw = {"crs": grid_crs, "assume_crs": assume_crs}
    regions = (
        hazard.read_regions(region_file, name_field=region_name_field, **kw)
        if region_file is not None
        else []
    )
    inputs = hazard.HazardInputs(
        aoi=shapely.union_all([g for _, g in regions]) if regions else None,
        front_lines=hazard.read_front_lines(front_lines, date_field=date_field, **kw)
        if front_lines
        else (),
        contact_lines=hazard.read_lines(contact_lines, option="--contact-lines", **kw)
        if contact_lines
        else (),
        trench_lines=hazard.read_lines(trench_lines, option="--trench-lines", **kw)
        if trench_lines
        else (),
        zones=hazard.read_control_zones(
            control, class_field=class_field, date_field=date_field, **kw
        )
        if control
        else (),
        events=hazard.EventTable.concat(
            [
                hazard.read_events(path, type_field=type_field, date_field=date_field, **kw)
                for path in events or []
            ]
        ),
    )
    bounds = box or shapely.bounds(inputs.aoi).tolist()
    grid = hazard.grid_for_bounds(bounds, cell_size_m=cell, crs=grid_crs)
    logger.info("grid: %d x %d cells of %g m in %s", grid.width, grid.height, cell, grid_crs)
    prepared = hazard.prepare_hazard(model, inputs, grid, class_values=values, as_of=day)
    result = with_progress(
        quiet,
        lambda progress: hazard.write_hazard_rasters(
            prepared,
            output,
            probability,
            regions=regions,
            block_size=block_size,
            progress=progress,
        ),
    )
    result.info["inputs"] = {
        "front_lines": str(front_lines) if front_lines else None,
        "contact_lines": str(contact_lines) if contact_lines else None,
        "trench_lines": str(trench_lines) if trench_lines else None,
        "control": str(control) if control else None,
        "events": [str(e) for e in events or []],
        "region_file": str(region_file) if region_file else None,
        "params": str(p.source),
    }
    hazard.write_summary(result, summary, summary_md)
    if map_png is not None:
        _draw_map(map_png, output, values, region_file, front_lines, contact_lines, deposits,
                  date_field=date_field, assume_crs=assume_crs,
                  name_field=region_name_field)  # fmt: skip
    err = err_console()
    if quiet == 0:
        err.print(f"wrote {output}, {probability}, {summary}, {summary_md}", markup=False)
        if map_png is not None:
            err.print(f"wrote {map_png}", markup=False)
    if quiet < 2:
        typer.echo(hazard.summary_markdown(result), nl=False)


def _draw_map(
    target: Path,
    class_path: Path,
    values: dict[str, int],
    region_file: Path | None,
    front_lines: Path | None,
    contact_lines: Path | None,
    deposits: Path | None,
    *,
    date_field: str,
    assume_crs: str | None,
    name_field: str,
) -> None:
    from .. import hazard
    from .. import io as dio

    wgs = "EPSG:4326"
    regions = (
        hazard.read_regions(region_file, crs=wgs, assume_crs=assume_crs, name_field=name_field)
        if region_file
        else []
    )
    lines = []
    if contact_lines is not None:
        geoms = hazard.read_lines(
            contact_lines, crs=wgs, assume_crs=assume_crs, option="--contact-lines"
        )
        lines.append(("contact lines", geoms, {"color": "#5a2d82", "linewidth": 1.4}))
    if front_lines is not None:
        dated = hazard.read_front_lines(front_lines, crs=wgs, date_field=date_field,
                                        assume_crs=assume_crs)  # fmt: skip
        last = max(d for d, _ in dated)
        lines.append(
            (f"front line {last}", [g for d, g in dated if d == last],
             {"color": "#1f3a93", "linewidth": 1.3})
        )  # fmt: skip
    gdf = dio.read_vector(deposits or dio.default_data().deposits, what="deposits",
                          option="--deposits", assume_crs=assume_crs).to_crs(wgs)  # fmt: skip
    cols = {str(c).lower(): c for c in gdf.columns}
    name_col = cols.get("name")
    points = [
        (str(gdf[name_col].iloc[k]) if name_col else str(k + 1), g.representative_point())
        for k, g in enumerate(gdf.geometry)
        if g is not None and not g.is_empty
    ]
    png = hazard.hazard_map_png(
        class_path,
        class_names={v: n for n, v in values.items()},
        regions=regions,
        lines=lines,
        points=points,
        title="demine contamination proxy (not a hazard map): hazard class",
    )
    dio.write_bytes(png, target)
