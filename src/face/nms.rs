//! Non-maximum suppression in the two flavours MTCNN uses (dfdc-solution.md §6.2, §9 item 4).
//!
//! Both run in f32, like the originals, so that a box on a threshold falls the same way.

use super::boxes::iou;
pub use super::boxes::BoxF;

/// torchvision `nms`: visit boxes by descending score (stable), keep one, drop every later box whose IoU with it
/// is above `threshold`. Areas are `(x2 − x1)(y2 − y1)`, without the +1. Returns kept indices, best first.
pub fn nms_iou(boxes: &[BoxF], scores: &[f32], threshold: f32) -> Vec<usize> {
    let order = descending(scores);
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[pos + 1..] {
            if !suppressed[j] && iou(&boxes[i], &boxes[j]) > threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// facenet-pytorch `nms_numpy(..., 'Min')`: areas and intersections with +1, overlap = intersection over the
/// smaller area; take the highest score, keep the others whose overlap with it is at most `threshold`, repeat.
/// Returns kept indices, best first.
///
/// Exactly equal scores are common here (ONet saturates at 0.9999999 in f32). numpy's argsort breaks such ties
/// by its sorting kernel: numpy 2.x on AVX-512 (the reference fixtures) kept the *earlier* candidate of a tie on
/// 45-m7-di-ph.jpg, where a stable sort would keep the later one. We keep the earlier one.
pub fn nms_min(boxes: &[BoxF], scores: &[f32], threshold: f32) -> Vec<usize> {
    let area = |b: &BoxF| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    // The original takes the best remaining box and filters the rest (`I = I[idx]`); flags over one sorted order
    // give the same boxes in the same order without moving the list (O(n·kept)).
    let order = descending(scores);
    let mut suppressed = vec![false; order.len()];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[pos] {
            continue;
        }
        keep.push(i);
        let bi = &boxes[i];
        let area_i = area(bi);
        for (later, &j) in order.iter().enumerate().skip(pos + 1) {
            if suppressed[later] {
                continue;
            }
            let bj = &boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + 1.0).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + 1.0).max(0.0);
            // numpy keeps `o <= threshold`; written the same way, a NaN overlap is dropped as there.
            let kept = w * h / area_i.min(area(bj)) <= threshold;
            if !kept {
                suppressed[later] = true;
            }
        }
    }
    keep
}

/// The indices of the `k` best scores, best first, ties in input order: what [`nms_iou`] would visit first.
/// With `k` at least the number of scores this is every index in [`nms_iou`]'s order, so capping a list before
/// NMS changes nothing unless the list is longer than the cap.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order = descending(scores);
    order.truncate(k);
    order
}

