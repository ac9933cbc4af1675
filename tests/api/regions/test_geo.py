import copy
import doctest
import json
import random
import time

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from api.regions import geo as geo_module
from api.regions.geo import DEMO_REGIONS, RegionError, RegionIndex

DEMO = json.loads(DEMO_REGIONS.read_text(encoding="utf-8"))
DISTRICTS = {
    # (lat, lon) well inside each district, read off the demo map by hand
    "DL-N-01-01": (31.9, 120.2),
    "DL-N-01-02": (31.1, 120.5),
    "DL-N-02-01": (31.9, 121.8),
    "DL-N-02-02": (31.2, 121.5),
    "DL-S-01-01": (30.8, 120.3),
    "DL-S-01-02": (30.1, 120.6),
    "DL-S-02-01": (30.9, 121.9),
    "DL-S-02-02": (30.2, 121.4),
}


@pytest.fixture(scope="module")
def demo():
    return RegionIndex.demo()


def features(doc=DEMO):
    return copy.deepcopy(doc)


def find(doc, code):
    return next(f for f in doc["features"] if f["properties"]["code"] == code)


def test_docstring_examples_hold():
    result = doctest.testmod(geo_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_demo_hierarchy(demo):
    assert len(demo) == 15
    assert demo.codes("national") == ["DL"]
    assert demo.codes("province") == ["DL-N", "DL-S"]
    assert len(demo.codes("city")) == 4
    assert sorted(demo.codes("district")) == sorted(DISTRICTS)
    assert demo.codes()[:3] == ["DL", "DL-N", "DL-S"]  # top-down
    assert demo.name("DL") == "Demoland"
    assert demo.level("DL-S-02") == "city"
    assert demo.parent("DL-S-02") == "DL-S"
    assert demo.parent("DL") is None
    assert demo.children("DL-N") == ["DL-N-01", "DL-N-02"]
    assert demo.has("DL-N-01-02")
    assert "DL-N-01-02" in demo
    assert not demo.has("XX")


def test_demo_districts_tile_cities_and_cities_tile_provinces(demo):
    for code in demo.codes():
        children = demo.children(code)
        if not children:
            continue
        parent = demo.region(code).geometry
        kids = [demo.region(c).geometry for c in children]
        assert sum(k.area for k in kids) == pytest.approx(parent.area, rel=1e-9)
        union = shapely.union_all(kids)
        assert union.symmetric_difference(parent).area < 1e-9


def test_every_district_locates(demo):
    for code, (lat, lon) in DISTRICTS.items():
        assert demo.locate(lat, lon) == code
    for feature in DEMO["features"]:
        code = feature["properties"]["code"]
        if feature["properties"]["level"] == "district":
            point = shape(feature["geometry"]).representative_point()
            assert demo.locate(point.y, point.x) == code


def test_points_outside_every_region(demo):
    assert demo.locate(29.99, 121.0) is None
    assert demo.locate(31.0, 122.01) is None
    assert demo.locate(-33.9, 18.4) is None
    assert demo.locate(90, 180) is None


def test_border_points_go_to_the_first_code_whatever_the_file_order(demo):
    cases = {
        (31.5, 120.5): "DL-N-01-01",  # between the two districts of Aldport
        (31.0, 120.5): "DL-N-01-02",  # province border: DL-N sorts before DL-S
        (31.5, 121.05): "DL-N-01-01",  # corner of four districts
        (32.0, 120.5): "DL-N-01-01",  # the outer border belongs to the country
    }
    for (lat, lon), code in cases.items():
        assert demo.locate(lat, lon) == code
    shuffled = features()
    random.Random(3).shuffle(shuffled["features"])
    reordered = RegionIndex.from_geojson(shuffled)
    for (lat, lon), code in cases.items():
        assert reordered.locate(lat, lon) == code


def test_hierarchy_queries(demo):
    assert demo.ancestors("DL-S-02-01") == ["DL-S-02", "DL-S", "DL"]
    assert demo.ancestors("DL") == []
    assert demo.lineage("DL-S-02-01") == ["DL-S-02-01", "DL-S-02", "DL-S", "DL"]
    assert demo.descendants("DL-S") == {
        "DL-S-01",
        "DL-S-02",
        "DL-S-01-01",
        "DL-S-01-02",
        "DL-S-02-01",
        "DL-S-02-02",
    }
    assert demo.descendants("DL-S-02-01") == set()
    assert len(demo.descendants("DL")) == 14
    assert demo.is_within("DL-S-02-01", "DL-S")
    assert demo.is_within("DL-S", "DL-S")
    assert not demo.is_within("DL-S-02-01", "DL-N")
    assert not demo.is_within("DL", "DL-N")
    for query in (demo.ancestors, demo.descendants, demo.name, demo.level, demo.children):
        with pytest.raises(RegionError, match="unknown region code 'XX'"):
            query("XX")
    with pytest.raises(RegionError, match="unknown region code"):
        demo.is_within("DL-N", "XX")
    with pytest.raises(RegionError, match="level 'county'"):
        demo.codes("county")


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (90.5, 120.0, "latitude 90.5 is outside -90..90"),
        (-91, 120.0, "latitude -91.0 is outside"),
        (31.0, 180.5, "longitude 180.5 is outside -180..180"),
        (float("nan"), 120.0, "finite"),
        (31.0, float("inf"), "finite"),
    ],
)
def test_bad_coordinates_are_refused(demo, lat, lon, message):
    with pytest.raises(ValueError, match=message):
        demo.locate(lat, lon)
    with pytest.raises(ValueError, match=message):
        demo.locate_many([31.0, lat], [120.5, lon])


