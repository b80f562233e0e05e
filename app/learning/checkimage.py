"""The picture of a still-studying check: a two-digit number drawn with noise, so that the
answer is in an image for a person, not in the page or the JSON for a script."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter, ImageFont


def _font(size: int):
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def render(number: int, seed: str) -> bytes:
    rng = random.Random(seed)
    w, h = 220, 96
    img = Image.new("RGB", (w, h), (255, 250, 240))
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        draw.line([(rng.randint(0, w), rng.randint(0, h)), (rng.randint(0, w), rng.randint(0, h))],
                  fill=(rng.randint(150, 220), rng.randint(150, 220), rng.randint(150, 220)), width=2)
    font = _font(58)
    x = 40
    for ch in str(number):
        glyph = Image.new("RGBA", (70, 90), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((8, 4), ch, font=font, fill=(140 + rng.randint(-30, 30), 20, 20, 255))
        glyph = glyph.rotate(rng.uniform(-18, 18), resample=Image.BICUBIC, expand=False)
        img.paste(glyph, (x, rng.randint(-2, 10)), glyph)
        x += 62 + rng.randint(-6, 8)
    for _ in range(300):
        draw.point((rng.randint(0, w - 1), rng.randint(0, h - 1)), fill=(rng.randint(100, 200),) * 3)
    img = img.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
