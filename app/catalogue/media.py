"""Video probing, transcoding and sample generation — the only module that runs ffmpeg/ffprobe.

Pure functions on file paths; every failure a user could cause surfaces as ``MediaError`` with a
Chinese ``reason`` fit to show to an administrator.
"""
from __future__ import annotations

import collections
import functools
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable

import ffmpeg

MAX_DURATION_SECONDS = 4 * 3600

VIDEO_NAME = "video.mp4"
POSTER_NAME = "poster.jpg"

# Demuxers allowed to read an uploaded file for transcoding. A whitelist keeps playlist/indirection
# formats (hls, concat, …) from making ffmpeg open other files or URLs named inside an upload.
_VIDEO_DEMUXERS = frozenset(
    {"mov", "mp4", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "asf", "ogg", "rm", "mxf", "dv"}
)
# Additionally allowed while probing only, so that images and audio files get a precise message.
_IMAGE_DEMUXERS = frozenset(
    {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "gif", "gif_pipe", "webp_pipe", "tiff_pipe",
     "apng", "svg_pipe", "qoi_pipe", "jpegxl_pipe", "j2k_pipe", "psd_pipe", "ppm_pipe", "pgm_pipe"}
)
_AUDIO_DEMUXERS = frozenset({"mp3", "wav", "aac", "flac", "amr", "ape", "w64", "aiff"})
# Codecs that only ever hold still pictures (mjpeg is deliberately absent: cameras record it as video).
_STILL_CODECS = frozenset(
    {"png", "apng", "bmp", "gif", "tiff", "webp", "jpegls", "jpegxl", "qoi", "svg", "pam", "pbm",
     "pgm", "ppm", "pcx", "sgi", "targa", "xbm", "xwd", "psd", "photocd"}
)

_DECODE_CHECK_TIMEOUT = 300
_POSTER_TIMEOUT = 120
_SAMPLE_BG = "0x8B1A1A"
_FONT_FAMILY = "Noto Sans CJK SC"
_FALLBACK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


class MediaError(Exception):
    """reason: a Chinese message fit to show to an administrator."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProbeResult:
    duration: float  # seconds
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    format_name: str


@dataclass(frozen=True)
class TranscodeResult:
    duration: float
    width: int
    height: int
    size_bytes: int
    video_path: str  # absolute path of the produced MP4
    poster_path: str  # absolute path of the produced JPEG


@dataclass(frozen=True)
class _Inspection:
    """What probe() learned, plus the stream details transcode() needs."""

    result: ProbeResult
    video_index: int
    audio_index: int | None
    audio_rate: int | None
    sar: str | None


# --------------------------------------------------------------------------- binaries and fonts


def _ffmpeg_bin() -> str:
    return shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def _ffprobe_bin() -> str:
    return shutil.which("ffprobe") or "/usr/bin/ffprobe"


def _run(args: list[str], timeout: float | None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise MediaError("服务器未安装 ffmpeg，无法处理视频") from None
    except subprocess.TimeoutExpired:
        raise MediaError("处理视频超时，文件可能已损坏") from None


def _fc_match(pattern: str) -> tuple[str, str, str] | None:
    """(file, family, langs) of fontconfig's best match for pattern, or None."""
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}\n%{family}\n%{lang}\n", pattern],
            capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split("\n")
    if out.returncode != 0 or len(lines) < 3 or not lines[0]:
        return None
    return lines[0], lines[1], lines[2]


def font_path() -> str:
    """Path of a font file able to render Simplified Chinese."""
    match = _fc_match(_FONT_FAMILY)
    if match:
        file, family, langs = match
        if os.path.isfile(file) and ("CJK" in family or "zh-cn" in langs.split("|")):
            return file
    for file in _FALLBACK_FONTS:
        if os.path.isfile(file):
            return file
    raise MediaError("未找到中文字体，请在服务器上安装 fonts-noto-cjk 后重试")


