//! Grouping a video's faces into people (`--per-person`): the original pools the faces of everyone in the
//! video; users of multi-person clips ask for a verdict per person, and a fake face next to a real one should
//! not be averaged away.
//!
//! Greedy tracking by overlap across the sampled frames: a face joins the track whose latest box overlaps it
//! most (IoU ≥ `MIN_IOU`), each track taking at most one face per frame; otherwise it starts a new track.

use crate::face::{iou, BoxF};

/// Overlap needed to continue a track between two sampled frames (frames are ~10 apart in a 300-frame clip).
pub const MIN_IOU: f32 = 0.3;

/// Assigns each face a track id. `frames[i]` holds the boxes of sampled frame `i`, in order; the result has the
/// same shape.
pub fn assign_tracks(frames: &[Vec<BoxF>]) -> Vec<Vec<usize>> {
    let mut last: Vec<BoxF> = Vec::new();
    frames
        .iter()
        .map(|boxes| {
            // Best overlaps first, so that two faces never fight over a track in input order.
            let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
            for (f, b) in boxes.iter().enumerate() {
                for (t, l) in last.iter().enumerate() {
                    let o = iou(b, l);
                    if o >= MIN_IOU {
                        pairs.push((o, f, t));
                    }
                }
            }
            pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut ids: Vec<Option<usize>> = vec![None; boxes.len()];
            let mut taken = vec![false; last.len()];
            for (_, f, t) in pairs {
                if ids[f].is_none() && !taken[t] {
                    ids[f] = Some(t);
                    taken[t] = true;
                }
            }
            ids.into_iter()
                .zip(boxes)
                .map(|(id, b)| match id {
                    Some(t) => {
                        last[t] = *b;
                        t
                    }
                    None => {
                        last.push(*b);
                        last.len() - 1
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_people_side_by_side_make_two_tracks() {
        let left = [10.0, 10.0, 50.0, 60.0];
        let right = [200.0, 10.0, 240.0, 60.0];
        let moved = |b: BoxF, dx: f32| [b[0] + dx, b[1], b[2] + dx, b[3]];
        let frames = vec![vec![left, right], vec![moved(right, 3.0), moved(left, 2.0)], vec![moved(left, 4.0)]];
        assert_eq!(assign_tracks(&frames), vec![vec![0, 1], vec![1, 0], vec![0]]);
    }

    #[test]
    fn a_face_far_from_every_track_starts_a_new_one() {
        let frames = vec![vec![[0.0, 0.0, 10.0, 10.0]], vec![[100.0, 100.0, 110.0, 110.0]], vec![]];
        assert_eq!(assign_tracks(&frames), vec![vec![0], vec![1], vec![]]);
    }

    #[test]
    fn two_faces_never_share_a_track_in_one_frame() {
        let a = [0.0, 0.0, 10.0, 10.0];
        let frames = vec![vec![a], vec![a, [1.0, 0.0, 11.0, 10.0]]];
        assert_eq!(assign_tracks(&frames), vec![vec![0], vec![0, 1]]);
    }
}
