//! Decoded frame (any pixel format) -> `image::RgbImage`, the way OpenCV 5.0's FFmpeg backend converts to BGR.
//!
//! What OpenCV does: `CvCapture_FFMPEG::retrieveFrame` (`modules/videoio/src/cap_ffmpeg_impl.hpp`) converts with
//! swscale to BGR24 with `SWS_BICUBIC`, no `SWS_ACCURATE_RND`, no resize, into a 32-byte-aligned picture. The
//! revision of that file in the code index (a 4.x one) builds the context at the decoder's coded size and never
//! sets colour details; cv2 5.0.0 does neither any more: it calls `sws_scale_frame` (found by intercepting its
//! swscale calls, `scripts/reference/cv2_swscale_probe.c`), so the conversion is at the frame's size and the YUV
//! matrix and range come from the frame: `AVFrame.colorspace` picks the matrix (BT.709-tagged files convert with
//! BT.709, untagged and BT.601-tagged ones with BT.601, also FCC, SMPTE 240M, BT.2020) and `AVFrame.color_range`
//! (or a `yuvj*` pixel format) selects full range. Building the context at the frame size and passing the frame's
//! tags with `sws_setColorspaceDetails` reproduces that with FFmpeg 5.1's `sws_scale`.
//!
//! We convert to RGB24 instead of BGR24: swscale's RGB24 and BGR24 writers share their arithmetic and only swap the
//! channel order, so this equals OpenCV's BGR frame followed by the original's `cvtColor(BGR2RGB)`.
//!
//! Parity measured (Debian FFmpeg 5.1 here vs cv2 5.0's FFmpeg 8, tests/video.rs): every frame of the five test
//! videos (H.264 and HEVC, BT.601/BT.709, limited range) and of the 8-bit clips in tests/fixtures/video/colour/
//! (matrices, full range, 4:2:2, 4:4:4, odd size, MPEG-4, VP9) is identical. 10-bit input goes through swscale's
//! generic path, which changed between FFmpeg 5.1 and 8: max abs difference 8-11, mean 1.2-1.7 on natural video
//! (larger on saturated synthetic colours).

use std::ffi::c_int;

use ffmpeg::ffi;
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use image::RgbImage;

/// What a swscale context was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConvKey {
    format: Pixel,
    width: u32,
    height: u32,
    /// `AVFrame.colorspace` (`AVColorSpace` as int).
    colorspace: c_int,
    /// `AVFrame.color_range == AVCOL_RANGE_JPEG`.
    tagged_full: bool,
}

/// A cached swscale context plus the destination buffer, rebuilt when the frame geometry or format changes.
pub(crate) struct RgbConverter {
    key: Option<ConvKey>,
    sws: Option<scaling::Context>,
    dst: Vec<u8>,
    dst_stride: usize,
}

impl RgbConverter {
    pub fn new() -> Self {
        RgbConverter { key: None, sws: None, dst: Vec::new(), dst_stride: 0 }
    }