@functools.lru_cache(maxsize=1)
def _ffmpeg_has_fontconfig() -> bool:
    try:
        out = subprocess.run([_ffmpeg_bin(), "-hide_banner", "-buildconf"], capture_output=True,
                             text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--enable-libfontconfig" in out.stdout + out.stderr


def _drawtext_font() -> dict[str, str]:
    """drawtext options selecting the CJK font.

    Noto CJK ships as a .ttc collection whose face 0 is the Japanese one, and drawtext's fontfile=
    always loads face 0 (Japanese glyph forms for 直, 骨, 写 …). When ffmpeg has fontconfig and the
    Simplified Chinese family is installed, select it by family name so the SC face is used.
    """
    path = font_path()
    match = _fc_match(_FONT_FAMILY)
    if match and match[1].split(",")[0] == _FONT_FAMILY and _ffmpeg_has_fontconfig():
        return {"font": _FONT_FAMILY}
    return {"fontfile": path}


# --------------------------------------------------------------------------- probing


def _input_options(demuxers: frozenset[str]) -> dict[str, str]:
    return {"protocol_whitelist": "file", "format_whitelist": ",".join(sorted(demuxers))}


def _demuxer_in(format_name: str, demuxers: frozenset[str]) -> bool:
    return any(name in demuxers for name in format_name.split(","))


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or ():
        if "rotation" in side:
            return int(_number(side["rotation"]) or 0)
    return int(_number((stream.get("tags") or {}).get("rotate")) or 0)


_MP4_TOP_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"})


def _looks_like_mp4(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] in _MP4_TOP_BOXES


def _ffprobe_json(path: str, demuxers: frozenset[str]) -> dict:
    try:
        return ffmpeg.probe(path, cmd=_ffprobe_bin(), v="error", **_input_options(demuxers))
    except FileNotFoundError:
        raise MediaError("服务器未安装 ffprobe，无法读取视频") from None
    except ffmpeg.Error as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace")
        # ffmpeg falls back to the mov demuxer for any *.mp4 name, so "moov atom not found" only
        # means "truncated" when the file really starts like an ISO-BMFF/QuickTime file.
        if "moov atom not found" in detail and _looks_like_mp4(path):
            raise MediaError("视频文件已损坏或不完整（缺少索引信息，可能未上传完整）") from None
        raise MediaError("文件不是可识别的视频格式，请上传 MP4、MOV、MKV 等常见视频文件") from None
    except ValueError:  # unparsable JSON
        raise MediaError("文件不是可识别的视频格式，请上传 MP4、MOV、MKV 等常见视频文件") from None


def _inspect(path: str) -> _Inspection:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise MediaError("找不到视频文件")
    if os.path.getsize(path) == 0:
        raise MediaError("文件为空（0 字节），请重新上传")

    info = _ffprobe_json(path, _VIDEO_DEMUXERS | _IMAGE_DEMUXERS | _AUDIO_DEMUXERS)
    fmt = info.get("format") or {}
    format_name = fmt.get("format_name") or ""
    streams = info.get("streams") or []

    if _demuxer_in(format_name, _IMAGE_DEMUXERS):
        raise MediaError("文件中没有视频画面（这是一张图片，不是视频）")
    video = next(
        (s for s in streams
         if s.get("codec_type") == "video"
         and not (s.get("disposition") or {}).get("attached_pic")
         and s.get("codec_name") not in _STILL_CODECS),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        if audio is not None:
            raise MediaError("文件中没有视频画面（只有声音）")
        raise MediaError("文件中没有视频画面")
    if not _demuxer_in(format_name, _VIDEO_DEMUXERS):
        raise MediaError("不支持的视频格式，请转换为 MP4 后上传")

    duration = _number(fmt.get("duration"))
    if duration is None:
        duration = _number(video.get("duration"))
    if duration is None or duration <= 0:
        raise MediaError("无法读取视频时长，视频文件已损坏或不完整")
    if duration > MAX_DURATION_SECONDS:
        hours, minutes = divmod(int(duration) // 60, 60)
        raise MediaError(
            f"视频时长超过 {MAX_DURATION_SECONDS // 3600} 小时上限（本视频约 {hours} 小时 {minutes} 分钟）"
        )
    width, height = int(_number(video.get("width")) or 0), int(_number(video.get("height")) or 0)
    if width <= 0 or height <= 0:
        raise MediaError("无法读取视频画面尺寸，视频文件已损坏或不完整")
    if abs(_rotation(video)) % 180 == 90:
        width, height = height, width  # report the displayed (rotated) size

    audio_index = int(audio["index"]) if audio is not None else None
    _decode_check(path, duration, int(video["index"]), audio_index)

    sar = video.get("sample_aspect_ratio")
    return _Inspection(
        result=ProbeResult(
            duration=duration,
            width=width,
            height=height,
            video_codec=video.get("codec_name") or "unknown",
            audio_codec=audio.get("codec_name") if audio is not None else None,
            format_name=format_name,
        ),
        video_index=int(video["index"]),
        audio_index=audio_index,
        audio_rate=(int(_number(audio.get("sample_rate")) or 0) or None) if audio is not None else None,
        sar=sar if sar and sar not in ("0:1", "1:1", "N/A") else None,
    )


def _decode_check(path: str, duration: float, video_index: int, audio_index: int | None) -> None:
    """Decode the first and the last two seconds; any decoder/demuxer error means a damaged file."""
    for start in sorted({0.0, max(0.0, duration - 2.0)}):
        options = _input_options(_VIDEO_DEMUXERS)
        if start:
            options["ss"] = f"{start:.3f}"
        inp = ffmpeg.input(path, **options)
        streams = [inp[str(video_index)]]
        if audio_index is not None:
            streams.append(inp[str(audio_index)])
        args = (
            ffmpeg.output(*streams, "-", format="null", t="2")
            .global_args("-hide_banner", "-nostdin", "-v", "error")
            .compile(cmd=_ffmpeg_bin())
        )
        done = _run(args, timeout=_DECODE_CHECK_TIMEOUT)
        if done.returncode != 0 or done.stderr.strip():
            raise MediaError("视频文件已损坏或不完整，请检查后重新上传")


def probe(path: str) -> ProbeResult:
    """ffprobe path and verify it is a playable video; raise MediaError otherwise."""
    return _inspect(path).result


def _probe_output(path: str) -> tuple[float, int, int]:
    """(duration, width, height) of a file this module just wrote."""
    info = _ffprobe_json(path, frozenset({"mov"}))
    video = next((s for s in info.get("streams") or [] if s.get("codec_type") == "video"), {})
    duration = _number((info.get("format") or {}).get("duration")) or 0.0
    return duration, int(video.get("width") or 0), int(video.get("height") or 0)


# --------------------------------------------------------------------------- running ffmpeg


class _Progress:
    """Turns ffmpeg's out_time_us into monotonically increasing whole percents."""

    def __init__(self, callback: Callable[[int], None] | None, duration: float):
        self.callback = callback
        self.duration_us = max(duration, 0.001) * 1_000_000
        self.last = -1

    def report(self, percent: int) -> None:
        percent = max(0, min(100, percent))
        if self.callback is not None and percent > self.last:
            self.last = percent
            self.callback(percent)

    def feed(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            self.report(min(99, int(int(value) * 100 // self.duration_us)))


_GENERIC_STDERR = re.compile(
    r"^(Conversion failed!|Error while .*|Exiting normally.*|Error (opening|initializing) (output|filters?).*)$",
    re.IGNORECASE,
)


def _last_meaningful(lines) -> str:
    lines = [line.strip() for line in lines if line.strip()]
    for line in reversed(lines):
        if not _GENERIC_STDERR.match(line):
            return line[:300]
    return lines[-1][:300] if lines else "未知错误"


def _run_with_progress(args: list[str], progress: _Progress) -> None:
    """Run an ffmpeg command that has -progress pipe:1; raise MediaError on failure."""
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace")
    except FileNotFoundError:
        raise MediaError("服务器未安装 ffmpeg，无法处理视频") from None
    tail: collections.deque[str] = collections.deque(maxlen=40)
    reader = threading.Thread(target=lambda: tail.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        for line in proc.stdout:
            progress.feed(line)
        proc.wait()
    finally:
        if proc.poll() is None:  # the callback raised: stop ffmpeg before propagating
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != 0:
        raise MediaError(f"转码失败:{_last_meaningful(tail)}")


def _extract_poster(video: str, poster: str, duration: float) -> None:
    """Write a JPEG of the frame at min(3 s, 10 % of the duration), falling back to the first frame."""
    for at in (min(3.0, duration * 0.1), 0.0):
        args = (
            ffmpeg.input(video, ss=f"{at:.3f}")
            .output(poster, format="image2", vcodec="mjpeg", vframes=1, update=1, **{"q:v": 3})
            .global_args("-hide_banner", "-nostdin", "-v", "error")
            .compile(cmd=_ffmpeg_bin(), overwrite_output=True)
        )
        done = _run(args, timeout=_POSTER_TIMEOUT)
        if done.returncode == 0 and os.path.getsize(poster) > 0:
            return
    detail = _last_meaningful(done.stderr.decode("utf-8", "replace").splitlines())
    raise MediaError(f"生成封面图失败:{detail}")


def _produce(dest_dir: str, encode: Callable[[str], None],
             progress: _Progress) -> TranscodeResult:
    """Run encode(tmp_mp4), extract the poster, then move both into place atomically."""
    dest_dir = os.path.abspath(dest_dir)
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp_video = tempfile.mkstemp(dir=dest_dir, prefix=".video-", suffix=".mp4")
    os.close(fd)
    fd, tmp_poster = tempfile.mkstemp(dir=dest_dir, prefix=".poster-", suffix=".jpg")
    os.close(fd)
    try:
        progress.report(0)
        encode(tmp_video)
        duration, width, height = _probe_output(tmp_video)
        if duration <= 0 or width <= 0 or height <= 0:
            raise MediaError("转码失败:输出文件无效")
        _extract_poster(tmp_video, tmp_poster, duration)
        size = os.path.getsize(tmp_video)
        for tmp in (tmp_video, tmp_poster):  # mkstemp creates 0600; the web server must read them
            os.chmod(tmp, 0o644)
        video_path = os.path.join(dest_dir, VIDEO_NAME)
        poster_path = os.path.join(dest_dir, POSTER_NAME)
        os.replace(tmp_video, video_path)
        os.replace(tmp_poster, poster_path)
    finally:
        for tmp in (tmp_video, tmp_poster):
            if os.path.exists(tmp):
                os.remove(tmp)
    progress.report(100)
    return TranscodeResult(duration=duration, width=width, height=height, size_bytes=size,
                           video_path=video_path, poster_path=poster_path)


_PROGRESS_ARGS = ("-hide_banner", "-nostdin", "-v", "error", "-progress", "pipe:1", "-nostats")


# --------------------------------------------------------------------------- transcode


def transcode(src: str, dest_dir: str, on_progress: Callable[[int], None] | None = None, *,
              max_height: int = 720) -> TranscodeResult:
    """Transcode src to a web-friendly H.264/AAC MP4 (dest_dir/video.mp4) plus dest_dir/poster.jpg."""
    src = os.path.abspath(src)
    info = _inspect(src)
    duration = info.result.duration
    max_height = max(2, max_height - max_height % 2)

    def encode(out_path: str) -> None:
        inp = ffmpeg.input(src, **_input_options(_VIDEO_DEMUXERS))
        video = inp[str(info.video_index)].filter("yadif", deint="interlaced")
        if info.sar:  # anamorphic source: make pixels square first
            video = video.filter("scale", "trunc(iw*sar/2)*2", "ih").filter("setsar", "1")
        # Never upscale; even dimensions; width follows the aspect ratio.
        video = video.filter("scale", -2, f"trunc(min(ih,{max_height})/2)*2").filter("setsar", "1")
        if info.audio_index is not None:
            audio = inp[str(info.audio_index)]
            rate = info.audio_rate if info.audio_rate in (44100, 48000) else 48000
        else:  # the player always gets an audio track
            rate = 48000
            audio = ffmpeg.input(f"anullsrc=channel_layout=stereo:sample_rate={rate}",
                                 format="lavfi", t=f"{duration:.3f}")
        args = (
            ffmpeg.output(
                video, audio, out_path,
                format="mp4", vcodec="libx264", preset="veryfast", crf=23, pix_fmt="yuv420p",
                acodec="aac", audio_bitrate="128k", ac=2, ar=rate, movflags="+faststart",
                map_metadata=-1, map_chapters=-1, max_muxing_queue_size=4096,
            )
            .global_args(*_PROGRESS_ARGS)
            .compile(cmd=_ffmpeg_bin(), overwrite_output=True)
        )
        _run_with_progress(args, progress)

    progress = _Progress(on_progress, duration)
    return _produce(dest_dir, encode, progress)


# --------------------------------------------------------------------------- sample videos


def _clean_text(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _text_units(text: str) -> float:
    """Approximate rendered width in em: CJK/full-width characters 1, others ~0.6."""
    return sum(1.0 if ord(ch) >= 0x2E80 else 0.6 for ch in text) or 1.0


def _fit(text: str, width: int, largest: int, smallest: int) -> tuple[str, int]:
    """Font size that fits text on one line in width; truncate with … below the smallest size."""
    size = int(min(largest, width / _text_units(text)))
    if size >= smallest:
        return text, size
    while text and _text_units(text + "…") * smallest > width:
        text = text[:-1]
    return text.rstrip() + "…", smallest


_BREAK_AFTER = set("：:，,、；;。！？!?·—- ")


def _title_lines(title: str, width: int, largest: int, smallest: int) -> tuple[list[str], int]:
    """One line if it stays large enough, else two balanced lines (preferring a punctuation break)."""
    line, size = _fit(title, width, largest, smallest)
    if size >= largest * 0.6 or len(title) < 4:
        return [line], size
    total = _text_units(title)

    def cost(i: int) -> float:
        imbalance = abs(_text_units(title[:i]) - total / 2)
        return imbalance - (total * 0.15 if title[i - 1] in _BREAK_AFTER else 0)

    cut = min(range(1, len(title)), key=cost)
    first, second = title[:cut].strip(), title[cut:].strip()
    size = int(min(largest, width / max(_text_units(first), _text_units(second))))
    if size >= smallest:
        return [first, second], size
    first, _ = _fit(first, width, smallest, smallest)
    second, _ = _fit(second, width, smallest, smallest)
    return [first, second], smallest


def generate_sample(dest_dir: str, title: str, seconds: int, *, subtitle: str = "",
                    width: int = 640, height: int = 360, fps: int = 15) -> TranscodeResult:
    """Render a title-card lesson video with a running mm:ss clock and a sine tone (no input file)."""
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise ValueError(f"seconds must be in 1..{MAX_DURATION_SECONDS}")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError("width and height must be even and at least 16")
    if not 1 <= fps <= 60:
        raise ValueError("fps must be in 1..60")
    font = _drawtext_font()
    title, subtitle = _clean_text(title), _clean_text(subtitle)

    def encode(out_path: str) -> None:
        with tempfile.TemporaryDirectory(prefix="sample-text-") as tmp:
            def textfile(name: str, content: str) -> str:
                path = os.path.join(tmp, name)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(content)
                return path

            common = dict(font, fontcolor="white", x="(w-text_w)/2")
            video = ffmpeg.input(f"color=c={_SAMPLE_BG}:s={width}x{height}:r={fps}:d={seconds}",
                                 format="lavfi")
            video = video.filter("drawbox", x=0, y=f"{height - max(2, height // 60)}", w="iw",
                                 h=max(2, height // 60), color="0xD4A017", t="fill")
            title_size = int(height * 0.13)
            if title:
                lines, title_size = _title_lines(title, int(width * 0.86), title_size, 14)
                top = height * 0.44 - len(lines) * title_size * 1.3
                for i, line in enumerate(lines):
                    # Text comes from files with expansion off: no filtergraph or %-escaping needed.
                    video = video.filter("drawtext", textfile=textfile(f"title{i}.txt", line),
                                         expansion="none", fontsize=title_size,
                                         y=f"{top + i * title_size * 1.3:.0f}", **common)
            if subtitle:
                text, size = _fit(subtitle, int(width * 0.86),
                                  max(12, min(int(height * 0.065), int(title_size * 0.7))), 12)
                video = video.filter("drawtext", textfile=textfile("subtitle.txt", text),
                                     expansion="none", fontsize=size, y="h*0.52",
                                     **dict(common, fontcolor="0xF3D9A4"))
            # Running clock: strftime of the frame timestamp; inside %{…} a colon is escaped as \:.
            clock = textfile("clock.txt", "%{pts:gmtime:0:%M\\:%S}")
            video = video.filter("drawtext", textfile=clock, expansion="normal",
                                 fontsize=max(12, height // 15), box=1, boxcolor="black@0.35",
                                 boxborderw=max(2, height // 90),
                                 **dict(common, x=f"w-text_w-{width // 32}",
                                        y=f"h-text_h-{height // 12}"))
            audio = ffmpeg.input(f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                                 format="lavfi")
            args = (
                ffmpeg.output(
                    video, audio, out_path,
                    format="mp4", vcodec="libx264", preset="ultrafast", tune="stillimage",
                    pix_fmt="yuv420p", g=fps * 2, r=fps, acodec="aac", audio_bitrate="128k",
                    ac=2, ar=48000, t=seconds, movflags="+faststart",
                )
                .global_args(*_PROGRESS_ARGS)
                .compile(cmd=_ffmpeg_bin(), overwrite_output=True)
            )
            _run_with_progress(args, progress)

    progress = _Progress(None, float(seconds))
    return _produce(dest_dir, encode, progress)