/// Indices by descending score; equal scores keep their order (torchvision sorts stably).
fn descending(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_keeps_best_of_overlapping_pair_and_separate_boxes() {
        // Boxes 0 and 1 overlap with IoU 81/119 ≈ 0.68; box 2 is far away.
        let boxes = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]];
        assert_eq!(nms_iou(&boxes, &[0.9, 0.95, 0.5], 0.5), vec![1, 2]);
        // Above the overlap, both stay, in descending score order.
        assert_eq!(nms_iou(&boxes, &[0.9, 0.95, 0.5], 0.7), vec![1, 0, 2]);
    }

    #[test]
    fn iou_threshold_is_strict() {
        // IoU exactly 0.5: [0,0,2,1] and [1,0,3,1]?  inter 1, union 3 -> 1/3. Use halves: [0,0,4,1], [0,0,2,1]
        // inter 2, union 4 -> 0.5: not suppressed at 0.5.
        let boxes = [[0.0, 0.0, 4.0, 1.0], [0.0, 0.0, 2.0, 1.0]];
        assert_eq!(nms_iou(&boxes, &[0.9, 0.8], 0.5), vec![0, 1]);
        assert_eq!(nms_iou(&boxes, &[0.9, 0.8], 0.49), vec![0]);
    }

    #[test]
    fn iou_ties_keep_input_order() {
        let boxes = [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]];
        assert_eq!(nms_iou(&boxes, &[0.8, 0.8], 0.5), vec![0]);
    }

    #[test]
    fn min_mode_uses_the_smaller_area_with_plus_one() {
        // A small box inside a big one: IoU is tiny but the 'Min' overlap is 1, so the small one goes.
        let boxes = [[0.0, 0.0, 99.0, 99.0], [10.0, 10.0, 19.0, 19.0]];
        assert_eq!(nms_min(&boxes, &[0.99, 0.98], 0.7), vec![0]);
        assert_eq!(nms_iou(&boxes, &[0.99, 0.98], 0.7), vec![0, 1]);
        // Partial overlap: boxes of 10×10 pixels (+1 rule: x2 − x1 + 1 = 10) sharing 10×7 pixels: 0.7, kept.
        let boxes = [[0.0, 0.0, 9.0, 9.0], [0.0, 3.0, 9.0, 12.0]];
        assert_eq!(nms_min(&boxes, &[0.5, 0.9], 0.7), vec![1, 0]);
        // Sharing 10×8: 0.8 > 0.7, suppressed.
        let boxes = [[0.0, 0.0, 9.0, 9.0], [0.0, 2.0, 9.0, 11.0]];
        assert_eq!(nms_min(&boxes, &[0.5, 0.9], 0.7), vec![1]);
    }

    #[test]
    fn min_mode_ties_keep_the_earlier_candidate() {
        let boxes = [[0.0, 0.0, 9.0, 9.0], [1.0, 1.0, 10.0, 10.0]];
        assert_eq!(nms_min(&boxes, &[0.9999999, 0.9999999], 0.7), vec![0]);
    }

    #[test]
    fn min_mode_equals_the_originals_remove_and_filter_loop() {
        // The loop this replaces, kept here as the reference: take the first, filter the rest, repeat.
        fn reference(boxes: &[BoxF], scores: &[f32], threshold: f32) -> Vec<usize> {
            let area = |b: &BoxF| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
            let mut order = descending(scores);
            let mut keep = Vec::new();
            while !order.is_empty() {
                let i = order.remove(0);
                keep.push(i);
                let bi = &boxes[i];
                order.retain(|&j| {
                    let bj = &boxes[j];
                    let w = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + 1.0).max(0.0);
                    let h = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + 1.0).max(0.0);
                    w * h / area(bi).min(area(bj)) <= threshold
                });
            }
            keep
        }
        // A deterministic cloud of overlapping boxes with repeated scores.
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1 << 24) as f32
        };
        for n in [0, 1, 2, 10, 200] {
            let boxes: Vec<BoxF> = (0..n)
                .map(|_| {
                    let (x, y, s) = (next() * 100.0, next() * 100.0, 5.0 + next() * 30.0);
                    [x, y, x + s, y + s * (0.5 + next())]
                })
                .collect();
            let scores: Vec<f32> = (0..n).map(|_| (next() * 8.0).floor() / 8.0).collect();
            for t in [0.3, 0.7] {
                assert_eq!(nms_min(&boxes, &scores, t), reference(&boxes, &scores, t), "n={n} t={t}");
            }
        }
    }

    #[test]
    fn top_k_is_the_start_of_the_nms_order() {
        let scores = [0.5, 0.9, 0.5, 0.7];
        assert_eq!(top_k(&scores, 10), vec![1, 3, 0, 2]);
        assert_eq!(top_k(&scores, 3), vec![1, 3, 0]);
        assert!(top_k(&scores, 0).is_empty());
    }

    #[test]
    fn empty_input_keeps_nothing() {
        assert!(nms_iou(&[], &[], 0.5).is_empty());
        assert!(nms_min(&[], &[], 0.5).is_empty());
    }
}
