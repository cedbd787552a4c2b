//! How many frames the video has: OpenCV's `CAP_PROP_FRAME_COUNT`, and what we do when it has no answer.

use std::fmt;

/// Where [`crate::video::VideoInfo::frame_count`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCountSource {
    /// The stream's `nb_frames` from the container header: OpenCV's first choice.
    Container,
    /// `floor(duration_s * fps + 0.5)`: OpenCV's answer when the header has no `nb_frames`.
    DurationTimesFps,
    /// Our fallback, not OpenCV's: the video packets counted in a demux pass (no decoding). Used when OpenCV's
    /// answer is not positive (OpenCV would return it and the original would give up on the video) or implausible.
    PacketCount,
    /// Nothing gave a positive count.
    Unknown,
}

impl FrameCountSource {
    /// A stable name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameCountSource::Container => "container",
            FrameCountSource::DurationTimesFps => "duration_x_fps",
            FrameCountSource::PacketCount => "packet_count",
            FrameCountSource::Unknown => "unknown",
        }
    }
}

impl fmt::Display for FrameCountSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The container metadata OpenCV's FFmpeg backend reads to answer `CAP_PROP_FRAME_COUNT`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountMetadata {
    /// `AVStream.nb_frames` (0 when the container does not say).
    pub nb_frames: i64,
    /// `AVFormatContext.duration / AV_TIME_BASE` in seconds (very negative when unknown).
    pub format_duration_s: f64,
    /// `AVStream.duration * time_base` in seconds (very negative when unknown).
    pub stream_duration_s: f64,
    /// `av_guess_frame_rate(...)` as a double, 0 when it is 0/x or x/0.
    pub fps: f64,
}

/// OpenCV's `eps_zero`: a format duration below this is "unknown" and the stream duration is used instead.
const EPS_ZERO: f64 = 0.000025;

impl CountMetadata {
    /// OpenCV's `get_duration_sec`: the container duration, or the stream's when the container's is ~0 or unknown.
    pub fn duration_s(&self) -> f64 {
        if self.format_duration_s < EPS_ZERO {
            self.stream_duration_s
        } else {
            self.format_duration_s
        }
    }

    /// `floor(duration * fps + 0.5)`, OpenCV's estimate when `nb_frames` is 0. Saturates like a C cast would not,
    /// but only values > 0 are ever used.
    pub fn duration_times_fps(&self) -> i64 {
        (self.duration_s() * self.fps + 0.5).floor() as i64
    }

    /// OpenCV's `CvCapture_FFMPEG::get_total_frames` (modules/videoio/src/cap_ffmpeg_impl.hpp): the stream's
    /// `nb_frames` when non-zero, else `floor(get_duration_sec() * get_fps() + 0.5)`. May be <= 0.
    pub fn opencv_frame_count(&self) -> (i64, FrameCountSource) {
        if self.nb_frames != 0 {
            (self.nb_frames, FrameCountSource::Container)
        } else {
            (self.duration_times_fps(), FrameCountSource::DurationTimesFps)
        }
    }

    /// OpenCV's count when it is usable. `None` asks the caller to count packets: the count is not positive, or the
    /// header's `nb_frames` exceeds four times the duration × fps estimate plus 16 frames, which no real file we know
    /// does but a corrupt header would (and sampling 32 indices spread over a fictitious length would keep ~1 frame).
    pub fn usable_count(&self) -> Option<(u64, FrameCountSource)> {
        let (count, source) = self.opencv_frame_count();
        if count <= 0 {
            return None;
        }
        if source == FrameCountSource::Container {
            let estimate = self.duration_times_fps();
            if estimate > 0 && count > estimate.saturating_mul(4).saturating_add(16) {
                return None;
            }
        }
        Some((count as u64, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(nb_frames: i64, format_duration_s: f64, stream_duration_s: f64, fps: f64) -> CountMetadata {
        CountMetadata { nb_frames, format_duration_s, stream_duration_s, fps }
    }

    #[test]
    fn prefers_the_header_frame_count() {
        // WolfgangLanger_Pexels.mp4: nb_frames 472, 19.69 s at 24000/1001 fps.
        let m = meta(472, 19.69, 19.685, 24000.0 / 1001.0);
        assert_eq!(m.opencv_frame_count(), (472, FrameCountSource::Container));
        assert_eq!(m.usable_count(), Some((472, FrameCountSource::Container)));
    }

    #[test]
    fn rounds_duration_times_fps_half_up_when_the_header_has_no_count() {
        let m = meta(0, 10.0, 0.0, 29.97);
        assert_eq!(m.opencv_frame_count(), (300, FrameCountSource::DurationTimesFps)); // 299.7 -> 300
        let m = meta(0, 1.0, 0.0, 2.5);
        assert_eq!(m.opencv_frame_count().0, 3); // 2.5 -> 3, not banker's rounding
    }

    #[test]
    fn uses_the_stream_duration_when_the_container_has_none() {
        let m = meta(0, i64::MIN as f64 / 1e6, 4.0, 25.0);
        assert_eq!(m.opencv_frame_count(), (100, FrameCountSource::DurationTimesFps));
    }

    #[test]
    fn asks_for_a_packet_count_when_opencv_has_no_positive_answer() {
        // A still image demuxed as a "video": no nb_frames, no duration. OpenCV reports a huge negative count.
        let m = meta(0, i64::MIN as f64 / 1e6, i64::MIN as f64, 25.0);
        assert!(m.opencv_frame_count().0 < 0);
        assert_eq!(m.usable_count(), None);
        assert_eq!(meta(0, 0.0, 0.0, 0.0).usable_count(), None);
    }

    #[test]
    fn distrusts_a_header_count_far_beyond_the_duration() {
        assert_eq!(meta(1_000_000, 4.0, 4.0, 25.0).usable_count(), None);
        // VFR files disagree a little with duration x average fps; that is fine.
        assert_eq!(meta(169, 6.4, 6.4, 26.4).usable_count(), Some((169, FrameCountSource::Container)));
        // No duration to compare with: trust the header.
        assert_eq!(meta(500, 0.0, 0.0, 0.0).usable_count(), Some((500, FrameCountSource::Container)));
    }
}
