"""Administrative regions: a validated hierarchy of polygons, and point-in-region look-up.

Regions come from a GeoJSON FeatureCollection. Each feature is one region with
properties ``code``, ``name``, ``level`` (``national``, ``province``, ``city`` or
``district``) and ``parent`` (the parent's code, or null at the top), and optionally ``population``
(people living there, a whole number: rates per 100,000 need it); its
geometry is a Polygon or MultiPolygon in longitude/latitude (RFC 7946). A
region that has children may leave its geometry null: it then covers exactly
what its children cover, and one without a population has its children's sum
(unknown when any child's is unknown). Other properties are kept and returned by
:meth:`RegionIndex.to_geojson`.

:meth:`RegionIndex.locate` finds the most specific region containing a point
with a shapely STRtree over the leaf regions (those without children), so a
look-up costs a tree query, not a loop over regions; only points that no leaf
covers are tried against the larger regions. A point exactly on a border
shared by two regions of the same depth belongs to the one whose code sorts
first, so the answer never depends on the order of the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

LEVELS = ("national", "province", "city", "district")
DEMO_REGIONS = Path(__file__).with_name("demo_regions.geojson")
# A child may stick out of its parent by this share of its own area before the
# file is refused: real boundary files disagree by a few metres here and there.
NESTING_TOLERANCE = 1e-3
_RESERVED = frozenset({"code", "name", "level", "parent", "population"})


class RegionError(ValueError):
    """The region data is malformed or inconsistent, or a region code is unknown."""


@dataclass(frozen=True)
class Region:
    """One administrative region."""

    code: str
    name: str
    level: str
    parent: str | None
    geometry: BaseGeometry | None
    extra: Mapping[str, Any] = field(default_factory=dict)  # other GeoJSON properties
    population: int | None = None  # as given in the file; see RegionIndex.population


def _feature_region(number: int, feature: Any) -> Region:
    where = f"feature {number}"
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise RegionError(f"{where}: not a GeoJSON Feature")
    properties = feature.get("properties")
    if not isinstance(properties, Mapping):
        raise RegionError(f"{where}: has no properties")
    code = properties.get("code")
    if not isinstance(code, str) or not code.strip():
        raise RegionError(f"{where}: missing code")
    where = f"region {code!r}"
    name = properties.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RegionError(f"{where}: missing name")
    level = properties.get("level")
    if level not in LEVELS:
        raise RegionError(f"{where}: level {level!r} is not one of {', '.join(LEVELS)}")
    parent = properties.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent.strip()):
        raise RegionError(f"{where}: parent must be a region code or null, got {parent!r}")
    population = properties.get("population")
    # bool is an int in Python: "population": true is a mistake, not one person.
    if population is not None and (
        not isinstance(population, int) or isinstance(population, bool) or population < 0
    ):
        raise RegionError(f"{where}: population must be a whole number >= 0, got {population!r}")
    geometry = _geometry(where, feature.get("geometry"))
    extra = {key: value for key, value in properties.items() if key not in _RESERVED}
    return Region(code, name, level, parent, geometry, extra, population)


def _geometry(where: str, obj: Any) -> BaseGeometry | None:
    if obj is None:
        return None
    try:
        geometry = shape(obj)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise RegionError(f"{where}: bad geometry ({exc})") from None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise RegionError(f"{where}: bad geometry, a {geometry.geom_type} is not an area")
    if geometry.is_empty:
        raise RegionError(f"{where}: bad geometry, it is empty")
    if not geometry.is_valid:
        raise RegionError(f"{where}: bad geometry, {shapely.is_valid_reason(geometry)}")
    west, south, east, north = geometry.bounds
    if max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 90:
        raise RegionError(
            f"{where}: bad geometry, coordinates outside longitude -180..180 / latitude -90..90 "
            "(GeoJSON puts longitude first)"
        )
    return geometry


def _check_coordinates(latitude: np.ndarray, longitude: np.ndarray) -> None:
    if not (np.isfinite(latitude).all() and np.isfinite(longitude).all()):
        raise ValueError("latitude and longitude must be finite numbers")
    if (np.abs(latitude) > 90).any():
        bad = latitude[np.abs(latitude) > 90][0]
        raise ValueError(f"latitude {bad} is outside -90..90")
    if (np.abs(longitude) > 180).any():
        bad = longitude[np.abs(longitude) > 180][0]
        raise ValueError(f"longitude {bad} is outside -180..180")


class RegionIndex:
    """A validated region hierarchy with point look-up; immutable once built.

    Build it with :meth:`from_geojson` (or :meth:`from_file`, :meth:`demo`).

    Examples
    --------
    >>> regions = RegionIndex.demo()
    >>> regions.locate(31.75, 120.5)
    'DL-N-01-01'
    >>> regions.ancestors("DL-N-01-01")
    ['DL-N-01', 'DL-N', 'DL']
    >>> regions.is_within("DL-N-01-01", "DL-N"), regions.is_within("DL-N", "DL-N-01-01")
    (True, False)
    """

    def __init__(self, regions: Iterable[Region], *, check_nesting: bool = True):
        self._regions: dict[str, Region] = {}
        for region in regions:
            if region.code in self._regions:
                raise RegionError(f"region {region.code!r} appears twice")
            self._regions[region.code] = region
        if not self._regions:
            raise RegionError("no regions given")

        self._children: dict[str, list[str]] = {code: [] for code in self._regions}
        for region in self._regions.values():
            if region.parent is None:
                continue
            if region.parent not in self._regions:
                raise RegionError(f"region {region.code!r}: unknown parent {region.parent!r}")
            self._children[region.parent].append(region.code)
        self._lineage = {code: self._walk_up(code) for code in self._regions}
        self._population: dict[str, int | None] = {}

        for region in self._regions.values():
            self._check_against_parent(region, check_nesting)
            if region.geometry is None and not self._children[region.code]:
                raise RegionError(
                    f"region {region.code!r}: bad geometry, only regions with children may "
                    "leave it out"
                )

        # Top-down, then by code: a stable order for listings and tie-breaks.
        self._order = sorted(self._regions, key=lambda code: (len(self._lineage[code]), code))
        self._rank = {code: rank for rank, code in enumerate(self._order)}
        self._leaf_tree = self._tree([c for c in self._order if not self._children[c]])
        for code in reversed(self._order):  # children first: each sum is one step
            self.population(code)
        self._inner_tree = self._tree([c for c in self._order if self._children[c]])

    def _tree(self, codes: list[str]) -> _Tree:
        with_geometry = [c for c in codes if self._regions[c].geometry is not None]
        # Preferred when several regions contain a point: deeper first, then code order.
        priority = [
            -len(self._lineage[c]) * len(self._order) + self._rank[c] for c in with_geometry
        ]
        return _Tree(with_geometry, [self._regions[c].geometry for c in with_geometry], priority)

    def _walk_up(self, code: str) -> list[str]:
        chain = [code]
        parent = self._regions[code].parent
        while parent is not None:
            if parent in chain:
                cycle = " -> ".join([*chain[chain.index(parent) :], parent])
                raise RegionError(f"region {code!r}: parents form a cycle ({cycle})")
            chain.append(parent)
            parent = self._regions[parent].parent
        return chain

    def _check_against_parent(self, region: Region, check_nesting: bool) -> None:
        if region.parent is None:
            return
        parent = self._regions[region.parent]
        if LEVELS.index(region.level) <= LEVELS.index(parent.level):
            raise RegionError(
                f"region {region.code!r}: level {region.level} cannot sit under "
                f"{parent.code!r} ({parent.level})"
            )
        if not check_nesting or region.geometry is None:
            return
        outer = self._extent(parent.code)
        if outer is None:
            return
        outside = region.geometry.difference(outer).area
        if outside > NESTING_TOLERANCE * region.geometry.area:
            share = outside / region.geometry.area
            raise RegionError(
                f"region {region.code!r}: {share:.1%} of its area lies outside its parent "
                f"{parent.code!r}"
            )

    def _extent(self, code: str) -> BaseGeometry | None:
        """The nearest own-or-ancestor geometry bounding ``code``."""
        for ancestor in self._lineage[code]:
            geometry = self._regions[ancestor].geometry
            if geometry is not None:
                return geometry
        return None

    # Construction ---------------------------------------------------------

    @classmethod
    def from_geojson(cls, obj: Mapping[str, Any], *, check_nesting: bool = True) -> RegionIndex:
        """Validate a GeoJSON FeatureCollection of regions and index it.

        Raises :class:`RegionError` naming the feature or region at fault:
        missing code or name, unknown level or parent, a cycle of parents, a
        child level not below its parent's, geometry that is not a valid
        (multi)polygon in longitude/latitude, or (with ``check_nesting``) a
        region reaching outside its parent.
        """
        if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
            raise RegionError("region data must be a GeoJSON FeatureCollection")
        features = obj.get("features")
        if not isinstance(features, list):
            raise RegionError("the FeatureCollection has no features list")
        regions = [_feature_region(number, f) for number, f in enumerate(features, start=1)]
        return cls(regions, check_nesting=check_nesting)

    @classmethod
    def from_file(cls, path: str | Path, *, check_nesting: bool = True) -> RegionIndex:
        """:meth:`from_geojson` on a GeoJSON file."""
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_geojson(obj, check_nesting=check_nesting)

    @classmethod
    def demo(cls) -> RegionIndex:
        """The fictional country "Demoland" (code DL) shipped for demos and tests."""
        return cls.from_file(DEMO_REGIONS)

    # Hierarchy -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._regions)

    def __contains__(self, code: object) -> bool:
        return code in self._regions

    def has(self, code: str) -> bool:
        """Whether ``code`` is a known region."""
        return code in self._regions

    def region(self, code: str) -> Region:
        """The region ``code``; :class:`RegionError` if unknown."""
        try:
            return self._regions[code]
        except KeyError:
            raise RegionError(f"unknown region code {code!r}") from None

    def codes(self, level: str | None = None) -> list[str]:
        """All region codes (or those of one level), top-down then by code."""
        if level is not None and level not in LEVELS:
            raise RegionError(f"level {level!r} is not one of {', '.join(LEVELS)}")
        return [c for c in self._order if level is None or self._regions[c].level == level]

    def name(self, code: str) -> str:
        return self.region(code).name

    def level(self, code: str) -> str:
        return self.region(code).level

    def parent(self, code: str) -> str | None:
        return self.region(code).parent

    def population(self, code: str) -> int | None:
        """People living in ``code``: its own figure, else the sum of its children's
        (``None`` when that is unknown for any of them, or for a region without children).

        >>> regions = RegionIndex.demo()
        >>> regions.population("DL-N-01"), regions.population("DL-N-01-01")
        (598000, 412000)
        """
        if code not in self._population:
            region = self.region(code)
            population = region.population
            children = self._children[code]
            if population is None and children:
                parts = [self.population(child) for child in children]
                population = None if None in parts else sum(p for p in parts if p is not None)
            self._population[code] = population
        return self._population[code]

    def children(self, code: str) -> list[str]:
        """The regions directly below ``code``, by code."""
        self.region(code)
        return sorted(self._children[code])

    def lineage(self, code: str) -> list[str]:
        """``code`` itself, then its parent, and so on up to the top region."""
        self.region(code)
        return list(self._lineage[code])

    def ancestors(self, code: str) -> list[str]:
        """The regions above ``code``: its parent first, the top region last; [] at the top."""
        return self.lineage(code)[1:]

    def descendants(self, code: str) -> set[str]:
        """Every region below ``code`` (not ``code`` itself)."""
        self.region(code)
        found: set[str] = set()
        stack = list(self._children[code])
        while stack:
            child = stack.pop()
            found.add(child)
            stack.extend(self._children[child])
        return found

    def is_within(self, code: str, scope_code: str) -> bool:
        """Whether region ``code`` is ``scope_code`` or lies below it."""
        self.region(scope_code)
        return scope_code in self.lineage(code)

    # Look-up ---------------------------------------------------------------

    def locate(self, latitude: float, longitude: float) -> str | None:
        """The most specific region containing the point, or None outside all regions.

        Raises ValueError for a latitude outside -90..90, a longitude outside
        -180..180, or a value that is not a finite number.
        """
        lat, lon = float(latitude), float(longitude)
        if not (abs(lat) <= 90 and abs(lon) <= 180):  # also False for NaN
            # The vectorised check has the messages; this keeps the common case cheap.
            _check_coordinates(np.array([lat]), np.array([lon]))
        point = shapely.Point(lon, lat)
        for tree in (self._leaf_tree, self._inner_tree):
            code = tree.best_one(point)
            if code is not None:
                return code
        return None

    def locate_many(
        self, latitudes: Sequence[float] | np.ndarray, longitudes: Sequence[float] | np.ndarray
    ) -> list[str | None]:
        """:meth:`locate` for many points at once.

        One vectorised query of the leaf regions' tree, then one of the larger
        regions' tree for the points no leaf covers.
        """
        lat = np.asarray(latitudes, dtype=float).ravel()
        lon = np.asarray(longitudes, dtype=float).ravel()
        if lat.shape != lon.shape:
            raise ValueError(f"{lat.size} latitudes but {lon.size} longitudes")
        _check_coordinates(lat, lon)
        found: list[str | None] = [None] * lat.size
        todo = np.arange(lat.size)
        for tree in (self._leaf_tree, self._inner_tree):
            if todo.size == 0:
                break
            hits = tree.best(shapely.points(lon[todo], lat[todo]))
            for position, code in hits.items():
                found[int(todo[position])] = code
            todo = np.delete(todo, list(hits))
        return found

    # Export ----------------------------------------------------------------

    def to_geojson(self, level: str | None = None) -> dict[str, Any]:
        """The regions (or one level of them) as a GeoJSON FeatureCollection, for maps."""
        features = []
        for code in self.codes(level):
            region = self._regions[code]
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": region.code,
                        "name": region.name,
                        "level": region.level,
                        "parent": region.parent,
                        "population": self.population(code),
                        **region.extra,
                    },
                    "geometry": mapping(region.geometry) if region.geometry else None,
                }
            )
        return {"type": "FeatureCollection", "features": features}


class _Tree:
    """An STRtree over some regions, answering "the preferred region containing each point"."""

    def __init__(self, codes: list[str], geometries: list[Any], priority: list[int]):
        self.codes = np.array(codes, dtype=object)
        self.priority = np.array(priority, dtype=np.int64)
        self.tree = shapely.STRtree(geometries) if geometries else None

    def best_one(self, point: BaseGeometry) -> str | None:
        """The preferred region containing ``point``, or None."""
        if self.tree is None:
            return None
        hits = self.tree.query(point, predicate="intersects")
        if hits.size == 0:
            return None
        return str(self.codes[hits[np.argmin(self.priority[hits])]])

    def best(self, points: np.ndarray) -> dict[int, str]:
        """For each point (by position) inside some region, the preferred region's code."""
        if self.tree is None or len(points) == 0:
            return {}
        point_index, tree_index = self.tree.query(points, predicate="intersects")
        if point_index.size == 0:
            return {}
        order = np.lexsort((self.priority[tree_index], point_index))
        point_index, tree_index = point_index[order], tree_index[order]
        first = np.ones(point_index.size, dtype=bool)
        first[1:] = point_index[1:] != point_index[:-1]
        return dict(
            zip(point_index[first].tolist(), self.codes[tree_index[first]].tolist(), strict=True)
        )
