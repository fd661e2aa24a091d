"""Thumbnails for the chat view (Pillow), made in a worker thread, never on the trio loop."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import attrs
import trio
from PIL import Image, ImageOps

log = logging.getLogger("qandu.files")

#: Thumbnails are WebP: small, with transparency, shown by every current browser.
THUMBNAIL_TYPE = "image/webp"


@attrs.frozen
class Thumbnail:
    data: bytes | None
    """The WebP bytes, or ``None`` when the image could not (or should not) be shrunk."""
    width: int | None
    height: int | None


def _make(path: Path, size: int, max_pixels: int) -> Thumbnail:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    log.info("no thumbnail for %s: %dx%d pixels", path.name, width, height)
                    return Thumbnail(None, width, height)
                if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation: turned sideways
                    width, height = height, width
                image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale (no-op for others)
                shown = ImageOps.exif_transpose(image)  # the first frame of an animation
                shown.thumbnail((size, size))
                if shown.mode not in ("RGB", "RGBA"):
                    transparent = "A" in shown.getbands() or "transparency" in shown.info
                    shown = shown.convert("RGBA" if transparent else "RGB")
                out = io.BytesIO()
                shown.save(out, "WEBP", quality=80, method=4)
                return Thumbnail(out.getvalue(), width, height)
        except (
            OSError,
            ValueError,
            SyntaxError,
            EOFError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as exc:
            log.info("no thumbnail for %s: %s", path.name, exc)
            return Thumbnail(None, None, None)


async def make_thumbnail(
    path: Path, *, size: int, max_pixels: int, limiter: trio.CapacityLimiter
) -> Thumbnail:
    """Shrink the image at ``path`` to fit ``size`` x ``size`` (EXIF orientation applied).

    ``limiter`` bounds how many images are decoded at once (each may take tens of MB).
    """
    return await trio.to_thread.run_sync(_make, path, size, max_pixels, limiter=limiter)
