"""Outline guesses: rectangles that could be the cassette, and the template placed on them."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.kit import Kit
from pipeline.locate.geometry import Axis
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.structure import edge_strength, without_thin_lines
from pipeline.locate.template import kit_model

_SEARCH_SIDES = (320, 640)  # px: image sizes for the template path's candidate regions
_LINE_SIDE = 480  # px: image size for line segment detection (1.5 times that for strips)
_MAX_PAIRS = 40  # edge pairs tried as outlines
_PROFILE_PPM = 3.0  # samples per mm along the long axis for profile matching
_SCALE_DISAGREES = math.log(1.15)
"""Width and length of a box giving scales further apart than this (log): try both. The
search along the axis spans 0.75-1.33x; a strip 8 px across blurred 3 px wider is 1.7x."""


def candidate_boxes(image: np.ndarray, aspect: float, detail: float = 1.0) -> list[np.ndarray]:
    """Rectangles (4, 2) in ``image`` px that could be the cassette's outline.

    The face is a region without strong edges inside its outline except its print:
    regions bounded by edges, at a few edge thresholds and two scales (small
    cassettes fragment at the coarse one), whose hull is a filled rectangle of about
    the template's proportions. ``detail`` multiplies the image sizes searched: a
    test 10-15 % of a photo's width needs more pixels than these sizes give it.
    """
    boxes: list[np.ndarray] = []
    h, w = image.shape[:2]
    for side in _SEARCH_SIDES:
        f = min(1.0, side * detail / max(h, w))
        small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        boxes += [box / f for box in _boxes_at(small, aspect)]
        if f == 1.0:
            break
    boxes += _edge_pair_boxes(image, aspect, detail)
    return _dedupe(boxes)


def _boxes_at(small: np.ndarray, aspect: float) -> list[np.ndarray]:
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (3, 3), 0), cv2.COLOR_BGR2Lab).astype(np.float32)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1)
    grad = np.sqrt((gx * gx + gy * gy).sum(axis=2))
    top = float(np.percentile(grad, 99))
    area = grad.size
    lo, hi = 0.6 * aspect, 1.5 * aspect
    regions = []
    for frac in (0.08, 0.15, 0.3):
        edges = cv2.dilate((grad > frac * top).astype(np.uint8), np.ones((3, 3), np.uint8))
        regions.append(1 - edges)
    # Blur leaves few edges but keeps the face brighter (or darker) than the table.
    lightness = lab[:, :, 0].astype(np.uint8)
    _, bright = cv2.threshold(lightness, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    regions += [bright, 1 - bright]
    boxes = []
    for region in regions:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=4)
        for k in np.nonzero(
            (stats[:, cv2.CC_STAT_AREA] > max(60, 0.001 * area))
            & (stats[:, cv2.CC_STAT_AREA] < 0.8 * area)
        )[0]:
            if k == 0:
                continue
            x, y, bw, bh = stats[k, :4]
            comp = (labels[y : y + bh, x : x + bw] == k).astype(np.uint8)
            contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            hull = cv2.convexHull(np.vstack(contours) + np.array([x, y]))
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(hull)
            if min(rw, rh) < 4:
                continue
            ratio = max(rw, rh) / min(rw, rh)
            fill = cv2.contourArea(hull) / (rw * rh)
            if lo < ratio < hi and fill > 0.8:
                # The region stops one dilation short of the edge.
                boxes.append(cv2.boxPoints(((cx, cy), (rw + 2, rh + 2), angle)))
    return boxes


_SAMPLE_ROW = 1024  # points per row of a remap grid


def _inside_contrast(
    grey: np.ndarray, side_a: np.ndarray, side_b: np.ndarray, axis: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """How different the band between two parallel sides looks from the bands just outside.

    Sampled along the middle of each band: a strip or cassette differs from the table,
    the gap between two ruled lines does not.
    """
    centre = (side_a + side_b) / 2
    across = side_b - centre  # half the width, pointing to side b
    t = np.linspace(-0.4, 0.4, 12)[None, :, None] * (length[:, None, None] * axis[:, None, :])
    inside = centre[:, None, :] + t
    outside = np.concatenate(
        [inside + 1.6 * across[:, None, :], inside - 1.6 * across[:, None, :]], 1
    )

    def sample(points: np.ndarray) -> np.ndarray:
        flat = points.reshape(-1, 2).astype(np.float32)
        n = len(flat)
        if n == 0:
            return np.zeros(points.shape[:2])
        # OpenCV's maps must stay under 32767 a side, and a busy photo has thousands of
        # side pairs (12 points each): lay the points out in rows, not in one column.
        padded = np.zeros((-(-n // _SAMPLE_ROW) * _SAMPLE_ROW, 2), np.float32)
        padded[:n] = flat
        grid = padded.reshape(-1, _SAMPLE_ROW, 2)
        got = cv2.remap(
            grey, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return got.reshape(-1)[:n].reshape(points.shape[:2]).astype(float)

    a, b = sample(inside), sample(outside)
    spread = a.std(axis=1) + b.std(axis=1) + 4.0
    return np.abs(np.median(a, axis=1) - np.median(b, axis=1)) / spread


def _merge_collinear(seg: np.ndarray, tolerance: float) -> np.ndarray:
    """Join line segments that lie on one line (within ``tolerance`` px) with small gaps.

    An edge whose contrast changes along it (a strip's coloured pads, a shadow) comes out
    of the detector in pieces.
    """
    if len(seg) < 2:
        return seg
    d = seg[:, 2:] - seg[:, :2]
    length = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)
    u = d / length[:, None]
    n = np.stack([-u[:, 1], u[:, 0]], 1)
    # Distance of every segment's end points from every other segment's line, and the gap
    # between them along it.
    rel_a = seg[None, :, :2] - seg[:, None, :2]
    rel_b = seg[None, :, 2:] - seg[:, None, :2]
    off = np.maximum(np.abs((rel_a * n[:, None]).sum(-1)), np.abs((rel_b * n[:, None]).sum(-1)))
    ta, tb = (rel_a * u[:, None]).sum(-1), (rel_b * u[:, None]).sum(-1)
    gap = np.maximum(np.minimum(ta, tb) - length[:, None], -np.maximum(ta, tb))
    parallel = np.abs(u @ u.T) > math.cos(math.radians(3))
    near = parallel & (off < tolerance) & (gap < np.minimum.outer(length, length) + 3)
    groups = _components(near)
    merged = []
    for members in groups:
        if len(members) == 1:
            merged.append(seg[members[0]])
            continue
        main = members[int(np.argmax(length[members]))]
        pts = seg[members].reshape(-1, 2)
        t = (pts - seg[main, :2]) @ u[main]
        a, b = seg[main, :2] + u[main] * t.min(), seg[main, :2] + u[main] * t.max()
        merged.append(np.concatenate([a, b]))
    return np.array(merged)


def _components(adjacent: np.ndarray) -> list[list[int]]:
    """Connected groups of a symmetric-ish adjacency matrix (union-find)."""
    parent = list(range(len(adjacent)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(adjacent), strict=True):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[ri] = rj
    groups: dict[int, list[int]] = {}
    for i in range(len(adjacent)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _edge_pair_boxes(image: np.ndarray, aspect: float, detail: float = 1.0) -> list[np.ndarray]:
    """Rectangles whose long sides are two long, nearly parallel line segments.

    The long sides of a cassette or strip are its most persistent cue: they survive
    low contrast against the table, print that splits the face, and blur.
    """
    h, w = image.shape[:2]
    # Thin strips need more pixels across than cassettes to show both sides.
    f = min(1.0, detail * (_LINE_SIDE if aspect < 6 else 1.5 * _LINE_SIDE) / max(h, w))
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    seg = _segments(grey, 0.04)
    if aspect >= 6 and detail > 1:
        # The finer look, for a strip: on ruled or squared paper or wood grain the
        # background's lines cut the strip's sides into pieces, or merge with them where
        # they run within the detector's 22.5 degrees, and a cream strip on tinted paper
        # barely differs in grey. Its sides are searched again where thin lines are gone
        # and only the difference from the background's colour is left; the pairs are
        # ranked on that difference too (a gap between ruled lines has none). Without the
        # texture, shorter pieces count: a side split by the print (a handle's arrows).
        grey = _off_background(small)
        seg = np.concatenate([seg, _segments(grey, 0.02)])
    if len(seg) < 2:
        return []
    d = seg[:, 2:] - seg[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    u = d / length[:, None]
    u[u[:, 0] < 0] *= -1  # direction modulo 180 degrees
    mid = (seg[:, :2] + seg[:, 2:]) / 2
    n = len(seg)
    i, j = np.triu_indices(n, 1)
    cos = np.abs((u[i] * u[j]).sum(1))
    axis = u[i] + np.sign((u[i] * u[j]).sum(1))[:, None] * u[j]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    normal = np.stack([-axis[:, 1], axis[:, 0]], 1)
    sep = np.abs(((mid[j] - mid[i]) * normal).sum(1))
    full = aspect * sep
    longest = np.maximum(length[i], length[j])
    ok = (cos > math.cos(math.radians(10))) & (sep > 3) & (longest < 1.2 * full)
    ok &= np.minimum(length[i], length[j]) > 0.25 * full
    # Ruled paper and tiles make many pairs: first those that show most of the expected
    # length and whose inside looks unlike the outside.
    cover = np.minimum((length[i] + length[j]) / (2 * np.maximum(full, 1e-6)), 1.0)
    picked = np.nonzero(ok)[0]
    if len(picked) > _MAX_PAIRS:
        contrast = _inside_contrast(
            grey, mid[i[picked]], mid[j[picked]], axis[picked], full[picked]
        )
        picked = picked[np.argsort(-(cover[picked] * contrast))][:_MAX_PAIRS]
    boxes = []
    for k in picked:
        a, b = i[k], j[k]
        ax, nm = axis[k], normal[k]
        ends = np.array([seg[a, :2], seg[a, 2:], seg[b, :2], seg[b, 2:]])
        along = ends @ ax
        lo, hi = along.min(), along.max()
        if hi - lo > 1.3 * full[k]:
            continue
        across = ((mid[a] + mid[b]) / 2) @ nm
        # Where the segments stop short of the ends, the cassette may extend either way.
        centres = {round((lo + hi) / 2, 1)}
        if hi - lo < 0.85 * full[k]:
            centres |= {round(lo + full[k] / 2, 1), round(hi - full[k] / 2, 1)}
        for c in centres:
            centre = ax * c + nm * across
            half_l, half_w = ax * full[k] / 2, nm * sep[k] / 2
            box = np.array(
                [
                    centre - half_l - half_w,
                    centre + half_l - half_w,
                    centre + half_l + half_w,
                    centre - half_l + half_w,
                ]
            )
            boxes.append(box / f)
    return boxes


def _segments(grey: np.ndarray, min_frac: float) -> np.ndarray:
    """The 150 longest line segments (n, 4) of a grey image, collinear pieces of one edge
    joined, at least ``min_frac`` of the image's long side long."""
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_NONE).detect(grey)[0]
    if found is None:
        return np.zeros((0, 4))
    seg = found.reshape(-1, 4).astype(float)
    # Texture gives thousands of tiny segments: only pieces of real edges are worth joining.
    piece = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    seg = seg[np.argsort(-piece)[: min(300, int((piece >= 0.015 * max(grey.shape)).sum()))]]
    seg = _merge_collinear(seg, 2.0)
    if len(seg) == 0:
        return np.zeros((0, 4))
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    order = np.argsort(-length)[:150]
    return seg[order[length[order] >= min_frac * max(grey.shape)]]