    /// Converts one decoded frame.
    pub fn convert(&mut self, frame: &ffmpeg::frame::Video) -> Result<RgbImage, String> {
        let (width, height) = (frame.width(), frame.height());
        if width == 0 || height == 0 {
            return Err(format!("decoded frame has no size ({width}x{height})"));
        }
        let format = frame.format();

        // SAFETY: plain enum fields of a frame the decoder filled in.
        let (colorspace, tagged_full) = unsafe {
            let src = frame.as_ptr();
            ((*src).colorspace as c_int, (*src).color_range == ffi::AVColorRange::AVCOL_RANGE_JPEG)
        };
        let key = ConvKey { format, width, height, colorspace, tagged_full };
        if self.key != Some(key) {
            self.sws = None;
            let mut sws =
                scaling::Context::get(format, width, height, Pixel::RGB24, width, height, scaling::Flags::BICUBIC)
                    .map_err(|e| format!("swscale cannot convert {format:?} to RGB24: {e}"))?;
            set_source_colorspace(&mut sws, colorspace, tagged_full)
                .map_err(|code| format!("swscale refused the colour details of a {format:?} frame ({code})"))?;
            // av_frame_get_buffer(frame, 32)'s packed-RGB line size: the smallest power-of-two width alignment
            // that makes the line size a multiple of 32 bytes.
            let mut align = 1usize;
            let stride = loop {
                let s = 3 * (width as usize).next_multiple_of(align);
                if s.is_multiple_of(32) || align >= 32 {
                    break s;
                }
                align *= 2;
            };
            self.dst_stride = stride;
            // Slack as av_frame_get_buffer adds it: swscale's SIMD writers work in blocks of pixels and may store a
            // few bytes past the last row.
            self.dst = vec![0u8; stride * height as usize + 64];
            self.sws = Some(sws);
            self.key = Some(key);
        }
        let sws = self.sws.as_mut().expect("context was built above for this key");

        let dst_planes: [*mut u8; 4] =
            [self.dst.as_mut_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()];
        let dst_strides: [c_int; 4] = [self.dst_stride as c_int, 0, 0, 0];
        // SAFETY: the context was created for exactly this frame's pixel format, width and height, so swscale reads
        // the frame's own planes within their size; the destination holds `height` rows of `dst_stride >= 3 * width`
        // bytes plus slack.
        let rows = unsafe {
            let src = frame.as_ptr();
            ffi::sws_scale(
                sws.as_mut_ptr(),
                (*src).data.as_ptr() as *const *const u8,
                (*src).linesize.as_ptr(),
                0,
                height as c_int,
                dst_planes.as_ptr(),
                dst_strides.as_ptr(),
            )
        };
        if rows < 0 {
            return Err(format!("swscale failed on a {format:?} frame ({rows})"));
        }

        let row_bytes = 3 * width as usize;
        let mut out = Vec::with_capacity(row_bytes * height as usize);
        for y in 0..height as usize {
            let start = y * self.dst_stride;
            out.extend_from_slice(&self.dst[start..start + row_bytes]);
        }
        Ok(RgbImage::from_raw(width, height, out).expect("buffer is exactly width*height*3 bytes"))
    }
}

/// Tells swscale the source's YUV matrix and range, as OpenCV 5.0 does (measured: see the module docs): the
/// matrix is `sws_getCoefficients(frame colorspace)` (BT.709, FCC, SMPTE 240M, BT.2020 tables; unspecified and
/// anything unknown fall back to BT.601), the range is full when the frame is tagged full range or its pixel format
/// is a full-range `yuvj*` one. The destination side (RGB) is left as swscale set it.
fn set_source_colorspace(sws: &mut scaling::Context, colorspace: c_int, tagged_full: bool) -> Result<(), c_int> {
    // SAFETY: get/set on a live context; the tables come from swscale's static coefficient array.
    unsafe {
        let ctx = sws.as_mut_ptr();
        let mut inv_table: *mut c_int = std::ptr::null_mut();
        let mut table: *mut c_int = std::ptr::null_mut();
        let (mut src_range, mut dst_range, mut brightness, mut contrast, mut saturation) = (0, 0, 0, 0, 0);
        let got = ffi::sws_getColorspaceDetails(
            ctx,
            &mut inv_table,
            &mut src_range,
            &mut table,
            &mut dst_range,
            &mut brightness,
            &mut contrast,
            &mut saturation,
        );
        if got < 0 {
            // Not a YUV<->RGB conversion (e.g. RGB or gray input): nothing to tell.
            return Ok(());
        }
        let src_range = c_int::from(src_range != 0 || tagged_full);
        let set = ffi::sws_setColorspaceDetails(
            ctx,
            ffi::sws_getCoefficients(colorspace),
            src_range,
            table,
            dst_range,
            brightness,
            contrast,
            saturation,
        );
        if set < 0 {
            return Err(set);
        }
    }
    Ok(())
}
