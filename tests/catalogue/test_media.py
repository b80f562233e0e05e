"""app.catalogue.media against the real ffmpeg, on tiny inputs generated in tmp_path."""
from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from app.catalogue import media

CJK = re.compile(r"[\u4e00-\u9fff]")


def ffmpeg(*args: str) -> bytes:
    done = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
                          capture_output=True, check=True)
    return done.stdout


def top_level_boxes(path) -> list[str]:
    boxes, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        boxes.append(kind.decode("latin-1"))
        pos += size
    return boxes


def frame_bytes(video, at: float) -> bytes:
    return ffmpeg("-ss", str(at), "-i", str(video), "-frames:v", "1", "-f", "rawvideo",
                  "-pix_fmt", "gray", "-")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    dest = tmp_path_factory.mktemp("sample")
    return media.generate_sample(str(dest), "第一讲：新时代党的建设", 3, subtitle="主讲人 张三")


def assert_chinese(err: media.MediaError) -> None:
    assert CJK.search(err.reason), err.reason
    assert "Traceback" not in err.reason


def test_font_path_is_a_cjk_font():
    path = media.font_path()
    assert path.endswith((".ttc", ".otf", ".ttf"))


def test_generate_sample_makes_a_faststart_h264_aac_mp4_and_poster(sample):
    probed = media.probe(sample.video_path)
    assert probed.video_codec == "h264"
    assert probed.audio_codec == "aac"
    assert probed.duration == pytest.approx(3, abs=0.5)
    assert sample.duration == pytest.approx(3, abs=0.5)
    assert (sample.width, sample.height) == (640, 360) == (probed.width, probed.height)
    assert sample.video_path.endswith("/video.mp4") and sample.poster_path.endswith("/poster.jpg")

    video, poster = Path(sample.video_path), Path(sample.poster_path)
    assert sample.size_bytes == video.stat().st_size > 0
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"
    boxes = top_level_boxes(video)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    assert not [p.name for p in video.parent.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_generate_sample_clock_runs(sample):
    early, late = frame_bytes(sample.video_path, 0.5), frame_bytes(sample.video_path, 2.5)
    assert len(early) == len(late) == 640 * 360
    assert early != late  # the title card is static: only the clock can differ


def test_transcode_scales_down_adds_silent_audio_and_reports_progress(tmp_path):
    src = tmp_path / "src.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=1280x960:rate=25:duration=2",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(src))
    assert media.probe(str(src)).audio_codec is None

    seen: list[int] = []
    result = media.transcode(str(src), str(tmp_path / "out"), seen.append)

    assert result.height <= 720 and result.width % 2 == 0
    assert (result.width, result.height) == (960, 720)  # 4:3 kept
    assert result.duration == pytest.approx(2, abs=0.5)
    probed = media.probe(result.video_path)
    assert (probed.video_codec, probed.audio_codec) == ("h264", "aac")
    assert (probed.width, probed.height) == (result.width, result.height)
    assert seen and seen[-1] == 100 and seen == sorted(seen)
    assert all(0 <= p <= 100 for p in seen)
    with open(result.poster_path, "rb") as fh:
        assert fh.read(3) == b"\xff\xd8\xff"


def test_transcode_never_upscales(tmp_path):
    src = tmp_path / "small.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=321x241:rate=10:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", str(src))
    result = media.transcode(str(src), str(tmp_path / "out"))
    assert (result.width, result.height) == (320, 240)


def test_probe_rejects_renamed_text_file(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("这不是视频，只是一段文字。\n" * 50, encoding="utf-8")
    with pytest.raises(media.MediaError) as exc:
        media.probe(str(fake))
    assert_chinese(exc.value)
    assert "不是" in exc.value.reason and "视频" in exc.value.reason


def test_probe_rejects_image_renamed_mp4(tmp_path):
    png = tmp_path / "image.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", str(png))
    renamed = tmp_path / "image.mp4"
    renamed.write_bytes(png.read_bytes())
    with pytest.raises(media.MediaError) as exc:
        media.probe(str(renamed))
    assert_chinese(exc.value)
    assert "没有视频画面" in exc.value.reason


def test_probe_rejects_audio_only(tmp_path):
    audio = tmp_path / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio))
    with pytest.raises(media.MediaError) as exc:
        media.probe(str(audio))
    assert "没有视频画面" in exc.value.reason


def test_probe_rejects_empty_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(media.MediaError) as exc:
        media.probe(str(empty))
    assert_chinese(exc.value)


@pytest.mark.parametrize("faststart", [False, True])
def test_probe_rejects_truncated_mp4(tmp_path, faststart):
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=3",
           "-f", "lavfi", "-i", "sine=duration=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", *(["-movflags", "+faststart"] if faststart else []), str(whole))
    media.probe(str(whole))  # the complete file is fine
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * (3 if not faststart else 7) // 10])
    with pytest.raises(media.MediaError) as exc:
        media.probe(str(cut))
    assert_chinese(exc.value)
    assert "损坏" in exc.value.reason


def test_transcode_of_bad_input_raises_and_leaves_no_video(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello\n" * 100)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(media.MediaError) as exc:
        media.transcode(str(fake), str(dest))
    assert_chinese(exc.value)
    assert not (dest / "video.mp4").exists()
    assert list(dest.iterdir()) == []


def test_media_error_carries_reason():
    err = media.MediaError("文件为空")
    assert err.reason == "文件为空" and str(err) == "文件为空"
