"""Where a kit's lines may sit on a real unit, relative to the template's ``at``.

Cassettes place the whole line pattern up to 1.5 mm from the template positions
(moulding and striping tolerances), keeping the spacing between lines nearly
constant; the locator adds its own error on top.
"""

from __future__ import annotations

# Search half-range for the whole line pattern: cassettes place lines up to 1.5 mm
# from the template positions (TOLERANCE_MM), plus the locator's own error.
SEARCH_MM = 2.1
TOLERANCE_MM = 1.6
# Local search for each line around the pattern's place, and around its place
# once the pattern is anchored on clear lines (spacing varies a little unit to unit).
LOCAL_MM = 0.3
ANCHORED_MM = 0.4
# A line anchors the pattern only when it is clearly there.
ANCHOR_SNR = 6.0
