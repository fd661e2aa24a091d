"""Thumbnails: orientation, transparency, broken images and decompression bombs."""

from __future__ import annotations

import io
from pathlib import Path

import trio
from PIL import Image

from qandu.files.thumbs import make_thumbnail


async def thumb(path: Path, max_pixels: int = 25_000_000):
    return await make_thumbnail(path, size=320, max_pixels=max_pixels, limiter=trio.CapacityLimiter(1))


async def test_photos_are_shrunk_upright(tmp_path: Path) -> None:
    photo = Image.new("RGB", (4000, 3000), "blue")
    exif = photo.getexif()
    exif[0x0112] = 6  # taken with the phone turned: displayed 3000 x 4000
    photo.save(tmp_path / "a.jpg", "JPEG", exif=exif)
    result = await thumb(tmp_path / "a.jpg")
    assert (result.width, result.height) == (3000, 4000)
    assert Image.open(io.BytesIO(result.data)).size == (240, 320)


async def test_small_and_transparent_images_keep_size_and_alpha(tmp_path: Path) -> None:
    Image.new("RGBA", (300, 100), (0, 0, 0, 0)).save(tmp_path / "b.png")
    result = await thumb(tmp_path / "b.png")
    image = Image.open(io.BytesIO(result.data))
    assert image.format == "WEBP" and image.size == (300, 100) and image.mode == "RGBA"


async def test_broken_and_oversized_images_get_no_thumbnail(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    assert (await thumb(tmp_path / "bad.png")).data is None
    Image.new("L", (3000, 2000)).save(tmp_path / "big.png")
    result = await thumb(tmp_path / "big.png", max_pixels=5_000_000)
    assert result.data is None and (result.width, result.height) == (3000, 2000)
