"""Sample pictures for the demo, so `make demo` shows images instead of broken boxes.

The bundled feeds name pictures on invented hosts (`https://tom-express.example/…/cover.jpg`).
`local_image_urls` points those addresses at the demo's own feed server
(`<base>/images/tom-express.example/…/cover.jpg`), which answers with `picture(path)`: a
small PNG drawn from the path alone (two colours chosen by its hash, blended top to bottom),
so every picture differs and stays the same between runs. Browsers and feed readers go by the
bytes, not the `.jpg` in the name.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib

IMAGE_PREFIX = "/images/"
WIDTH, HEIGHT = 640, 400
EXAMPLE_PICTURE = re.compile(r"https?://((?:[a-z0-9-]+\.)*example)/([\w./%-]+\.(?:jpe?g|png|gif|webp))", re.IGNORECASE)


def local_image_urls(text: str, base: str) -> str:
    """The feed text with every picture on an `.example` host served from `base` instead."""
    return EXAMPLE_PICTURE.sub(lambda m: f"{base}{IMAGE_PREFIX}{m.group(1)}/{m.group(2)}", text)


def picture(path: str) -> bytes:
    """A WIDTH×HEIGHT PNG whose colours are chosen by `path`."""
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    top, bottom = digest[:3], digest[3:6]
    rows = b"".join(b"\x00" + bytes(_blend(top, bottom, y / (HEIGHT - 1))) * WIDTH for y in range(HEIGHT))
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b"")


def _blend(top: bytes, bottom: bytes, share: float) -> tuple[int, int, int]:
    r, g, b = (round(a + (z - a) * share) for a, z in zip(top, bottom, strict=True))
    return r, g, b


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
