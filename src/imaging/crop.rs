//! From a detected box to the classifier's 380×380 input: the face crop of `FaceExtractor.process_videos`
//! and `isotropically_resize_image` + `put_to_center` of `predict_on_video` (dfdc-solution.md §5.3, §5.4,
//! §9.7, §9.8), with Python's integer and slicing semantics kept on purpose.

use image::RgbImage;

use crate::imaging::opencv;

/// The face crop of the DFDC solution, on a box already scaled to the full-resolution frame.
///
/// The original does `xmin, ymin, xmax, ymax = [int(b * 2) for b in bbox]` on the half-size detector's box;
/// pass `b * 2` here (the doubling is exact in f32) and this applies `int()` (truncation toward zero), the
/// margins `p_h = h // 3`, `p_w = w // 3` (Python floor division, so a negative size gives a negative
/// margin) and the slice `frame[max(ymin - p_h, 0) : ymax + p_h, max(xmin - p_w, 0) : xmax + p_w]` with
/// numpy's rules: a stop past the edge is clamped, and a *negative* stop counts from the far edge
/// (`-5` on a 97-pixel axis means 92), which is what happens to a box lying left of or above the frame.
///
/// Returns `None` where the slice is empty (the original would go on to fail in `cv2.resize`) and for
/// non-finite coordinates (where `int()` raises).
pub fn face_crop(frame: &RgbImage, box_xyxy: [f32; 4]) -> Option<RgbImage> {
    let (rows, cols) = face_crop_rect(frame.width(), frame.height(), box_xyxy)?;
    Some(cut(frame, [cols.0, rows.0, cols.1, rows.1]))
}

/// The row range `(y0, y1)` and column range `(x0, x1)` that [`face_crop`] cuts out of a
/// `width`×`height` frame, or `None` for an empty crop.
pub fn face_crop_rect(width: u32, height: u32, box_xyxy: [f32; 4]) -> Option<((u32, u32), (u32, u32))> {
    if box_xyxy.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // `as i64` truncates toward zero like `int()` and saturates far outside any frame; i128 keeps the
    // arithmetic below exact even then.
    let [x1, y1, x2, y2] = box_xyxy.map(|v| i128::from(v as i64));
    let p_w = (x2 - x1).div_euclid(3); // `//` floors; div_euclid by a positive divisor is the same
    let p_h = (y2 - y1).div_euclid(3);
    let rows = numpy_slice((y1 - p_h).max(0), y2 + p_h, height)?;
    let cols = numpy_slice((x1 - p_w).max(0), x2 + p_w, width)?;
    Some((rows, cols))
}

/// `range(len)[start:stop]` for step 1 (CPython's `PySlice_AdjustIndices`); `None` when empty.
fn numpy_slice(start: i128, stop: i128, len: u32) -> Option<(u32, u32)> {
    let len = i128::from(len);
    let adjust = |i: i128| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let (start, stop) = (adjust(start), adjust(stop));
    (stop > start).then_some((start as u32, stop as u32))
}

/// The pixels of `rect` = `[x0, y0, x1, y1]` (end-exclusive), clamped to the image.
pub fn cut(frame: &RgbImage, rect: [u32; 4]) -> RgbImage {
    let [x0, y0, x1, y1] = rect;
    image::imageops::crop_imm(frame, x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0)).to_image()
}

/// A face crop as the classifier of input side `size` sees it: `put_to_center(isotropically_resize_image(crop,
/// size), size)` (§5.4). The one preparation path of `classify` and `infer`.
pub fn prepare_crop(crop: &RgbImage, size: u32) -> RgbImage {
    put_to_center(&isotropic_resize(crop, size), size)
}

/// `isotropically_resize_image(img, max_side)`: longest side to `max_side`, aspect kept, the other side
/// truncated by `int()`; INTER_CUBIC if that enlarges, INTER_AREA otherwise (§5.4).
///
/// Copied quirks: an image whose longest side already equals `max_side` is returned as is; a square image
/// takes the "height" branch; the scale is the f64 `max_side / w` and the short side `int(h * scale)`, so
/// it can be one pixel less than rounding would give (`int(131 * (380 / 97))`). Where the short side
/// truncates to 0, or the input is empty, the result is an empty image (the original raises in
/// `cv2.resize`).
pub fn isotropic_resize(src: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    if w.max(h) == max_side {
        return src.clone();
    }
    if w == 0 || h == 0 {
        return RgbImage::new(0, 0);
    }
    let (scale, new_w, new_h) = if w > h {
        let scale = f64::from(max_side) / f64::from(w);
        (scale, max_side, (f64::from(h) * scale) as u32)
    } else {
        let scale = f64::from(max_side) / f64::from(h);
        (scale, (f64::from(w) * scale) as u32, max_side)
    };
    if scale > 1.0 {
        opencv::resize_cubic(src, new_w, new_h)
    } else {
        opencv::resize_area(src, new_w, new_h)
    }
}