def test_locate_many_agrees_with_locate(demo):
    rng = np.random.default_rng(11)
    lat, lon = rng.uniform(29.8, 32.2, 2000), rng.uniform(119.8, 122.2, 2000)
    lat[:4], lon[:4] = [31.5, 31.0, 31.5, 32.0], [120.5, 120.5, 121.05, 120.5]  # borders too
    many = demo.locate_many(lat, lon)
    assert many == [demo.locate(a, b) for a, b in zip(lat, lon, strict=True)]
    assert any(code is None for code in many)
    assert demo.locate_many([], []) == []
    with pytest.raises(ValueError, match="2 latitudes but 1 longitudes"):
        demo.locate_many([1, 2], [3])


def test_lookup_speed(demo, capsys):
    # Measured and printed, not asserted: the machine may be shared.
    rng = np.random.default_rng(5)
    lat, lon = rng.uniform(30, 32, 100_000), rng.uniform(120, 122, 100_000)
    start = time.perf_counter()
    found = demo.locate_many(lat, lon)
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    for a, b in zip(lat[:5000], lon[:5000], strict=True):
        demo.locate(a, b)
    single = (time.perf_counter() - start) / 5000
    assert None not in found  # every point lies inside Demoland
    with capsys.disabled():
        print(
            f"\nregion look-up: 100,000 points in {vectorised:.3f} s with locate_many, "
            f"{single * 1e6:.1f} µs per point with locate"
        )


def test_parents_without_geometry_and_partial_coverage():
    doc = features()
    find(doc, "DL")["geometry"] = None
    find(doc, "DL-N")["geometry"] = None
    # Aldport keeps only its northern district: its southern half is city-level only.
    doc["features"] = [f for f in doc["features"] if f["properties"]["code"] != "DL-N-01-02"]
    index = RegionIndex.from_geojson(doc)
    assert index.locate(31.9, 120.2) == "DL-N-01-01"
    assert index.locate(31.1, 120.5) == "DL-N-01"
    assert index.locate(31.2, 121.5) == "DL-N-02-02"
    assert index.to_geojson()["features"][0]["geometry"] is None


