"""Heatmaps as small PNG images, with numpy and zlib only (no imaging library needed).

The TensorBoard export (lfm/store/tensorboard.py) shows the gate matrices as images. A PNG is a signature
and a list of chunks, each `length, type, data, CRC-32(type + data)` (PNG spec, ISO/IEC 15948 §5):
IHDR (size, 8-bit RGB), IDAT (the zlib-deflated rows, each prefixed with filter type 0 = none) and IEND.

Colours follow the dashboard's heat scheme, viridis (ui/chart_style.py HEAT_SCHEME): probabilities 0..1 are
interpolated linearly between five of its colours, dark purple (0) to yellow (1).
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

# viridis at 0, 0.25, 0.5, 0.75 and 1 (matplotlib's colour map, which Vega's "viridis" also follows)
VIRIDIS_STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                         dtype=np.float64)  # (5, 3) RGB


def heat_colours(values: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] (clipped; NaN reads 0) -> (H, W, 3) uint8 viridis RGB."""
    v = np.nan_to_num(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)) * (len(VIRIDIS_STOPS) - 1)
    low = np.minimum(v.astype(int), len(VIRIDIS_STOPS) - 2)  # (H, W) index of the stop below each value
    frac = (v - low)[..., None]  # (H, W, 1) position between that stop and the next
    rgb = VIRIDIS_STOPS[low] * (1 - frac) + VIRIDIS_STOPS[low + 1] * frac  # (H, W, 3)
    return np.round(rgb).astype(np.uint8)


def heatmap_rgb(values: np.ndarray, cell: int = 8) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H*cell, W*cell, 3) uint8: each value a cell × cell square, so a
    4 × 64 gate matrix stays legible when TensorBoard shows it at its own size."""
    rgb = heat_colours(values)  # (H, W, 3)
    return np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)  # (H*cell, W*cell, 3)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 RGB image as PNG."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, channels = rgb.shape
    if channels != 3 or height == 0 or width == 0:
        raise ValueError(f"expected a non-empty (H, W, 3) RGB image, got shape {rgb.shape}")
    # width, height, bit depth 8, colour type 2 (RGB), compression 0, filter 0, no interlace
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1)  # (H, 1 + 3W)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + _chunk(b"IEND", b""))
