"""Headless QGIS check: the GeoPackage's three layers open valid, with their fields and styles.

Under pytest, the test builds a GeoPackage from a small scene and runs this file as a script
under a Python that has QGIS's ``qgis.core``: this interpreter if it has it, else
``$DEMINE_QGIS_PYTHON``, else ``/usr/bin/python3`` (Debian's ``python3-qgis``). When none has
QGIS, the test is skipped: CI does not install QGIS.

By hand, on any GeoPackage written by ``demine report --gpkg``::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/test_qgis_styles.py out.gpkg [map.png]

The script prints one JSON line per layer and exits 1 if a check fails; with a PNG path it also
renders the three styled layers to that image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXPECTED = {
    # layer: (renderer type, fields that must be there, labels expected)
    "deposits": (
        "graduatedSymbol",
        ["id", "name", "status", "cost_usd_p50", "footprint_area_m2"],
        True,
    ),
    "regions": ("singleSymbol", ["name", "deposit_count", "cost_usd_p50"], True),
    "hazard_in_footprints": (
        "categorizedSymbol",
        ["deposit_id", "class", "area_m2", "release_stage"],
        False,
    ),
}


def _qgis_check(gpkg: str, fields_json: str | None = None, png: str | None = None) -> int:
    """Load the layers in QGIS and check them (runs under a Python with ``qgis.core``)."""
    from qgis.core import (
        QgsApplication,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsProject,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize

    app = QgsApplication([], False)
    app.initQgis()
    want_fields = json.loads(Path(fields_json).read_text()) if fields_json else {}
    ok = True
    layers = []
    for name, (renderer, required, labels) in EXPECTED.items():
        layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
        fields = [f.name() for f in layer.fields()] if layer.isValid() else []
        rtype = layer.renderer().type() if layer.isValid() and layer.renderer() else None
        n_classes = None
        if rtype == "graduatedSymbol":
            n_classes = len(layer.renderer().ranges())
        elif rtype == "categorizedSymbol":
            n_classes = len(layer.renderer().categories())
        expected_fields = ["fid", *want_fields.get(name, [])] if want_fields else None
        checks = {
            "valid": layer.isValid(),
            "renderer": rtype == renderer,
            "required_fields": all(f in fields for f in required),
            "all_fields": expected_fields is None or fields == expected_fields,
            "labels": layer.labelsEnabled() == labels if layer.isValid() else False,
            "classes": n_classes is None or n_classes > 0,
            "features": layer.featureCount() > 0 if layer.isValid() else False,
        }
        ok &= all(checks.values())
        print(
            json.dumps(
                {
                    "layer": name,
                    "renderer": rtype,
                    "classes": n_classes,
                    "fields": len(fields),
                    "features": layer.featureCount() if layer.isValid() else None,
                    "checks": checks,
                }
            )
        )
        layers.append(layer)
    if png and all(layer.isValid() for layer in layers):
        for layer in layers:
            QgsProject.instance().addMapLayer(layer)
        settings = QgsMapSettings()
        settings.setLayers([layers[1], layers[0], layers[2]])  # regions on top
        settings.setDestinationCrs(layers[1].crs())
        settings.setExtent(layers[1].extent())
        settings.setOutputSize(QSize(1200, 1200))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        job.renderedImage().save(png, "PNG")
    # Layers must go before QGIS does, or the interpreter crashes on exit.
    QgsProject.instance().removeAllMapLayers()
    layers.clear()
    del layer
    sys.stdout.flush()
    app.exitQgis()
    return 0 if ok else 1


def _qgis_python() -> str | None:
    candidates = [sys.executable, os.environ.get("DEMINE_QGIS_PYTHON"), "/usr/bin/python3"]
    for py in candidates:
        if not py or not Path(py).exists():
            continue
        probe = subprocess.run(
            [py, "-c", "import qgis.core"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return py
    return None


def test_gpkg_opens_styled_in_qgis(tmp_path, make_raster, make_vector):
    import pyogrio
    import pytest

    py = _qgis_python()
    if py is None:
        pytest.skip(
            "QGIS (qgis.core) is not installed; the layer_styles schema is checked in test_outputs"
        )
    from .test_outputs import scene_report_and_gpkg

    gpkg = scene_report_and_gpkg(tmp_path, make_raster, make_vector)
    fields = {name: list(pyogrio.read_info(gpkg, layer=name)["fields"]) for name in EXPECTED}
    fields_json = tmp_path / "fields.json"
    fields_json.write_text(json.dumps(fields))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [py, __file__, str(gpkg), "--fields", str(fields_json)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    reports = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert {r["layer"] for r in reports} == set(EXPECTED)
    assert all(all(r["checks"].values()) for r in reports), out.stdout


if __name__ == "__main__":
    args = sys.argv[1:]
    fields_path = None
    if "--fields" in args:
        i = args.index("--fields")
        fields_path = args[i + 1]
        del args[i : i + 2]
    if not args:
        sys.exit(__doc__)
    sys.exit(_qgis_check(args[0], fields_path, args[1] if len(args) > 1 else None))
