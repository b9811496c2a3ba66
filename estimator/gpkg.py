"""Results -> GeoPackage layers, styled for QGIS.

Three layers and a style table:

* ``deposits``: footprints with every result property (as in the GeoJSON);
* ``regions``: region polygons with their totals;
* ``hazard_in_footprints``: the clearance-task polygons (:mod:`estimator.taskpolygons`);
* ``layer_styles``: QGIS's style table, one default style per layer (QML, plus SLD for other
  clients), so the layers open styled in QGIS: deposits graduated by P50 cost, hazard polygons
  categorised by class, regions as labelled outlines.

This module builds the tables; :func:`estimator.io.write_gpkg` writes them (atomically).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from .symbology import (
    REGION_COLOUR,
    class_colours,
    cost_breaks,
    cost_colours,
    cost_label,
    hex_to_rgb,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from .pipeline import Report
    from .taskpolygons import TaskPolygon

__all__ = [
    "GEOMETRY_COLUMN",
    "LAYER_STYLES_COLUMNS",
    "build_layers",
    "layer_styles",
    "write_report_gpkg",
]

#: Geometry column name GDAL gives GeoPackage layers (``f_geometry_column`` of the styles).
GEOMETRY_COLUMN = "geom"
#: Columns of QGIS's ``layer_styles`` table, in QGIS's order (the table's key is ``id``).
LAYER_STYLES_COLUMNS = (
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
)
_QGIS_VERSION = "3.22.0-Białowieża"
_NUMERIC_NAME = re.compile(
    r"(_m2|_usd|_days|_ha|_share|_items|_accidents|_per_ha)(_[a-z]+)?(_(p10|p50|p90|mean|mode))?$"
    r"|_(p10|p50|p90|mean)$|^prob_any_(item|hazard_low|hazard_high)$"
)


# --------------------------------------------------------------------------------------------
# Layers


def _frame(rows: list[dict[str, Any]], geoms: Sequence[shapely.Geometry | None]):
    """Rows of properties -> GeoDataFrame (EPSG:4326), with stable column types.

    A column that is null in every row keeps the type its name implies (numbers for names with
    units, text otherwise), so the schema does not depend on the data. ISO dates are stored as
    dates (DATETIME at midnight).
    """
    import geopandas as gpd
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in df.columns:
        s = df[col]
        if s.isna().all():
            if _NUMERIC_NAME.search(col) and "date" not in col:
                df[col] = s.astype("float64")
            else:
                df[col] = s.astype("object")
        elif s.dtype == object:
            vals = s.dropna()
            if len(vals) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in vals
            ):
                ints = all(isinstance(v, int) for v in vals)
                df[col] = s.astype("Int64" if ints else "float64")
        elif s.dtype == "float64" and col.endswith(("_rank", "_count", "raster_value")):
            df[col] = s.astype("Int64")
        if "date" in col and (df[col].dtype == object or pd.api.types.is_string_dtype(df[col])):
            # ISO dates as the GeoPackage's DATETIME (midnight), so QGIS filters them as dates
            # (a date is text to GDAL otherwise).
            # (millisecond resolution: the schedule reaches past pandas' nanosecond range, 2262)
            try:
                values = np.array(
                    [None if pd.isna(v) else v for v in df[col].tolist()], dtype="datetime64[ms]"
                )
            except (TypeError, ValueError):  # not ISO dates after all: kept as text
                continue
            df[col] = pd.Series(values, index=df.index)
    oriented = [
        None if g is None or g.is_empty else shapely.orient_polygons(g, exterior_cw=False)
        for g in geoms
    ]
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(oriented, crs="EPSG:4326"))


def build_layers(report: Report, tasks: list[TaskPolygon]) -> dict[str, gpd.GeoDataFrame]:
    """Build the ``deposits``, ``regions`` and ``hazard_in_footprints`` layers.

    Parameters
    ----------
    report : Report
        A computed report.
    tasks : list of TaskPolygon
        Its clearance-task polygons (:func:`estimator.taskpolygons.build_task_polygons`).

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        Layers in EPSG:4326, named as in the GeoPackage. Every deposit has a row (a null
        geometry where it could not be assessed).
    """
    from .report import deposit_properties, region_properties
    from .taskpolygons import TaskPolygon, task_properties

    deposits = _frame(
        [deposit_properties(report, d) for d in report.deposits], list(report.footprints)
    )
    regions = _frame(
        [region_properties(report, r) for r in report.regions],
        [report.region_geometries.get(r.name) for r in report.regions],
    )
    rows = [task_properties(report, t) for t in tasks]
    hazard = _frame(rows, [t.geometry for t in tasks])
    if not rows and report.deposits:
        # No task polygon (no deposit could be located): keep the layer's schema.
        c = report.params.classes[0]
        blank = TaskPolygon(0, c.name, c.name, 0.0, shapely.MultiPolygon())
        hazard = _frame([task_properties(report, blank)], [None]).iloc[0:0]
    return {"deposits": deposits, "regions": regions, "hazard_in_footprints": hazard}


# --------------------------------------------------------------------------------------------
# QGIS styles (QML) and SLD


def _rgba(colour: str, alpha: int = 255) -> str:
    r, g, b = hex_to_rgb(colour)
    return f"{r},{g},{b},{alpha}"


def _darker(colour: str, factor: float = 0.6) -> str:
    r, g, b = (round(c * factor) for c in hex_to_rgb(colour))
    return f"#{r:02x}{g:02x}{b:02x}"


def _data_defined(parent: ET.Element) -> None:
    ddp = ET.SubElement(parent, "data_defined_properties")
    opt = ET.SubElement(ddp, "Option", type="Map")
    ET.SubElement(opt, "Option", name="name", type="QString", value="")
    ET.SubElement(opt, "Option", name="properties")
    ET.SubElement(opt, "Option", name="type", type="QString", value="collection")


def _fill_symbol(
    name: str,
    fill: str | None,
    outline: str,
    outline_width_mm: float,
    *,
    fill_alpha: int = 255,
) -> ET.Element:
    """Build a QGIS fill symbol (SimpleFill), as an Option map and as legacy props."""
    sym = ET.Element("symbol", alpha="1", clip_to_extent="1", force_rhr="0", name=name, type="fill")
    _data_defined(sym)
    layer = ET.SubElement(
        sym, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"}
    )
    props = {
        "border_width_map_unit_scale": "3x:0,0,0,0,0,0",
        "color": _rgba(fill, fill_alpha) if fill else "0,0,0,0",
        "joinstyle": "bevel",
        "offset": "0,0",
        "offset_map_unit_scale": "3x:0,0,0,0,0,0",
        "offset_unit": "MM",
        "outline_color": _rgba(outline),
        "outline_style": "solid" if outline_width_mm > 0 else "no",
        "outline_width": f"{outline_width_mm:g}",
        "outline_width_unit": "MM",
        "style": "solid" if fill else "no",
    }
    opt = ET.SubElement(layer, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opt, "Option", name=k, type="QString", value=v)
    for k, v in props.items():
        ET.SubElement(layer, "prop", k=k, v=v)
    _data_defined(layer)
    return sym


def _qgis_root(labels: bool) -> ET.Element:
    return ET.Element(
        "qgis",
        {
            "version": _QGIS_VERSION,
            "styleCategories": "Symbology|Labeling",
            "labelsEnabled": "1" if labels else "0",
        },
    )


def _labeling(root: ET.Element, field: str, size_pt: float, bold: bool) -> None:
    lab = ET.SubElement(root, "labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    style = ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": field,
            "isExpression": "0",
            "fontSize": f"{size_pt:g}",
            "fontSizeUnit": "Point",
            "fontWeight": "75" if bold else "50",
            "namedStyle": "Bold" if bold else "Regular",
            "textColor": "40,40,40,255",
            "textOpacity": "1",
        },
    )
    ET.SubElement(
        style,
        "text-buffer",
        {
            "bufferDraw": "1",
            "bufferSize": "0.8",
            "bufferSizeUnits": "MM",
            "bufferColor": "255,255,255,255",
            "bufferOpacity": "0.9",
            "bufferNoFill": "1",
        },
    )
    ET.SubElement(settings, "placement", {"placement": "1", "priority": "5"})
    ET.SubElement(settings, "rendering", {"obstacle": "1", "scaleVisibility": "0"})


def _tail(renderer: ET.Element, root: ET.Element) -> None:
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = "1"


def _qml_text(root: ET.Element) -> str:
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )


def _graduated_qml(
    attr: str, breaks: list[float], colours: list[str], labels: list[str], label_field: str
) -> str:
    root = _qgis_root(labels=True)
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": "graduatedSymbol",
            "attr": attr,
            "graduatedMethod": "GraduatedColor",
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    for i, colour in enumerate(colours):
        ET.SubElement(
            ranges,
            "range",
            lower=repr(breaks[i]),
            upper=repr(breaks[i + 1]),
            symbol=str(i),
            label=labels[i],
            render="true",
        )
        symbols.append(_fill_symbol(str(i), colour, colour, 0.8, fill_alpha=70))
    source = ET.SubElement(renderer, "source-symbol")
    source.append(_fill_symbol("0", colours[0] if colours else "#888888", "#232323", 0.6))
    method = ET.SubElement(renderer, "classificationMethod", id="Custom")
    ET.SubElement(method, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
    ET.SubElement(
        method, "labelFormat", format="%1 - %2", labelprecision="0", trimtrailingzeroes="1"
    )
    ET.SubElement(ET.SubElement(method, "parameters"), "Option")
    ET.SubElement(method, "extraInformation")
    _tail(renderer, root)
    _labeling(root, label_field, 9, bold=False)
    return _qml_text(root)


def _categorized_qml(attr: str, categories: list[tuple[str, str, str]]) -> str:
    root = _qgis_root(labels=False)
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": "categorizedSymbol",
            "attr": attr,
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, (value, label, colour) in enumerate(categories):
        ET.SubElement(cats, "category", value=value, label=label, symbol=str(i), render="true")
        symbols.append(_fill_symbol(str(i), colour, _darker(colour, 0.75), 0.15))
    source = ET.SubElement(renderer, "source-symbol")
    source.append(_fill_symbol("0", "#bdbdbd", "#232323", 0.15))
    _tail(renderer, root)
    return _qml_text(root)


def _outline_qml(label_field: str) -> str:
    root = _qgis_root(labels=True)
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": "singleSymbol",
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    symbols = ET.SubElement(renderer, "symbols")
    symbols.append(_fill_symbol("0", None, REGION_COLOUR, 0.7))
    _tail(renderer, root)
    _labeling(root, label_field, 12, bold=True)
    return _qml_text(root)


_SLD = "http://www.opengis.net/sld"
_SE = "http://www.opengis.net/se"
_OGC = "http://www.opengis.net/ogc"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
for _prefix, _uri in (("", _SLD), ("se", _SE), ("ogc", _OGC), ("xsi", _XSI)):
    ET.register_namespace(_prefix, _uri)


def _sld(layer: str, rules: list[tuple[str, ET.Element | None, str | None, str, float]]) -> str:
    """SLD 1.1 with one rule per (title, filter, fill colour, stroke colour, stroke width px)."""
    root = ET.Element(
        f"{{{_SLD}}}StyledLayerDescriptor",
        {
            "version": "1.1.0",
            f"{{{_XSI}}}schemaLocation": (
                "http://www.opengis.net/sld "
                "http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"
            ),
        },
    )
    named = ET.SubElement(root, f"{{{_SLD}}}NamedLayer")
    ET.SubElement(named, f"{{{_SE}}}Name").text = layer
    user = ET.SubElement(named, f"{{{_SLD}}}UserStyle")
    ET.SubElement(user, f"{{{_SE}}}Name").text = layer
    fts = ET.SubElement(user, f"{{{_SE}}}FeatureTypeStyle")
    for title, flt, fill, stroke, width in rules:
        rule = ET.SubElement(fts, f"{{{_SE}}}Rule")
        ET.SubElement(rule, f"{{{_SE}}}Name").text = title
        desc = ET.SubElement(rule, f"{{{_SE}}}Description")
        ET.SubElement(desc, f"{{{_SE}}}Title").text = title
        if flt is not None:
            rule.append(flt)
        sym = ET.SubElement(rule, f"{{{_SE}}}PolygonSymbolizer")
        if fill:
            f = ET.SubElement(sym, f"{{{_SE}}}Fill")
            ET.SubElement(f, f"{{{_SE}}}SvgParameter", name="fill").text = fill
        s = ET.SubElement(sym, f"{{{_SE}}}Stroke")
        ET.SubElement(s, f"{{{_SE}}}SvgParameter", name="stroke").text = stroke
        ET.SubElement(s, f"{{{_SE}}}SvgParameter", name="stroke-width").text = f"{width:g}"
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _cmp(op: str, attr: str, value: str) -> ET.Element:
    e = ET.Element(f"{{{_OGC}}}{op}")
    ET.SubElement(e, f"{{{_OGC}}}PropertyName").text = attr
    ET.SubElement(e, f"{{{_OGC}}}Literal").text = value
    return e


def _filter(*conditions: ET.Element) -> ET.Element:
    flt = ET.Element(f"{{{_OGC}}}Filter")
    if len(conditions) == 1:
        flt.append(conditions[0])
    else:
        both = ET.SubElement(flt, f"{{{_OGC}}}And")
        both.extend(conditions)
    return flt


def layer_styles(report: Report, layers: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """Build QGIS's ``layer_styles`` table: one default style per layer.

    Parameters
    ----------
    report : Report
        The report (class colours and names come from its parameters).
    layers : dict of str to geopandas.GeoDataFrame
        The layers from :func:`build_layers` (the cost breaks come from the deposits' P50 cost).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LAYER_STYLES_COLUMNS`; ``useAsDefault`` is true, so QGIS applies each
        style when the layer is loaded.
    """
    import pandas as pd

    costs = layers["deposits"]["cost_usd_p50"].tolist() if len(layers["deposits"]) else []
    breaks = cost_breaks(c for c in costs if c is not None and not math.isnan(c))
    if not breaks:
        breaks = [0.0, 1.0]
    colours = cost_colours(len(breaks) - 1)
    labels = [cost_label(breaks[i], breaks[i + 1]) for i in range(len(breaks) - 1)]
    dep_qml = _graduated_qml("cost_usd_p50", breaks, colours, labels, "name")
    dep_rules = []
    for i, colour in enumerate(colours):
        last = i == len(colours) - 1
        dep_rules.append(
            (
                labels[i],
                _filter(
                    _cmp("PropertyIsGreaterThanOrEqualTo", "cost_usd_p50", repr(breaks[i])),
                    _cmp(
                        "PropertyIsLessThanOrEqualTo" if last else "PropertyIsLessThan",
                        "cost_usd_p50",
                        repr(breaks[i + 1]),
                    ),
                ),
                colour,
                _darker(colour),
                2.0,
            )
        )

    cc = class_colours(report.params)
    cats = [(c.name, f"{c.name}: {c.label}", cc[c.name]) for c in report.params.classes]
    cats.append(
        (
            "unknown",
            f"unknown: no data (assessed as {report.params.general.unknown_area_class})",
            cc["unknown"],
        )
    )
    haz_qml = _categorized_qml("class", cats)
    haz_rules = [
        (
            label,
            _filter(_cmp("PropertyIsEqualTo", "class", value)),
            colour,
            _darker(colour, 0.75),
            0.5,
        )
        for value, label, colour in cats
    ]
    reg_qml = _outline_qml("name")
    reg_rules = [("region", None, None, REGION_COLOUR, 2.0)]

    now = pd.Timestamp(dt.datetime.now(dt.UTC).replace(microsecond=0))
    rows = []
    for table, qml, rules, title, description in (
        (
            "deposits",
            dep_qml,
            dep_rules,
            "demine: P50 cost",
            "Deposit footprints, graduated by P50 cost (US$)",
        ),
        ("regions", reg_qml, reg_rules, "demine: regions", "Region outlines, labelled by name"),
        (
            "hazard_in_footprints",
            haz_qml,
            haz_rules,
            "demine: hazard class",
            "Clearance-task polygons, categorised by hazard class",
        ),
    ):
        if table not in layers:
            continue
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": table,
                "f_geometry_column": GEOMETRY_COLUMN,
                "styleName": title,
                "styleQML": qml,
                "styleSLD": _sld(table, rules),
                "useAsDefault": True,
                "description": description,
                "owner": "",
                "ui": "",
                "update_time": now,
            }
        )
    return pd.DataFrame(rows, columns=list(LAYER_STYLES_COLUMNS))


def write_report_gpkg(report: Report, tasks: list[TaskPolygon], target) -> None:
    """Write the three styled layers of a report to a GeoPackage, atomically.

    Parameters
    ----------
    report : Report
        A computed report.
    tasks : list of TaskPolygon
        Its clearance-task polygons.
    target : path-like
        The ``.gpkg`` file to write (replaced if it exists).

    Raises
    ------
    InputDataError
        If the path does not end in ``.gpkg`` or its directory does not exist.
    """
    from .io import write_gpkg
    from .report import data_credits

    layers: dict[str, Any] = build_layers(report, tasks)
    styles = layer_styles(report, layers)
    meta = report.meta
    metadata = {
        "demine_version": str(meta.get("version")),
        "params_sha256": str(meta.get("params_sha256")),
        "params_source": str(meta.get("params_source")),
        "control_date": str(meta.get("control_date")),
        "draws": str(meta.get("draws")),
        "credits": " | ".join(data_credits(report)),
    }
    write_gpkg(
        {**layers, "layer_styles": styles},
        target,
        metadata=metadata,
        layer_options={"layer_styles": {"FID": "id", "DATETIME_PRECISION": "MILLISECOND"}},
        dataset_options={"VERSION": "1.2"},
    )
