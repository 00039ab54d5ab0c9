"""How long checking and re-encoding one product photo takes (vendors.images.process_upload).

    .venv/bin/python bench/image_upload.py

Prints the time per photo for a 12-megapixel JPEG and a 4-megapixel PNG (the best of five
runs each), and the sizes of what is stored.
"""

from __future__ import annotations

import io
import time

from PIL import Image, ImageDraw

from vendors.images import process_upload


def _photo(size: tuple[int, int], kind: str) -> bytes:
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 7):
        draw.line([(x, 0), (size[0] - x, size[1])], fill=(x % 255, x * 3 % 255, x * 7 % 255),
                  width=3)
    out = io.BytesIO()
    image.save(out, kind, **({"quality": 85} if kind == "JPEG" else {}))
    return out.getvalue()


def main() -> None:
    for size, kind in (((4000, 3000), "JPEG"), ((2300, 1700), "PNG")):
        raw = _photo(size, kind)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            processed = process_upload(raw)
            best = min(best, time.perf_counter() - start)
        print(f"{kind} {size[0]}x{size[1]} ({len(raw) / 1e6:.1f} MB): {best * 1000:.0f} ms; "
              f"stored {processed.full.width}x{processed.full.height} "
              f"{len(processed.full.data) / 1e3:.0f} kB + thumbnail "
              f"{len(processed.thumb.data) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
