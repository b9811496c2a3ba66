"""The demine command: exit codes 0 / 2, one-line messages naming the option, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box
from typer.testing import CliRunner

from estimator.cli import app

from .conftest import DEFAULT_PARAMS

X0, Y0 = 6_000_000.0, 2_800_000.0

runner = CliRunner()


def _control_file(make_vector, filename: str, **fields):
    """Control zones over the east half of the test deposit (and beyond)."""
    return make_vector(
        [box(X0 + 500, Y0 - 2000, X0 + 2000, Y0 + 1000)],
        crs="EPSG:3035",
        filename=filename,
        **fields,
    )


@pytest.fixture
def files(make_raster, make_vector):
    arr = np.ones((10, 10), dtype="uint8")
    arr[:, 5:] = 3
    raster = make_raster(arr, Affine(100, 0, X0, 0, -100, Y0), name="h.tif")
    deposits = make_vector(
        [box(X0 + 200, Y0 - 800, X0 + 800, Y0 - 200)],
        crs="EPSG:3035",
        filename="d.gpkg",
        name=["Alpha"],
        commodity=["Li"],
    )
    regions = make_vector(
        [box(X0 - 1000, Y0 - 2000, X0 + 2000, Y0 + 1000)],
        crs="EPSG:3035",
        filename="r.gpkg",
        name=["Testland"],
    )
    control = _control_file(
        make_vector, "c.gpkg", date=["2026-08-22"], **{"class": ["russian_controlled"]}
    )
    return [
        "--deposits",
        str(deposits),
        "--contamination",
        str(raster),
        "--regions",
        str(regions),
        "--control",
        str(control),
    ]


def invoke(args):
    result = runner.invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_report_table_ok(files):
    code, out, err = invoke(["report", *files, "--buffer-m", "0"])
    assert code == 0, err
    assert "Testland" in out and "Alpha" in out and "Total (1)" in out
    assert "50% occupied" in out


def test_report_json_hand_checked(files):
    code, out, _ = invoke(["report", *files, "--buffer-m", "0", "--format", "json"])
    assert code == 0
    doc = json.loads(out)
    d = doc["deposits"][0]
    assert d["hazard_area_m2"]["low"] == pytest.approx(180_000, rel=1e-4)  # 300 m x 600 m
    assert d["hazard_area_m2"]["high"] == pytest.approx(180_000, rel=1e-4)
    assert d["occupied_share"] == pytest.approx(0.5, rel=1e-3)
    assert doc["regions"][0]["name"] == "Testland" and doc["demine"]["control_date"] == "2026-08-22"


def test_report_csv_markdown_and_files(files, tmp_path):
    code, out, _ = invoke(["report", *files, "--format", "csv"])
    assert code == 0 and out.splitlines()[0].startswith("id,name,commodity")
    md = tmp_path / "r.md"
    gj = tmp_path / "r.geojson"
    code, _, err = invoke(
        ["report", *files, "--format", "markdown", "-o", str(md), "--geojson", str(gj)]
    )
    assert code == 0, err
    assert md.read_text().startswith("# demine report")
    assert json.loads(gj.read_text())["features"][0]["properties"]["name"] == "Alpha"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            ["--deposits", "missing.gpkg"],
            "missing.gpkg: deposits file not found; check the path given to --deposits",
        ),
        (["--contamination", "nope.tif"], "nope.tif: contamination raster file not found"),
        (["--region", "Atlantis"], "--region 'Atlantis': no such region"),
        (["--buffer-m", "-5"], "--buffer-m = -5.0: must be 0-50000 (metres)"),
        (["--buffer-m", "1e9"], "--buffer-m = 1000000000.0: must be 0-50000 (metres)"),
        (["--seed", "-1"], "Invalid value for '--seed'"),
        (["--draws", "1000000"], "Invalid value for '--draws'"),
        (["--no-control", "--as-of", "2024-06-01"], "--no-control drops the control zones"),
        (["--format", "csv", "-o", "x.csv", "--regions-csv", "x.csv"], "is also given to"),
        (["--geojson", "out.gpkg"], "out.gpkg: name it *.geojson"),
        (["--teams", "manual=40,manual=10"], "'manual' is given twice"),
        (["--scheduler", "127.0.0.1:8786x"], "not an address like tcp://HOST:8786"),
        (["--as-of", "yesterday"], "'yesterday' is not a date"),
        (["--as-of", "1999-01-01"], "no control snapshot on or before 1999-01-01"),
        (["--band", "2"], "--band 2: the raster has 1 band(s)"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, extra, needle):
    code, out, err = invoke(["report", *files, *extra])
    assert code == 2, (out, err)
    assert needle in " ".join(err.split()), err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("demine: error: "), err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "--format", "xml"], "Invalid value for '--format'"),
        (["report", "--bogus"], "No such option: --bogus"),
        (["nonexistent"], "No such command 'nonexistent'"),
    ],
)
def test_option_errors_are_one_line_too(args, needle):
    # typer draws these in a box of five lines; demine prints them as its other errors
    code, out, err = invoke(args)
    assert code == 2, (out, err)
    assert err.startswith("demine: error: ") and needle in err, err
    assert "╭" not in err and "Traceback" not in err


def test_demine_alone_prints_the_help():
    code, out, err = invoke([])
    assert "Usage: demine" in out + err and "report" in out + err


def test_bad_params_exit_2(files, write_toml):
    path = write_toml("[methods.manual]\nproductivity_m2_per_team_dya = 3\n")
    code, _, err = invoke(["report", *files, "--params", str(path)])
    assert code == 2
    assert "did you mean 'productivity_m2_per_team_day'" in err
    assert len(err.strip().splitlines()) == 1


def test_unreadable_raster_exit_2(files, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    args = list(files)
    args[args.index("--contamination") + 1] = str(bad)
    code, _, err = invoke(["report", *args])
    assert code == 2 and "cannot read the raster" in err


def test_output_path_is_a_directory(files, tmp_path):
    code, _, err = invoke(["report", *files, "--geojson", str(tmp_path)])
    assert code == 2 and "is a directory" in err


def test_params_init_copies_defaults_byte_for_byte(tmp_path):
    target = tmp_path / "my.toml"
    code, _, _ = invoke(["params", "init", str(target)])
    assert code == 0 and target.read_bytes() == DEFAULT_PARAMS.read_bytes()
    code, _, err = invoke(["params", "init", str(target)])
    assert code == 2 and "--force" in err
    code, out, _ = invoke(["params", "check", str(target)])
    assert code == 0 and "no changes from the defaults" in out


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "estimator", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("demine ")


def _with_control(files, path):
    args = list(files)
    args[args.index("--control") + 1] = str(path)
    return args


@pytest.mark.parametrize("value", ["occupied_since_2014", " Occupied "])
def test_control_classes_of_the_proxy_builder_count_as_occupied(files, make_vector, value):
    # The report reads the same vocabulary as `demine hazard build` (estimator.control).
    control = _control_file(make_vector, "c2.gpkg", date=["2026-08-22"], **{"class": [value]})
    code, out, err = invoke(["report", *_with_control(files, control), "--buffer-m", "0"])
    assert code == 0, err
    assert "50% occupied" in out


def test_control_with_an_unknown_class_is_refused(files, make_vector):
    # A typo must not turn occupied ground into free ground silently.
    control = _control_file(
        make_vector, "c3.gpkg", date=["2026-08-22"], **{"class": ["Russian-controlled"]}
    )
    code, out, err = invoke(["report", *_with_control(files, control)])
    assert code == 2, (out, err)
    assert "field 'class' value 'Russian-controlled' is not a control class" in err
    assert len(err.strip().splitlines()) == 1


def test_control_without_a_class_field_is_refused(files, make_vector):
    # e.g. a regions file given to --control by mistake: every polygon counted as occupied
    control = _control_file(make_vector, "c4.gpkg", name=["Testland"])
    code, out, err = invoke(["report", *_with_control(files, control)])
    assert code == 2, (out, err)
    assert "--control: no field 'class' (fields: name)" in " ".join(err.split())


def test_deposit_outside_every_region_says_so(files, make_vector, tmp_path):
    far = make_vector(
        [box(X0 + 50_000, Y0 - 800, X0 + 50_600, Y0 - 200)],
        crs="EPSG:3035",
        filename="far.gpkg",
        name=["Faraway"],
    )
    args = list(files)
    args[args.index("--deposits") + 1] = str(far)
    code, out, err = invoke(["report", *args, "--buffer-m", "0", "--format", "json"])
    assert code == 0, err
    (dep,) = json.loads(out)["deposits"]
    assert dep["region"] == "(no region)"
    assert "outside every region of r.gpkg" in dep["reason"]


def test_priority_field_that_holds_text_names_the_deposit(files):
    code, out, err = invoke(["report", *files, "--priority", "name"])
    assert code == 2, (out, err)
    assert "--priority 'name': deposit 'Alpha' has 'Alpha', not a number" in " ".join(err.split())


def test_few_draws_are_flagged_in_the_caption(files):
    code, out, err = invoke(["report", *files, "--draws", "20"])
    assert code == 0, err
    assert "20 draws are too few for steady P10/P90" in " ".join(out.split())
    code, out, err = invoke(["report", *files, "--draws", "200"])
    assert "too few" not in out


def test_id_and_name_fields_can_be_chosen(files, make_vector):
    licences = make_vector(
        [box(X0 + 200, Y0 - 800, X0 + 800, Y0 - 200)],
        crs="EPSG:3035",
        filename="licences.gpkg",
        licence_no=["UA-0042"],
        deposit_nm=["Alpha field"],
    )
    args = list(files)
    args[args.index("--deposits") + 1] = str(licences)
    fields = ["--id-field", "LICENCE_NO", "--name-field", "deposit_nm"]
    code, out, err = invoke(["report", *args, *fields, "--format", "json"])
    assert code == 0, err
    (dep,) = json.loads(out)["deposits"]
    assert dep["id"] == "UA-0042" and dep["name"] == "Alpha field"
    code, out, err = invoke(["report", *args, "--name-field", "title"])
    assert code == 2
    assert "--name-field 'title': no such field; fields: licence_no, deposit_nm" in err


def test_teams_serve_reachable_ground_while_occupied_ground_waits(files, make_vector):
    # Alpha is half occupied, Beta free; Alpha comes first by --priority. With access only in
    # 2030, teams start on Beta at once rather than idling until Alpha can be reached.
    both = make_vector(
        [
            box(X0 + 200, Y0 - 800, X0 + 800, Y0 - 200),
            box(X0 - 900, Y0 - 1800, X0 - 300, Y0 - 1200),
        ],
        crs="EPSG:3035",
        filename="two.gpkg",
        name=["Alpha", "Beta"],
        prio=[1, 2],
    )
    args = list(files)
    args[args.index("--deposits") + 1] = str(both)
    dates = ["--start-date", "2027-01-01", "--access-date", "2030-01-01", "--draws", "1"]
    code, out, err = invoke(["report", *args, *dates, "--priority", "prio", "--format", "json"])
    assert code == 0, err
    by = {d["name"]: d for d in json.loads(out)["deposits"]}
    assert by["Alpha"]["control"] != "free" and by["Beta"]["control"] == "free"
    assert by["Beta"]["priority_rank"] == 1 and by["Alpha"]["priority_rank"] == 2
    assert by["Beta"]["extraction_ready_date"]["p50"] < "2030-01-01"
