"""Parameter files: defaults load, user files overlay, every error names file, key and value."""

from __future__ import annotations

import re
import tomllib

import pytest

from estimator.errors import ParameterError
from estimator.params import Range, load_params

from .conftest import DEFAULT_PARAMS


def load(path=None):
    return load_params(path, defaults=DEFAULT_PARAMS)


def test_defaults_load_with_required_methods_and_classes():
    p = load()
    assert p.class_names == ("none", "low", "medium", "high")
    assert [c.raster_value for c in p.classes] == [0, 1, 2, 3]
    assert {m.name for m in p.methods} >= {"nts", "ts", "manual", "mechanical", "mdd"}
    assert p.general.footprint_buffer_m == 500.0
    assert p.overridden_keys == ()
    assert len(p.sha256) == 64


def test_every_default_value_carries_a_source_or_judgement_comment():
    """Within each table, every value follows a comment that cites a source or says JUDGEMENT."""
    text = DEFAULT_PARAMS.read_text(encoding="utf-8")
    refs = set(re.findall(r"^#\s+\[([A-Z0-9-]+)\]", text, flags=re.M))
    assert {"LM2023", "HALO-UA", "SFOR", "MV4", "DROPLA", "UA-NTS23"} <= refs
    not_assumptions = (
        "label",
        "raster_value",
        "team_size",
        "schema_version",
        "currency",
        "price_year",
    )
    seen = ""
    uncited = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            seen = ""  # a new table: its values need their own comments
        elif s.startswith("#"):
            seen += " " + s
        elif "=" in s and not s.startswith(not_assumptions):
            cited = "JUDGEMENT" in seen or any(f"[{r}]" in seen for r in refs)
            if not cited:
                uncited.append(s)
    assert uncited == []


def test_user_file_overlays_defaults_and_reports_overridden_keys(write_toml):
    path = write_toml(
        """
        [general]
        footprint_buffer_m = 250.0
        [methods.manual]
        productivity_m2_per_team_day = { low = 80, mode = 120, high = 200 }
        """
    )
    p = load(path)
    assert p.general.footprint_buffer_m == 250.0
    assert p.method("manual").productivity_m2_per_team_day == Range(80, 120, 200)
    assert p.method("mechanical").team_size == 4  # untouched default
    assert p.overridden_keys == (
        "general.footprint_buffer_m",
        "methods.manual.productivity_m2_per_team_day",
    )
    assert p.source == str(path)


def test_params_init_copy_is_identical_to_defaults():
    data = tomllib.loads(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "[general]\nfootprint_bufer_m = 10\n",
            r"\[general\] unknown key 'footprint_bufer_m': did you mean 'footprint_buffer_m'\?",
        ),
        (
            "[methods.manual]\nproductivity_m2_per_day = 10\n",
            r"did you mean 'productivity_m2_per_team_day'",
        ),
        (
            "[methods.manual]\nproductivity_m2_per_team_day = -5.0\n",
            r"\[methods.manual\] productivity_m2_per_team_day = -5.0: must be > 0",
        ),
        ("[methods.manual]\nproductivity_m2_per_team_day = 0\n", r"must be > 0"),
        ("[methods.mdd]\nteam_size = 2.5\n", r"team_size = 2.5: must be a whole number"),
        (
            '[methods.mdd]\nteam_cost_usd_per_day = "cheap"\n',
            r"team_cost_usd_per_day = 'cheap': must be a number",
        ),
        (
            "[classes.low]\nnts_cancel_share = 1.2\n",
            r"\[classes.low\] nts_cancel_share = 1.2: must be <= 1",
        ),
        (
            "[classes.low]\nts_reduce_share = { low = 0.9, mode = 0.5, high = 0.95 }\n",
            r"low <= mode <= high",
        ),
        (
            "[classes.low]\nclearance_mix = { manual = 0.5, mechanical = 0.4 }\n",
            r"shares must sum to 1 \(they sum to 0.9\)",
        ),
        (
            "[classes.low]\nclearance_mix = { manul = 1.0 }\n",
            r"unknown clearance method 'manul'.*did you mean 'manual'",
        ),
        (
            "[classes.low]\nraster_value = 3\n",
            r"raster_value = 3: already used by class '(low|high)'",
        ),
        (
            '[general]\nunknown_area_class = "severe"\n',
            r"unknown_area_class = 'severe': must be one of none, low, medium, high",
        ),
        (
            "[general]\noverhead_share = { low = 0.1, mode = 0.2 }\n",
            r"a range needs low, mode and high \(missing high\)",
        ),
        (
            "[general]\noverhead_share = { low = 0.1, mode = 0.2, hihg = 0.3 }\n",
            r"unknown key 'hihg': did you mean 'high'",
        ),
        ("schema_version = 2\n", r"schema_version = 2: this demine reads schema_version 1"),
        ('currency = "EUR"\n', r"only 'USD' is supported"),
        ("colour = 1\n", r"unknown key 'colour'"),
    ],
)
def test_bad_values_name_file_key_value_and_expectation(write_toml, text, pattern):
    path = write_toml(text)
    with pytest.raises(ParameterError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert re.search(pattern, message), message
    assert "\n" not in message


def test_syntax_error_keeps_line_and_column(write_toml):
    path = write_toml("[general]\nfootprint_buffer_m = = 3\n")
    with pytest.raises(ParameterError, match=r"TOML syntax error: .*line 2, column"):
        load(path)


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ParameterError, match=r"not found; create one with `demine params init"):
        load(tmp_path / "nope.toml")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[general]\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParameterError, match="not UTF-8"):
        load(path)


def test_new_class_and_method_can_be_added(write_toml):
    path = write_toml(
        """
        [methods.drone_bac]
        label = "Drone-assisted battle area clearance"
        productivity_m2_per_team_day = 2000
        team_cost_usd_per_day = 900
        team_size = 3
        [classes.uxo]
        raster_value = 7
        nts_cancel_share = 0.5
        ts_reduce_share = 0.5
        items_per_ha = 3
        clearance_mix = { drone_bac = 1.0 }
        """
    )
    p = load(path)
    assert p.class_names[-1] == "uxo" and p.class_by_value()[7].mix_share("drone_bac") == 1.0


def test_with_buffer_rejects_negative():
    with pytest.raises(ParameterError, match="--buffer-m"):
        load().with_buffer(-1)
