"""Charts as image files for slides: PNG (one picture) and animated GIF (a sequence of pictures).

Drawn on the server with vl-convert, which bundles Vega and needs no browser (as ui.explore_charts.svg_bytes
does for SVG); the GIF is put together with Pillow. Both are imported only when a file is made, so the
pages load without them.
"""
from __future__ import annotations

import importlib.util
import io

import altair as alt

PNG_EXPORT_AVAILABLE = importlib.util.find_spec("vl_convert") is not None
GIF_EXPORT_AVAILABLE = PNG_EXPORT_AVAILABLE and importlib.util.find_spec("PIL") is not None


def png_bytes(chart, scale: float = 1.5) -> bytes:
    """The chart (Altair chart or Vega-Lite dict, with fixed widths) as a PNG file on a white background.

    scale: pixels per chart unit; 1.5 keeps the text sharp on a projector."""
    if not PNG_EXPORT_AVAILABLE:
        raise RuntimeError("PNG export needs the vl-convert-python package (pip install vl-convert-python)")
    import vl_convert

    spec = chart.to_dict() if hasattr(chart, "to_dict") else dict(chart)
    spec.setdefault("background", "white")
    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # "v6.4.1" -> "6.4", the spec's Vega-Lite
    kwargs = {"vl_version": version} if version in vl_convert.get_vegalite_versions() else {}
    return vl_convert.vegalite_to_png(spec, scale=scale, **kwargs)


def gif_bytes(frames: list[bytes], frame_ms: int = 400, last_frame_ms: int = 2000) -> bytes:
    """PNG files -> one looping animated GIF, a frame per PNG, in order.

    Frames of different sizes are placed top-left on a white canvas of the largest size, so nothing
    jumps or is cut off. The last frame stays longer: the end state is what a class discusses."""
    if not GIF_EXPORT_AVAILABLE:
        raise RuntimeError("GIF export needs Pillow and vl-convert-python (pip install pillow vl-convert-python)")
    if not frames:
        raise ValueError("frames: no frame given: a GIF needs at least one")
    from PIL import Image

    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in frames]
    width, height = max(i.width for i in images), max(i.height for i in images)
    canvases = []
    for image in images:
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(image, (0, 0))
        # one shared adaptive palette per frame; no dithering, so flat heatmap cells stay flat
        canvases.append(canvas.quantize(colors=255, dither=Image.Dither.NONE))
    durations = [frame_ms] * (len(canvases) - 1) + [last_frame_ms]
    out = io.BytesIO()
    canvases[0].save(out, format="GIF", save_all=True, append_images=canvases[1:], duration=durations, loop=0,
                     disposal=1, optimize=False)
    return out.getvalue()
