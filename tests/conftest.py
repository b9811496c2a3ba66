"""Factory fixtures: real GeoTIFF, GeoPackage and GeoJSON files written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PARAMS = ROOT / "geodata" / "parameters.toml"


@pytest.fixture
def make_raster(tmp_path):
    """Write a single-band GeoTIFF and return its path."""
    counter = iter(range(10_000))

    def _make(
        array: np.ndarray,
        transform: Affine,
        crs: str | None = "EPSG:3035",
        nodata: float | None = 255,
        name: str | None = None,
    ) -> Path:
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[None]
        path = tmp_path / (name or f"raster_{next(counter)}.tif")
        profile = dict(
            driver="GTiff",
            width=array.shape[2],
            height=array.shape[1],
            count=array.shape[0],
            dtype=array.dtype.name,
            transform=transform,
            nodata=nodata,
            tiled=True,
            blockxsize=256,
            blockysize=256,
            compress="deflate",
        )
        if crs is not None:
            profile["crs"] = crs
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(array)
        return path

    return _make


@pytest.fixture
def make_vector(tmp_path):
    """Write geometries (and attributes) to a vector file and return its path."""
    counter = iter(range(10_000))

    def _make(geometries, crs="EPSG:4326", filename: str | None = None, **columns) -> Path:
        gdf = gpd.GeoDataFrame(dict(columns), geometry=list(geometries), crs=crs)
        path = tmp_path / (filename or f"vector_{next(counter)}.gpkg")
        gdf.to_file(path)
        return path

    return _make


@pytest.fixture
def write_toml(tmp_path):
    """Write TOML text to a file and return its path."""

    def _write(text: str, name: str = "params.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
