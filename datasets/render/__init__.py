"""Synthetic phone photos of used test kits, with exact ground truth.

:func:`render_photo` draws one photo of one unit of a kit: the cassette (or
strip) face from the kit's template with a membrane, its lines and the unit's
QR code, lifted into a 3-D scene (side walls, drop shadow, tilt, any
rotation) on a textured table with clutter, then lit, blurred, noised and
JPEG-compressed like a phone camera would.

Photometry is what the readers depend on. The scene is composed in **linear
light** and encoded to sRGB only at the end, but a line's optical density is
defined, as readers (and the example photos' truth) measure it, on the
*encoded* pixel values: ``-log10(line / membrane beside it)`` in the dye's
strongest channel of the decoded photo is the ``od`` in the truth, up to blur,
noise and JPEG loss. :func:`linear_od` converts it to the linear-light density
that multiplies the membrane's reflectance by ``10 ** (-linear_od * a[c])`` in
channel ``c``, where ``a`` is the dye's relative absorbance (strongest channel
1). sRGB is close to a 2.2 power law over membrane tones, so lighting, colour
casts and exposure, all multiplicative in linear light, leave the encoded
ratio nearly unchanged. Glare is additive and is kept off the window in
photos labelled fit.

The homography returned maps template pixels to photo pixels (OpenCV pixel
convention: integer coordinates at pixel centres, in both images).

Modules, one idea each:

- :mod:`~datasets.render.photo`: :func:`render_photo` (orchestration), :class:`RenderedPhoto`.
- :mod:`~datasets.render.variation`: :class:`Variation`, how a real unit and phone differ from
  the kit description, and :func:`draw_variation` by named profile.
- :mod:`~datasets.render.truth`: the truth record by the kit's criteria.
- :mod:`~datasets.render.colour`: linear light, sRGB, optical density.
- :mod:`~datasets.render.draw`: antialiased drawing on float images, smooth noise.
- :mod:`~datasets.render.scene`: table, clutter, light and glare.
- :mod:`~datasets.render.face`: one unit's face from the template.
- :mod:`~datasets.render.membrane`: membrane, lines, stains and ghost marks.
- :mod:`~datasets.render.rim`: the moulded window: misregistered, bevelled, shaded.
- :mod:`~datasets.render.codes`: the unit's QR code, printed or on a hand-applied label.
- :mod:`~datasets.render.camera`: the kit's pose and framing in the photo.
- :mod:`~datasets.render.composite`: the kit as a solid (shadow, walls, face).
- :mod:`~datasets.render.optics`: blur, burst motion, noise, phone denoise and sharpening, JPEG.
"""

from datasets.kits import DYE_ABSORBANCE
from datasets.render.colour import linear_od, to_linear, to_srgb
from datasets.render.photo import FLAWS, SIZES, RenderedPhoto, render_photo
from datasets.render.truth import VISIBLE_OD, kit_truth
from datasets.render.variation import PROFILES, Variation, draw_variation

__all__ = [
    "DYE_ABSORBANCE",
    "FLAWS",
    "PROFILES",
    "SIZES",
    "VISIBLE_OD",
    "RenderedPhoto",
    "Variation",
    "draw_variation",
    "kit_truth",
    "linear_od",
    "render_photo",
    "to_linear",
    "to_srgb",
]