_THIN_PX = 5
"""Lines up to about this many px wide (in the finer strip search's image) are background
pattern: ruled and squared paper's lines and wood grain are 1-3 px there, a strip 10 % of
a photo's width 10 px across (read benchmark's wide slice, photo 016)."""


def _off_background(small: np.ndarray) -> np.ndarray:
    """How far each pixel's colour lies from the background's, thin lines removed (uint8).

    Dark and light lines thinner than :data:`_THIN_PX` are wiped out first; the
    background's colour is the image's median (the table or paper
    fills most of a photo). Distance in Lab, 3 per unit, clipped at 255.

    Examples
    --------
    >>> paper = np.full((60, 60, 3), 200, np.uint8)
    >>> paper[::10] = 90  # ruled lines
    >>> paper[20:40, 25:35] = (40, 40, 200)  # something red on it
    >>> d = _off_background(paper)
    >>> int(d[5, 5]), int(d[15, 5]) < 10, int(d[30, 30]) > 100
    (0, True, True)
    """
    lab = cv2.cvtColor(without_thin_lines(small, _THIN_PX), cv2.COLOR_BGR2Lab).astype(np.float32)
    background = np.median(lab.reshape(-1, 3), axis=0)
    distance = np.sqrt(((lab - background) ** 2).sum(axis=2))
    return np.clip(3 * distance, 0, 255).astype(np.uint8)