/// `put_to_center(img, size)`: keep `img[:size, :size]` and paste it into a black `size`×`size` image at
/// top `(size - h) // 2`, left `(size - w) // 2` (§5.4).
pub fn put_to_center(src: &RgbImage, size: u32) -> RgbImage {
    let w = src.width().min(size);
    let h = src.height().min(size);
    let top = (size - h) / 2;
    let left = (size - w) / 2;
    let mut out = RgbImage::new(size, size);
    if w == 0 || h == 0 {
        return out;
    }
    let src_stride = src.width() as usize * 3;
    let out_stride = size as usize * 3;
    let row_bytes = w as usize * 3;
    let (src_raw, out_raw) = (src.as_raw(), &mut *out);
    for y in 0..h as usize {
        let from = y * src_stride;
        let to = (top as usize + y) * out_stride + left as usize * 3;
        out_raw[to..to + row_bytes].copy_from_slice(&src_raw[from..from + row_bytes]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_are_a_third_of_the_truncated_box() {
        // int(20.7)=20, int(30.2)=30, int(60.9)=60, int(90.5)=90 -> w 40, h 60, p_w 13, p_h 20.
        assert_eq!(face_crop_rect(97, 131, [20.7, 30.2, 60.9, 90.5]), Some(((10, 110), (7, 73))));
    }

    #[test]
    fn negative_coordinates_truncate_toward_zero() {
        // int(-9.9) = -9 (not -10), int(-0.5) = 0: w = h = 9, margins 3, slice [0:3].
        assert_eq!(face_crop_rect(97, 131, [-9.9, -9.9, -0.5, -0.5]), Some(((0, 3), (0, 3))));
    }

    #[test]
    fn a_negative_stop_counts_from_the_far_edge_like_numpy() {
        // x: -40..-20, w 20, p_w 6, stop -14 -> 97 - 14 = 83.
        assert_eq!(face_crop_rect(97, 131, [-40.0, 10.0, -20.0, 50.0]), Some(((0, 63), (0, 83))));
        // Far enough out, the stop wraps below 0 and the slice is empty.
        assert_eq!(face_crop_rect(97, 131, [-200.0, 10.0, -150.0, 50.0]), None);
    }

    #[test]
    fn inverted_boxes_get_negative_floor_margins() {
        // w = -10 -> p_w = -4 (floor), h = -5 -> p_h = -2: rows [72:63] is empty.
        assert_eq!(face_crop_rect(97, 131, [60.0, 70.0, 50.0, 65.0]), None);
        // w = -1 -> p_w = -1: cols [max(11, 0) : 10 - 1] is empty too.
        assert_eq!(face_crop_rect(97, 131, [10.0, 10.0, 9.0, 20.0]), None);
    }

    #[test]
    fn non_finite_boxes_and_empty_frames_give_no_crop() {
        assert_eq!(face_crop_rect(97, 131, [f32::NAN, 0.0, 10.0, 10.0]), None);
        assert_eq!(face_crop_rect(0, 0, [0.0, 0.0, 10.0, 10.0]), None);
        assert!(face_crop(&RgbImage::new(1, 1), [0.0, 0.0, 1.0, 1.0]).is_some());
    }

    #[test]
    fn isotropic_sizes_follow_python_float_truncation() {
        let sizes = |w, h| isotropic_resize(&RgbImage::new(w, h), 380).dimensions();
        assert_eq!(sizes(97, 131), (281, 380)); // 97 * (380/131) = 281.37
        assert_eq!(sizes(1000, 17), (380, 6));
        assert_eq!(sizes(20, 20), (380, 380)); // ties take the height branch
        assert_eq!(sizes(380, 23), (380, 23)); // unchanged
        assert_eq!(sizes(1000, 1), (380, 0));
        assert_eq!(sizes(0, 0), (0, 0));
    }

    #[test]
    fn put_to_center_floors_the_offsets_and_cuts_oversized_images() {
        let src = RgbImage::from_pixel(3, 2, image::Rgb([9, 9, 9]));
        let out = put_to_center(&src, 6);
        // top = (6-2)//2 = 2, left = (6-3)//2 = 1
        for (x, y, p) in out.enumerate_pixels() {
            let inside = (1..4).contains(&x) && (2..4).contains(&y);
            assert_eq!(p.0, if inside { [9, 9, 9] } else { [0, 0, 0] }, "({x},{y})");
        }
        let big = RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let out = put_to_center(&big, 3);
        assert_eq!(out.get_pixel(2, 2).0, [2, 2, 0]);
        assert_eq!(put_to_center(&big, 0).dimensions(), (0, 0));
    }
}
