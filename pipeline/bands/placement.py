"""Where a kit's lines may sit on a real unit, relative to the template's ``at``.

Cassettes place the whole line pattern up to 1.5 mm from the template positions
(moulding and striping tolerances), keeping the spacing between lines nearly
constant; the locator adds its own error on top: a shift, and a scale error of
up to the kit's window tolerance (``kit.window_tolerance.scale``, by default
6 %, the widest the window search tries), which stretches the spacing.
"""

from __future__ import annotations

# Search half-range for the whole line pattern: cassettes place lines up to 1.5 mm
# from the template positions (TOLERANCE_MM), plus the locator's own error.
SEARCH_MM = 2.1
TOLERANCE_MM = 1.6
# The pattern's spacing may differ from the template by the window's scale
# tolerance plus this much: striping varies the spacing a little unit to unit
# and the window search samples scales in steps, so a found window is off by
# part of a step besides.
SCALE_SLACK = 0.03
# Scales tried between the limits, in steps of this share of the spacing.
SCALE_STEP = 0.01
# Local search for each line around the pattern's place, and around its place
# once the pattern is anchored on clear lines (spacing varies a little unit to unit).
LOCAL_MM = 0.3
ANCHORED_MM = 0.4
# A line anchors the pattern only when it is clearly there.
ANCHOR_SNR = 6.0
# Lines run across the rectified window within a few degrees (units tilt their
# lines up to 2, the window search leaves a degree or two); a window found turned
# further is read along its marks up to this angle. Beyond it, most of the box
# lies off the unit's window: what it shows says nothing about the lines.
MAX_TILT_DEG = 30.0