def _dedupe(boxes: list[np.ndarray]) -> list[np.ndarray]:
    kept: list[np.ndarray] = []
    for box in boxes:
        size = np.linalg.norm(box[2] - box[0])
        if all(np.abs(box.mean(0) - k.mean(0)).max() > 0.05 * size for k in kept):
            kept.append(box)
    return kept


def _template_profile(kit: Kit) -> tuple[Axis, np.ndarray, float]:
    """The template's outline axis, its structure profile along it, and the profile's span (mm).

    The span reaches past both ends so that the ends' edges are part of the pattern.
    Each unit's code fills its box with busy structure, so the box gets a stand-in
    pattern of random modules rather than the template's blank.
    """
    model = kit_model(kit)
    if model.profile:
        return model.profile[0]
    frame = Axis.of(model.outline)
    face = kit.template[:, :, :3].copy()
    if kit.code_box is not None:
        c = kit.code_box
        modules = np.random.default_rng(0).integers(0, 2, (25, 25)).astype(np.uint8) * 255
        size = max(1, round(c.size))
        face[round(c.y) : round(c.y) + size, round(c.x) : round(c.x) + size] = cv2.resize(
            modules, (size, size), interpolation=cv2.INTER_NEAREST
        )[:, :, None]
    face = face.astype(np.float32) * (kit.template[:, :, 3:4] / 255.0)
    span = 1.15 * frame.length / kit.px_per_mm
    found = (frame, _profile(face, frame, span, kit.px_per_mm), span)
    model.profile.append(found)
    return found


