//! Box arithmetic of facenet-pytorch's `detect_face`, with its exact +1 conventions (dfdc-solution.md §6.2).
//! All in f32, as torch computes it.

/// A box `[x1, y1, x2, y2]` in pixels, the one box type of the face stage (detector output, NMS, crops, tracks).
pub type BoxF = [f32; 4];

/// Intersection over union, areas without +1 (torchvision's `box_iou`); 0 for boxes without area.
pub fn iou(a: &BoxF, b: &BoxF) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Stage-1 regression: widths *without* +1 (`x1 += r0·(x2 − x1)`, …), from the unrefined box.
pub fn regress(b: BoxF, r: [f32; 4]) -> BoxF {
    let w = b[2] - b[0];
    let h = b[3] - b[1];
    [b[0] + r[0] * w, b[1] + r[1] * h, b[2] + r[2] * w, b[3] + r[3] * h]
}

/// `bbreg` after RNet and ONet: widths *with* +1.
pub fn bbreg(b: BoxF, r: [f32; 4]) -> BoxF {
    let w = b[2] - b[0] + 1.0;
    let h = b[3] - b[1] + 1.0;
    [b[0] + r[0] * w, b[1] + r[1] * h, b[2] + r[2] * w, b[3] + r[3] * h]
}

/// `rerec`: make the box square around its centre with side max(w, h) (no +1).
pub fn rerec(b: BoxF) -> BoxF {
    let w = b[2] - b[0];
    let h = b[3] - b[1];
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

/// The pixel rectangle `pad` + slicing crop from a box: truncate toward zero, clamp x, y ≥ 1 and ex ≤ w, ey ≤ h,
/// then take rows `y−1 .. ey` and columns `x−1 .. ex` (1-based corners; no zero padding: a box over the edge
/// gives a smaller crop that is then stretched). Returns `(x0, y0, x1, y1)` half-open, or `None` when empty,
/// where the original would fail on misaligned lists (§6.2 step 3).
pub fn pad_rect(b: BoxF, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
    // `boxes.trunc().int()`: saturating like a C cast on the finite values MTCNN produces.
    let t = |v: f32| v.trunc() as i64;
    let x = t(b[0]).max(1);
    let y = t(b[1]).max(1);
    let ex = t(b[2]).min(width as i64);
    let ey = t(b[3]).min(height as i64);
    if ex > x - 1 && ey > y - 1 {
        Some(((x - 1) as u32, (y - 1) as u32, ex as u32, ey as u32))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_is_intersection_over_union_without_plus_one() {
        // 9x9 overlap of two 10x10 boxes: 81 / (100 + 100 - 81).
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[1.0, 1.0, 11.0, 11.0]), 81.0 / 119.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[20.0, 0.0, 30.0, 10.0]), 0.0);
        assert_eq!(iou(&[5.0, 5.0, 5.0, 5.0], &[5.0, 5.0, 5.0, 5.0]), 0.0);
    }

    #[test]
    fn stage_one_regression_has_no_plus_one() {
        assert_eq!(regress([10.0, 20.0, 30.0, 60.0], [0.1, -0.1, 0.5, 0.25]), [12.0, 16.0, 40.0, 70.0]);
    }

    #[test]
    fn later_regression_adds_one_to_sizes() {
        // w = 21, h = 41.
        assert_eq!(bbreg([10.0, 20.0, 30.0, 60.0], [0.1, 0.0, -1.0, 0.5]), [12.1, 20.0, 9.0, 80.5]);
    }

    #[test]
    fn rerec_squares_around_the_centre() {
        assert_eq!(rerec([10.0, 20.0, 30.0, 60.0]), [0.0, 20.0, 40.0, 60.0]);
        assert_eq!(rerec([0.0, 0.0, 8.0, 4.0]), [0.0, -2.0, 8.0, 6.0]);
    }

    #[test]
    fn pad_truncates_and_clamps_with_one_based_corners() {
        // Inside: trunc(10.7)=10 -> column 9, trunc(30.2)=30 -> end 30.
        assert_eq!(pad_rect([10.7, 20.2, 30.2, 40.9], 100, 100), Some((9, 19, 30, 40)));
        // Over the top-left edge: x, y clamp to 1 -> start 0; trunc(-3.5) = -3, not -4.
        assert_eq!(pad_rect([-3.5, -0.5, 5.0, 6.0], 100, 100), Some((0, 0, 5, 6)));
        // Over the bottom-right edge: ends clamp to the image size.
        assert_eq!(pad_rect([90.0, 95.0, 130.0, 140.0], 100, 120), Some((89, 94, 100, 120)));
        // Entirely outside: nothing to crop.
        assert_eq!(pad_rect([150.0, 10.0, 170.0, 30.0], 100, 100), None);
        assert_eq!(pad_rect([10.0, -40.0, 30.0, -20.0], 100, 100), None);
    }
}
