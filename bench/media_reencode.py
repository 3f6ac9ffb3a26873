"""How long re-encoding a photo takes (conversations.media.reencode_photo), at the sizes
Telegram delivers (1280 px, its usual "photo") and a full phone camera frame (4000x3000).

Run: .venv/bin/python bench/media_reencode.py  (manual; not part of make bench)."""

from __future__ import annotations

import os
import statistics
import sys
import time
from io import BytesIO
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifeline.settings.test")
django.setup()

from PIL import Image  # noqa: E402

from lifeline.conversations.media import reencode_photo  # noqa: E402


def sample(size: tuple[int, int]) -> bytes:
    image = Image.effect_noise(size, 64).convert("RGB")  # noise: the worst case for JPEG
    buffer = BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    for size in ((1280, 960), (4000, 3000)):
        data = sample(size)
        times = []
        for _ in range(7):
            start = time.perf_counter()
            out = reencode_photo(data)
            times.append(time.perf_counter() - start)
        print(
            f"{size[0]}x{size[1]} in {len(data) // 1024} KB -> {len(out) // 1024} KB: "
            f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