def test_to_geojson_round_trips_and_keeps_extra_properties(demo):
    doc = features()
    find(doc, "DL-N")["properties"]["population"] = 1234
    index = RegionIndex.from_geojson(doc)
    out = index.to_geojson()
    assert out["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in out["features"]] == index.codes()
    assert find(out, "DL-N")["properties"]["population"] == 1234
    json.dumps(out)  # plain JSON types only
    again = RegionIndex.from_geojson(out)
    for code, (lat, lon) in DISTRICTS.items():
        assert again.locate(lat, lon) == code
    assert [f["properties"]["code"] for f in demo.to_geojson("province")["features"]] == [
        "DL-N",
        "DL-S",
    ]


def mutate(change):
    doc = features()
    change(doc)
    return doc


def set_prop(code, key, value):
    return lambda doc: find(doc, code)["properties"].__setitem__(key, value)


def set_geometry(code, geometry):
    return lambda doc: find(doc, code).__setitem__("geometry", geometry)


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[120, 30], [121, 31], [121, 30], [120, 31], [120, 30]]],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (set_prop("DL-N-01", "code", ""), r"feature \d+: missing code"),
        (lambda d: find(d, "DL-N")["properties"].pop("code"), r"feature 2: missing code"),
        (set_prop("DL-N", "name", " "), "region 'DL-N': missing name"),
        (set_prop("DL-N", "level", "county"), "level 'county' is not one of"),
        (set_prop("DL-N-01", "parent", "DL-X"), "region 'DL-N-01': unknown parent 'DL-X'"),
        (set_prop("DL-N-01", "parent", 5), "parent must be a region code or null"),
        (set_prop("DL", "parent", "DL-N-01-01"), "parents form a cycle"),
        (set_prop("DL-N-01", "parent", "DL-N-02"), "level city cannot sit under 'DL-N-02'"),
        (set_prop("DL-S", "code", "DL-N"), "region 'DL-N' appears twice"),
        (set_geometry("DL-N-01-01", None), "only regions with children may leave it out"),
        (
            set_geometry("DL-N-01-01", {"type": "Point", "coordinates": [120.5, 31.7]}),
            "a Point is not an area",
        ),
        (set_geometry("DL-N-01-01", BOWTIE), "bad geometry, Self-intersection"),
        (
            set_geometry(
                "DL-N",
                {"type": "Polygon", "coordinates": [[[31, 120], [32, 120], [32, 122], [31, 120]]]},
            ),
            "GeoJSON puts longitude first",
        ),
        (set_geometry("DL-N", {"type": "Polygon", "coordinates": "nonsense"}), "bad geometry"),
        (
            set_geometry(
                "DL-N-01-01",
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[120, 31.5], [120.5, 31.5], [120.5, 32.5], [120, 32.5], [120, 31.5]]
                    ],
                },
            ),
            r"region 'DL-N-01-01': \d+\.\d% of its area lies outside its parent 'DL-N-01'",
        ),
        (lambda d: d.__setitem__("type", "Feature"), "must be a GeoJSON FeatureCollection"),
        (lambda d: d.__setitem__("features", {}), "no features list"),
        (lambda d: d.__setitem__("features", []), "no regions given"),
        (lambda d: d["features"].append({"type": "Feature"}), r"feature 16: has no properties"),
        (lambda d: d["features"].append([1, 2]), r"feature 16: not a GeoJSON Feature"),
    ],
)
def test_bad_region_data_is_refused_with_a_clear_message(change, message):
    with pytest.raises(RegionError, match=message):
        RegionIndex.from_geojson(mutate(change))


def test_nesting_check_can_be_relaxed_for_imprecise_boundary_files():
    sticking_out = {
        "type": "Polygon",
        "coordinates": [[[120, 31.5], [120.5, 31.5], [120.5, 32.5], [120, 32.5], [120, 31.5]]],
    }
    doc = mutate(set_geometry("DL-N-01-01", sticking_out))
    index = RegionIndex.from_geojson(doc, check_nesting=False)
    assert index.locate(32.2, 120.2) == "DL-N-01-01"


def test_population_is_given_or_the_sum_of_the_parts(demo):
    districts = demo.codes("district")
    assert all(demo.population(c) for c in districts)
    for code in demo.codes():
        children = demo.children(code)
        if children:
            assert demo.population(code) == sum(demo.population(c) for c in children)
    assert demo.to_geojson("national")["features"][0]["properties"]["population"] == sum(
        demo.population(c) for c in districts
    )


def test_population_unknown_for_a_part_leaves_the_sum_unknown():
    doc = features()
    del find(doc, "DL-N-01-01")["properties"]["population"]
    index = RegionIndex.from_geojson(doc)
    assert index.population("DL-N-01-01") is None
    assert index.population("DL-N-01") is None
    assert index.population("DL") is None
    assert index.population("DL-S") == RegionIndex.demo().population("DL-S")
    # A region's own figure wins over the sum of its parts.
    find(doc, "DL-N-01")["properties"]["population"] = 600_000
    assert RegionIndex.from_geojson(doc).population(
        "DL-N"
    ) == 600_000 + RegionIndex.demo().population("DL-N-02")


@pytest.mark.parametrize("bad", [-1, 1.5, "many", True])
def test_population_must_be_a_whole_number(bad):
    doc = features()
    find(doc, "DL-N-01-01")["properties"]["population"] = bad
    with pytest.raises(RegionError, match="population must be a whole number"):
        RegionIndex.from_geojson(doc)