def _profile(
    source: np.ndarray | Pyramid, frame: Axis, span_mm: float, px_per_mm: float
) -> np.ndarray:
    """Mean structure across the middle of a rectangle, sampled along its axis over ``span_mm``.

    Edges across the axis (band and print edges, the ends) make the peaks; the long
    sides, whose look depends on the table, are left out. A photo is sampled from the
    pyramid level nearest the sampling step, which stands in for anti-aliasing.
    """
    n_along = max(8, round(span_mm * _PROFILE_PPM))
    width_mm = frame.width / px_per_mm
    n_across = max(3, round(0.6 * width_mm * _PROFILE_PPM))
    step = px_per_mm / _PROFILE_PPM  # image px per sample
    if isinstance(source, Pyramid):
        k = source.level(step)
        image = source.levels[k]
    else:
        k = 0
        image = cv2.GaussianBlur(source, (0, 0), 0.4 * step) if step > 1.5 else source
    shrink = 0.5**k
    # Sample (i, j) -> image: centre + axis * (i - n_along / 2) * step + normal * (j - ...)
    ox = (
        frame.centre
        - frame.axis * step * (n_along - 1) / 2
        - frame.normal * step * (n_across - 1) / 2
    )
    m = (
        np.array(
            [
                [frame.axis[0] * step, frame.normal[0] * step, ox[0]],
                [frame.axis[1] * step, frame.normal[1] * step, ox[1]],
            ]
        )
        * shrink
    )
    strip = cv2.warpAffine(
        image,
        m,
        (n_along, n_across),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return edge_strength(strip).mean(axis=0).astype(float)


def box_hypotheses(
    kit: Kit, image: np.ndarray | Pyramid, box: np.ndarray
) -> list[tuple[float, np.ndarray]]:
    """Place the template on a candidate rectangle: its width (or, where blur has widened a
    thin one, its length) fixes the scale across, the structure profile along the axis
    fixes scale, position and which end is which.

    Returns (profile correlation, template -> image homography) pairs, best first.
    """
    tframe, tprofile, _ = _template_profile(kit)
    width_mm = tframe.width / kit.px_per_mm
    length_mm = tframe.length / kit.px_per_mm
    frame = Axis.of(box)
    # The box's width gives the scale, but blur and the regions' dilation widen an outline
    # by a few pixels on every side: on a strip a few pixels across that is a scale 1.5-2x
    # too large, beyond the search along the axis. Its length, many times longer, loses
    # only a little to the same pixels: where the two disagree, try the scale from each.
    scales = [frame.width / width_mm]
    by_length = frame.length / length_mm
    if abs(math.log(by_length / scales[0])) > _SCALE_DISAGREES:
        scales.append(by_length)
    span = 1.9 * length_mm
    found = []
    for px_per_mm in scales:
        if px_per_mm >= 0.8:
            found += _profile_matches(image, frame, tprofile, span, px_per_mm)
    found.sort(key=lambda f: -f[0])
    out = []
    for ncc_value, px_per_mm, flip, scale, o, n in found[:2]:
        # Template centre lands at profile sample o + (n - 1) / 2.
        centre_mm = (o + (n - 1) / 2) / _PROFILE_PPM - span / 2 + 0.5 / _PROFILE_PPM
        centre = frame.centre + frame.axis * centre_mm * px_per_mm
        k = px_per_mm / kit.px_per_mm  # image px per template px, across
        along = frame.axis * k * scale * flip
        across = frame.normal * k * flip
        # template px -> (along, across) template px about the template's centre -> image
        rot = np.array([tframe.axis, tframe.normal])  # rows: template axis, normal
        lin = np.column_stack([along, across]) @ rot
        h = np.eye(3)
        h[:2, :2] = lin
        h[:2, 2] = centre - lin @ tframe.centre
        out.append((ncc_value, h))
    return out


def _profile_matches(
    image: np.ndarray | Pyramid,
    frame: Axis,
    tprofile: np.ndarray,
    span_mm: float,
    px_per_mm: float,
) -> list[tuple[float, float, int, float, int, int]]:
    """The template's profile slid along the box's, sampled over ``span_mm`` at ``px_per_mm``:
    (correlation, px_per_mm, end, scale along, offset, samples) for each end and scale."""
    photo = _profile(image, frame, span_mm, px_per_mm)
    found = []
    for flip in (1, -1):
        base = tprofile if flip == 1 else tprofile[::-1]
        for scale in np.exp(np.linspace(math.log(0.75), math.log(1.33), 11)):
            n = max(8, round(len(base) * scale))
            if n >= len(photo):
                continue
            t = np.interp(np.linspace(0, len(base) - 1, n), np.arange(len(base)), base)
            ncc = _sliding_ncc(photo, t)
            o = int(np.argmax(ncc))
            found.append((float(ncc[o]), px_per_mm, flip, float(scale), o, n))
    return found


def _sliding_ncc(signal: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``pattern`` at every offset inside ``signal``."""
    n = len(pattern)
    p = pattern - pattern.mean()
    pn = math.sqrt(float((p * p).sum())) or 1.0
    num = np.correlate(signal, p, mode="valid")
    c1 = np.concatenate([[0.0], np.cumsum(signal)])
    c2 = np.concatenate([[0.0], np.cumsum(signal * signal)])
    s1 = c1[n:] - c1[:-n]
    s2 = c2[n:] - c2[:-n]
    var = np.maximum(s2 - s1 * s1 / n, 1e-9)
    return num / (np.sqrt(var) * pn)
