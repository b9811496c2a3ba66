"""Run ``demine report`` on a corpus of third-party files and check the two-outcome rule.

Every input must end in a clean one-line error (exit 2) or a complete report with one row per
input feature; never a traceback, an internal error, a lost deposit or a partial output file.

The corpus is made of files nobody on the demine team wrote: test fixtures shipped inside
installed packages (pyogrio, geopandas, matplotlib, GDAL's data files), files of the Python and
QGIS installations when present, and the test data of source distributions. Get the latter with::

    mkdir -p /tmp/corpus_src && cd /tmp/corpus_src
    pip download --no-deps --no-binary :all: rasterstats geopandas
    # fiona's sdist needs Cython and GDAL_VERSION to build its metadata:
    GDAL_VERSION=3.9.0 pip download --no-deps --no-binary :all: --no-build-isolation fiona
    for f in *.tar.gz; do tar xzf "$f"; done

then run ``python tests/corpus_check.py --src /tmp/corpus_src``. Entries whose file is missing
are listed as skipped. Nothing is written inside the repository. Exit status: 0 when every
entry that ran holds the rule, 1 otherwise.

Not collected by pytest (the name does not start with ``test_``); ``tests/test_bad_inputs.py``
runs the fixtures that ship with the installed packages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

SITE = Path(sysconfig.get_paths()["purelib"])
PY_STDLIB = Path(sysconfig.get_paths()["stdlib"])
TOLERANCE = 1e-3  # sum(hazard) + unknown == footprint within 0.1 %


@dataclass
class Entry:
    """One corpus item: a third-party file given to one option of ``demine report``."""

    label: str
    path: str  # "{site}/...", "{src}/...", "{stdlib}/..." or absolute
    role: str  # deposits, contamination, params, regions, control
    extra: list[str] = field(default_factory=list)
    with_deposits: str | None = None  # for contamination entries: deposits to overlay
    expect: str = "any"  # "error", "report" or "any": what a correct demine does


PYOGRIO = "{site}/pyogrio/tests/fixtures"
RS = "{src}/rasterstats-0.21.0/tests/data"
FI = "{src}/fiona-1.10.1/tests/data"

CORPUS: list[Entry] = [
    # --- vectors as deposits -----------------------------------------------------------------
    Entry("pyogrio curve.gpkg (compound curves)", f"{PYOGRIO}/curve.gpkg", "deposits"),
    Entry("pyogrio curvepolygon.gpkg", f"{PYOGRIO}/curvepolygon.gpkg", "deposits"),
    Entry("pyogrio multisurface.gpkg", f"{PYOGRIO}/multisurface.gpkg", "deposits"),
    Entry("pyogrio line_zm.gpkg (3D+M lines)", f"{PYOGRIO}/line_zm.gpkg", "deposits"),
    Entry("pyogrio test_gpkg_nulls.gpkg", f"{PYOGRIO}/test_gpkg_nulls.gpkg", "deposits"),
    Entry(
        "pyogrio naturalearth_lowres.shp (world, antimeridian)",
        f"{PYOGRIO}/naturalearth_lowres/naturalearth_lowres.shp",
        "deposits",
    ),
    Entry("pyogrio sample.osm.pbf (OSM, 5 layers)", f"{PYOGRIO}/sample.osm.pbf", "deposits"),
    Entry(
        "pyogrio list_field_values_file.parquet",
        f"{PYOGRIO}/list_field_values_file.parquet",
        "deposits",
    ),
    Entry(
        "geopandas null_geom.geojson", "{site}/geopandas/tests/data/null_geom.geojson", "deposits"
    ),
    Entry("fiona coutwildrnp.shp (Colorado)", f"{FI}/coutwildrnp.shp", "deposits"),
    Entry("fiona coutwildrnp.zip (zipped shapefile)", f"{FI}/coutwildrnp.zip", "deposits"),
    Entry("fiona gre.shp (Grenada)", f"{FI}/gre.shp", "deposits"),
    Entry("fiona !test.geojson (odd name)", f"{FI}/!test.geojson", "deposits"),
    Entry("fiona collection.txt (GeoJSON in .txt)", f"{FI}/collection.txt", "deposits"),
    Entry("fiona sequence-pp.txt (GeoJSON sequence)", f"{FI}/sequence-pp.txt", "deposits"),
    Entry("fiona curves_line.csv (WKT curves, no CRS)", f"{FI}/curves_line.csv", "deposits"),
    Entry("fiona example.topojson", f"{FI}/example.topojson", "deposits"),
    Entry("fiona issue627.geojson", f"{FI}/issue627.geojson", "deposits"),
    Entry("fiona multicurve.gml (no CRS)", f"{FI}/multicurve.gml", "deposits"),
    Entry("fiona test_gpx.gpx (5 layers)", f"{FI}/test_gpx.gpx", "deposits"),
    Entry("fiona test_tin.shp (TIN, no CRS)", f"{FI}/test_tin.shp", "deposits"),
    Entry(
        "fiona test_tin.shp + --assume-crs",
        f"{FI}/test_tin.shp",
        "deposits",
        ["--assume-crs", "EPSG:4326"],
    ),
    Entry("fiona test_tin.csv (WKT TIN)", f"{FI}/test_tin.csv", "deposits"),
    Entry("fiona test_tz.geojson (a point)", f"{FI}/test_tz.geojson", "deposits"),
    Entry(
        "fiona test_tz.geojson + --point-radius-m",
        f"{FI}/test_tz.geojson",
        "deposits",
        ["--point-radius-m", "500"],
    ),
    Entry("fiona testopenfilegdb.gdb.zip (37 layers)", f"{FI}/testopenfilegdb.gdb.zip", "deposits"),
    Entry("fiona trio.geojson (geometry collection)", f"{FI}/trio.geojson", "deposits"),
    Entry("fiona LICENSE.txt (not a vector)", f"{FI}/LICENSE.txt", "deposits", expect="error"),
    Entry("rasterstats lines.shp", f"{RS}/lines.shp", "deposits"),
    Entry("rasterstats multipoints.shp", f"{RS}/multipoints.shp", "deposits"),
    Entry("rasterstats points_noproj.shp (no .prj)", f"{RS}/points_noproj.shp", "deposits"),
    Entry("rasterstats geometry.geojson (bare geometry)", f"{RS}/geometry.geojson", "deposits"),
    Entry("rasterstats feature.geojson (bare feature)", f"{RS}/feature.geojson", "deposits"),
    Entry("QGIS world_map.gpkg", "/usr/share/qgis/resources/data/world_map.gpkg", "deposits"),
    Entry(
        "QGIS processing points.gml",
        "/usr/share/qgis/python/plugins/processing/tests/testdata/points.gml",
        "deposits",
    ),
    Entry(
        "matplotlib grace_hopper.jpg as deposits",
        "{site}/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "deposits",
        expect="error",
    ),
    Entry(
        "GDAL data gdalinfo_output.schema.json",
        "{site}/rasterio/gdal_data/gdalinfo_output.schema.json",
        "deposits",
        expect="error",
    ),
    # --- rasters as contamination -----------------------------------------------------------
    Entry("rasterstats slope.tif (float, California)", f"{RS}/slope.tif", "contamination"),
    Entry(
        "rasterstats slope.tif under its polygons",
        f"{RS}/slope.tif",
        "contamination",
        with_deposits=f"{RS}/polygons.shp",
        expect="error",
    ),
    Entry(
        "rasterstats slope_classes.tif under polygons_partial_overlap",
        f"{RS}/slope_classes.tif",
        "contamination",
        with_deposits=f"{RS}/polygons_partial_overlap.shp",
    ),
    Entry(
        "rasterstats all_nodata.tif under polygons",
        f"{RS}/all_nodata.tif",
        "contamination",
        with_deposits=f"{RS}/polygons.shp",
        expect="report",
    ),
    Entry(
        "rasterstats dataset_mask.tif under polygons_no_overlap",
        f"{RS}/dataset_mask.tif",
        "contamination",
        with_deposits=f"{RS}/polygons_no_overlap.shp",
    ),
    Entry(
        "rasterstats slope_nodata.tif under multipolygons",
        f"{RS}/slope_nodata.tif",
        "contamination",
        with_deposits=f"{RS}/multipolygons.shp",
    ),
    Entry(
        "matplotlib grace_hopper.jpg (no CRS, 3 bands)",
        "{site}/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "contamination",
        expect="error",
    ),
    Entry(
        "matplotlib logo2.png", "{site}/matplotlib/mpl-data/sample_data/logo2.png", "contamination"
    ),
    Entry(
        "CPython imghdr python.tiff (4 bands, no CRS)",
        "{stdlib}/test/imghdrdata/python.tiff",
        "contamination",
        expect="error",
    ),
    Entry(
        "scipy example_1.nc (netCDF, no raster band)",
        "/usr/lib/python3/dist-packages/scipy/io/tests/data/example_1.nc",
        "contamination",
        expect="error",
    ),
    Entry(
        "naturalearth shapefile as raster",
        f"{PYOGRIO}/naturalearth_lowres/naturalearth_lowres.shp",
        "contamination",
        expect="error",
    ),
    Entry("GDAL data gdalicon.png", "{site}/rasterio/gdal_data/gdalicon.png", "contamination"),
    # --- parameter files ----------------------------------------------------------------------
    Entry(
        "pandas pyproject.toml as params", "{site}/pandas/pyproject.toml", "params", expect="error"
    ),
    Entry("geopandas pyproject.toml as params", "{src}/geopandas-1.2.0/pyproject.toml", "params"),
    Entry(
        "rasterstats pyproject.toml as params", "{src}/rasterstats-0.21.0/pyproject.toml", "params"
    ),
    Entry("pyvenv.cfg (INI) as params", "{site}/../../../pyvenv.cfg", "params", expect="error"),
    Entry("GDAL eedaconf.json as params", "{site}/rasterio/gdal_data/eedaconf.json", "params"),
    Entry(
        "geopandas null_geom.geojson as params",
        "{site}/geopandas/tests/data/null_geom.geojson",
        "params",
    ),
    # --- regions and control ----------------------------------------------------------------
    Entry(
        "naturalearth_lowres.shp as regions",
        f"{PYOGRIO}/naturalearth_lowres/naturalearth_lowres.shp",
        "regions",
        expect="report",
    ),
    Entry("fiona coutwildrnp.shp as regions", f"{FI}/coutwildrnp.shp", "regions"),
    Entry("rasterstats polygons.shp as regions (no name)", f"{RS}/polygons.shp", "regions"),
    Entry("fiona test_tz.geojson as control", f"{FI}/test_tz.geojson", "control"),
    Entry("fiona rmnp.geojson as control", f"{FI}/rmnp.geojson", "control"),
]


@dataclass
class Outcome:
    """What happened when ``demine report`` ran on one entry."""

    entry: Entry
    path: Path | None
    skipped: str = ""
    exit_code: int | None = None
    traceback: bool = False
    rows: int | None = None
    features: int | None = None
    message: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        if self.skipped:
            return "skipped"
        if self.problems:
            return "FAIL"
        return "error" if self.exit_code == 2 else "report"


def _resolve(template: str, src: Path) -> Path:
    return Path(template.format(site=SITE, src=src, stdlib=PY_STDLIB)).resolve()


def _feature_count(path: Path) -> int | None:
    """Features of the first layer, as GDAL sees them (``None`` when GDAL cannot read it)."""
    import warnings

    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # pyogrio reads "a!b" as member b of archive a; bytes avoid that.
            src = path.read_bytes() if "!" in path.name else path
            n = pyogrio.read_info(src)["features"]
            if n < 0:
                n = len(pyogrio.read_dataframe(src, read_geometry=False))
            return int(n)
        except Exception:  # noqa: BLE001 - unreadable: demine must say so itself
            return None


def run_entry(entry: Entry, src: Path, timeout: float) -> Outcome:
    """Run ``demine report`` on one entry and judge the outcome."""
    path = _resolve(entry.path, src)
    out = Outcome(entry, path)
    if not path.exists():
        out.skipped = "file not present"
        return out
    with tempfile.TemporaryDirectory(prefix="demine-corpus-") as tmp:
        geojson = Path(tmp) / "out.geojson"
        args = [
            sys.executable,
            "-m",
            "estimator",
            "report",
            "--format",
            "json",
            "-q",
            "--geojson",
            str(geojson),
        ]
        if entry.role == "contamination" and entry.with_deposits:
            deposits = _resolve(entry.with_deposits, src)
            if not deposits.exists():
                out.skipped = "companion deposits not present"
                return out
            args += ["--deposits", str(deposits), "--no-control"]
            out.features = _feature_count(deposits)
        elif entry.role == "deposits":
            out.features = _feature_count(path)
        else:  # the embedded deposits
            from estimator.io import default_data

            out.features = _feature_count(default_data().deposits)
        args += [f"--{entry.role}", str(path), *entry.extra]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            out.problems.append(f"timed out after {timeout:g} s")
            return out
        out.seconds = time.perf_counter() - t0
        out.exit_code = proc.returncode
        err = proc.stderr.strip()
        out.traceback = "Traceback" in proc.stderr or "Traceback" in proc.stdout
        leftovers = [p.name for p in Path(tmp).iterdir() if p.name != "out.geojson"]
        if leftovers:
            out.problems.append(f"files left behind: {leftovers}")
        if out.traceback:
            out.problems.append("traceback")
        if proc.returncode == 2:
            lines = err.splitlines()
            out.message = lines[0] if lines else ""
            if len(lines) != 1:
                out.problems.append(f"error message has {len(lines)} lines")
            if geojson.exists():
                out.problems.append("output written despite the error")
            if entry.expect == "report":
                out.problems.append("expected a report")
        elif proc.returncode == 0:
            if entry.expect == "error":
                out.problems.append("expected an error")
            try:
                doc = json.loads(proc.stdout)
                feats = json.loads(geojson.read_text())["features"]
            except (ValueError, OSError) as exc:
                out.problems.append(f"output not complete JSON: {exc}")
                return out
            rows = doc["deposits"]
            out.rows = len(rows)
            if len(feats) != len(rows):
                out.problems.append(f"GeoJSON has {len(feats)} features for {len(rows)} rows")
            if out.features is not None and out.rows != out.features:
                out.problems.append(f"{out.rows} rows for {out.features} features")
            for d in rows:
                out.statuses[d["status"]] = out.statuses.get(d["status"], 0) + 1
                if d["status"] == "invalid":
                    if not d["reason"]:
                        out.problems.append(f"invalid row {d['id']!r} without a reason")
                    continue
                total = sum(d["hazard_area_m2"].values()) + d["unknown_area_m2"]
                fp = d["footprint_area_m2"]
                # Beyond 0.1 % only for footprints reaching past the raster, and only if the
                # row says so (the pipeline's own accounting check writes that note).
                if (
                    abs(total - fp) > max(TOLERANCE * fp, 1.0)
                    and "areas add up to" not in d["reason"]
                ):
                    out.problems.append(
                        f"row {d['id']!r}: classes + unknown {total:.6g} != {fp:.6g}"
                    )
            out.message = err.splitlines()[0] if err else ""
        else:
            out.message = err.splitlines()[-1] if err else ""
            out.problems.append(f"exit code {proc.returncode}")
    return out


def _table(outcomes: list[Outcome]) -> str:
    head = (
        "| # | file (third-party) | role | outcome | exit | traceback | rows == features | detail |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for i, o in enumerate(outcomes, 1):
        if o.skipped:
            lines.append(
                f"| {i} | {o.entry.label} | {o.entry.role} | skipped | | | | {o.skipped} |"
            )
            continue
        if o.exit_code == 0:
            match = (
                "n/a"
                if o.features is None
                else f"{o.rows} == {o.features}"
                if o.rows == o.features
                else f"{o.rows} != {o.features}"
            )
            detail = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()))
        else:
            match = "n/a"
            detail = o.message
        if o.problems:
            detail = "; ".join(o.problems) + " -- " + detail
        detail = detail.replace("|", "\\|")
        if len(detail) > 230:
            detail = detail[:227] + "..."
        tb = "yes" if o.traceback else "no"
        lines.append(
            f"| {i} | {o.entry.label} | {o.entry.role} | {o.kind} | {o.exit_code} | {tb} | {match} | {detail} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--src", type=Path, default=Path(os.environ.get("DEMINE_CORPUS_SRC", "/tmp/corpus_src"))
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--only", help="run entries whose label contains this text")
    args = parser.parse_args(argv)
    entries = [e for e in CORPUS if not args.only or args.only.lower() in e.label.lower()]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda e: run_entry(e, args.src, args.timeout), entries))
    print(_table(outcomes))
    ran = [o for o in outcomes if not o.skipped]
    failed = [o for o in ran if o.problems]
    kinds = {k: sum(o.kind == k for o in ran) for k in ("error", "report", "FAIL")}
    print(
        f"\n{len(ran)} ran ({kinds['error']} clean errors, {kinds['report']} complete reports, "
        f"{kinds['FAIL']} failures), {len(outcomes) - len(ran)} skipped; "
        f"tracebacks: {sum(o.traceback for o in ran)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
