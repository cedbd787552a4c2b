//! Which frames to keep: the original's evenly spaced indices.

/// The frame indices the original samples: `np.linspace(0, frame_count - 1, frames, endpoint=True, dtype=int)`
/// (dfdc-solution.md §5.2), sorted, each index once.
///
/// numpy computes `i * step` in f64 with `step = (frame_count - 1) / (frames - 1)`, forces the last value to
/// `frame_count - 1` and truncates toward zero; this does the same operations in the same order, so the indices are
/// bit-for-bit numpy's (300 frames give `0, 9, 19, 28, 38, ..., 289, 299`).
///
/// Deliberate deviation: when `frame_count < frames` linspace repeats indices and the original's read loop stops at
/// the first repeated index, so it returns only the frames before it (dfdc-solution.md §5.2, "duplicate-index /
/// short-video quirk"). We keep every distinct frame once instead: a 5-frame video gives `[0, 1, 2, 3, 4]`.
/// For `frame_count >= frames` the step is at least 1, no index repeats and the result is exactly the original's.
pub fn sample_indices(frame_count: u64, frames: usize) -> Vec<u64> {
    if frame_count == 0 || frames == 0 {
        return Vec::new();
    }
    if frames as u64 >= frame_count {
        // The step is <= 1, so the truncated values hit every frame: the deduplicated result is all of them.
        return (0..frame_count).collect();
    }
    if frames == 1 {
        // numpy: div = 0 -> step is NaN, the single sample is `start`.
        return vec![0];
    }
    let last = frame_count - 1;
    let step = last as f64 / (frames - 1) as f64;
    let mut indices: Vec<u64> = (0..frames)
        .map(|i| {
            if i == frames - 1 {
                last
            } else {
                // `as` truncates toward zero, like numpy's float -> int cast; values are in [0, last].
                (i as f64 * step) as u64
            }
        })
        .collect();
    indices.dedup();
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_document_for_300_frames() {
        let expected = [
            0, 9, 19, 28, 38, 48, 57, 67, 77, 86, 96, 106, 115, 125, 135, 144, 154, 163, 173, 183, 192, 202, 212, 221,
            231, 241, 250, 260, 270, 279, 289, 299,
        ];
        assert_eq!(sample_indices(300, 32), expected);
    }

    #[test]
    fn keeps_each_frame_of_a_short_video_once() {
        assert_eq!(sample_indices(5, 32), [0, 1, 2, 3, 4]);
        assert_eq!(sample_indices(1, 32), [0]);
        assert_eq!(sample_indices(32, 32), (0..32).collect::<Vec<_>>());
    }

    #[test]
    fn handles_degenerate_requests() {
        assert!(sample_indices(0, 32).is_empty());
        assert!(sample_indices(100, 0).is_empty());
        assert_eq!(sample_indices(100, 1), [0]);
        assert_eq!(sample_indices(100, 2), [0, 99]);
        assert_eq!(sample_indices(3, usize::MAX), [0, 1, 2]);
    }

    #[test]
    fn indices_are_strictly_increasing_and_end_at_the_last_frame() {
        for n in 1..2000u64 {
            let idx = sample_indices(n, 32);
            assert_eq!(idx.len() as u64, n.min(32), "n={n}");
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "n={n}");
            assert_eq!(*idx.last().unwrap(), n - 1);
        }
    }
}
