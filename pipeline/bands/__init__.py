"""Read the lines on the rectified result window: optical-density profile, line finding, features.

The rectified window (see :func:`pipeline.rectify.rectify_window`) has the flow
running left to right, the sample side at column 0 and rows across the flow.
This package turns it into

1. a :class:`Profile` (:mod:`~pipeline.bands.profile`): background-corrected
   optical density (OD) along the flow in the colour channel the lines absorb most,
2. one :class:`LineMeasurement` per kit line (:func:`find_lines`,
   :mod:`~pipeline.bands.lines`): the control line is searched widely and
   anchors the test lines, whose spacing from it is nearly constant on real
   cassettes (tolerances in :mod:`~pipeline.bands.placement`), and
3. a fixed-length feature vector per line (:func:`line_features`,
   :mod:`~pipeline.bands.features`), the input of the band model;
   :func:`band_probability` (:mod:`~pipeline.bands.rule`) is the model-free default.
"""

from pipeline.bands.features import FEATURE_NAMES, line_features
from pipeline.bands.lines import (
    LineMeasurement,
    control_confirms_window,
    doubt_faint_controls,
    find_lines,
    unknown_where_unreadable,
)
from pipeline.bands.profile import Domain, Profile, optical_density_profile
from pipeline.bands.rule import band_probability
from pipeline.color import line_color_channel, srgb_to_linear

__all__ = [
    "FEATURE_NAMES",
    "Domain",
    "LineMeasurement",
    "Profile",
    "band_probability",
    "control_confirms_window",
    "doubt_faint_controls",
    "find_lines",
    "line_color_channel",
    "line_features",
    "optical_density_profile",
    "srgb_to_linear",
    "unknown_where_unreadable",
]
