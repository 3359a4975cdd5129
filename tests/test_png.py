"""lfm.store.png: the heat colours and the PNG encoder, checked by decoding with an independent reader."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lfm.store.png import VIRIDIS_STOPS, heat_colours, heatmap_rgb, png_bytes


def test_png_decodes_to_the_same_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    image = Image.open(io.BytesIO(png_bytes(rgb)))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (7, 5)
    np.testing.assert_array_equal(np.asarray(image), rgb)


def test_png_chunks_carry_valid_checksums():
    data = png_bytes(np.zeros((2, 3, 3), np.uint8))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, kinds = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        kinds.append(kind)
        at += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("shape", [(0, 3, 3), (2, 2), (2, 2, 4)])
def test_png_refuses_what_is_not_an_rgb_image(shape):
    with pytest.raises(ValueError):
        png_bytes(np.zeros(shape, np.uint8))


def test_heat_colours_run_from_dark_to_yellow():
    colours = heat_colours(np.array([[0.0, 0.25, 1.0, 2.0, -1.0, np.nan]]))  # (1, 6, 3)
    np.testing.assert_array_equal(colours[0, :4], VIRIDIS_STOPS[[0, 1, 4, 4]])  # stops exact, 2 clipped to 1
    np.testing.assert_array_equal(colours[0, 4], VIRIDIS_STOPS[0])  # below 0 clipped, NaN reads 0
    np.testing.assert_array_equal(colours[0, 5], VIRIDIS_STOPS[0])
    halfway = heat_colours(np.array([[0.125]]))[0, 0]
    np.testing.assert_array_equal(halfway, np.round((VIRIDIS_STOPS[0] + VIRIDIS_STOPS[1]) / 2))


def test_heatmap_cells_are_squares():
    rgb = heatmap_rgb(np.array([[0.0, 1.0]]), cell=4)  # (1, 2) -> (4, 8, 3)
    assert rgb.shape == (4, 8, 3)
    np.testing.assert_array_equal(rgb[:, :4], np.broadcast_to(VIRIDIS_STOPS[0], (4, 4, 3)))
    np.testing.assert_array_equal(rgb[:, 4:], np.broadcast_to(VIRIDIS_STOPS[4], (4, 4, 3)))
