"""A camera's media for tests and demos: an aiortc video track of moving colour bars with the
wall clock drawn in (HH:MM:SS.mmm, a 3x5 pixel font scaled up), so a viewer sees motion and
latency, and an audio track that beeps (1 kHz, 100 ms) at the start of every wall-clock second,
so a viewer hears sound in step with the clock. Frames are built from bytes (no numpy needed);
no files, no network."""

import asyncio
import fractions
import math
import struct
import time

from aiortc import AudioStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame

FONT = {  # 3x5 glyphs, rows top to bottom, 3 bits each (MSB = left)
    "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
    "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1],
    "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], ":": [0, 2, 0, 2, 0], ".": [0, 0, 0, 0, 2],
}
BARS = [bytes(c + [255]) for c in ([235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16],
                                   [235, 16, 235], [235, 16, 16], [16, 16, 235], [16, 16, 16])]


def fill(image, width, top, left, height, span, value):
    """Sets a rectangle of the RGBA `image` (a bytearray `width` pixels wide) to grey `value`."""
    row = bytes([value, value, value, 255]) * span
    for y in range(top, top + height):
        start = 4 * (y * width + left)
        image[start:start + 4 * span] = row


def draw_text(image, width, text, x, y, scale):
    """Draws `text` (digits, ':' and '.') in white on a black box at (x, y)."""
    fill(image, width, y - scale, x - scale, 7 * scale, len(text) * 4 * scale + scale, 0)
    for i, ch in enumerate(text):
        for row, bits in enumerate(FONT.get(ch, [0] * 5)):
            for col in range(3):
                if bits & (4 >> col):
                    fill(image, width, y + row * scale, x + (i * 4 + col) * scale, scale, scale, 255)


class TestPatternTrack(VideoStreamTrack):
    """Moving colour bars and the time, at `fps` frames per second."""

    def __init__(self, width=320, height=240, fps=15):
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self._start = None

    async def recv(self):
        if self._start is None:
            self._start = time.monotonic()
        # Paced by the clock (VideoStreamTrack.next_timestamp uses 30 fps; we pick our own).
        due = self._start + self.frames / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        shift = (self.frames * 4) % self.width
        row = b"".join(BARS[(x + shift) * len(BARS) // self.width % len(BARS)] for x in range(self.width))
        image = bytearray(row * self.height)
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        scale = max(1, self.height // 60)
        draw_text(image, self.width, stamp, 8, self.height - 7 * scale - 4, scale)
        frame = VideoFrame.from_bytes(bytes(image), self.width, self.height, format="rgba")
        frame.pts = int(self.frames * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.frames += 1
        return frame


class TestToneTrack(AudioStreamTrack):
    """48 kHz mono audio in 20 ms frames: a 1 kHz beep for the first 100 ms of every wall-clock
    second, silence otherwise (the video's clock ticks with it)."""

    RATE, SAMPLES, TONE_HZ, BEEP_S, AMPLITUDE = 48000, 960, 1000, 0.1, 8000

    def __init__(self):
        super().__init__()
        self.frames = 0
        self._start = None
        period = self.RATE // self.TONE_HZ  # whole cycles, so every beep frame can be the same bytes
        cycle = [int(self.AMPLITUDE * math.sin(2 * math.pi * i / period)) for i in range(period)]
        self._beep = struct.pack(f"<{self.SAMPLES}h", *(cycle * (self.SAMPLES // period)))
        self._silence = bytes(2 * self.SAMPLES)

    async def recv(self):
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.frames * self.SAMPLES / self.RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        frame.planes[0].update(self._beep if time.time() % 1 < self.BEEP_S else self._silence)
        frame.pts = self.frames * self.SAMPLES
        frame.sample_rate = self.RATE
        frame.time_base = fractions.Fraction(1, self.RATE)
        self.frames += 1
        return frame
