//! The verdict stage: per-face probabilities → one score per model (the confident rule) → the video's score (the
//! mean over models), and with `--per-person` the same per person (dfdc-solution.md §5.5).

use std::collections::BTreeMap;

use half::f16;

use super::strategy::{confident_strategy, numpy_mean, Prob};
use super::tracks::assign_tracks;
use super::{TrackRecord, VideoResult};

/// The confident rule per model (`probs[model][face]`), in f32 or in the original's float16. Models without a face
/// give no score (the list is then shorter; callers only call this with faces).
pub fn per_model_scores(probs: &[Vec<f32>], half: bool) -> Vec<f32> {
    fn rule<P: Prob>(p: &[f32]) -> Option<f32> {
        let p: Vec<P> = p.iter().map(|&v| P::from_f32(v)).collect();
        confident_strategy(&p).map(P::to_f32)
    }
    probs.iter().filter_map(|p| if half { rule::<f16>(p) } else { rule::<f32>(p) }).collect()
}

/// `np.mean` over the models' scores (float16 when the models ran in half precision, as the original's did).
pub fn ensemble_mean(scores: &[f32], half: bool) -> f32 {
    if half {
        numpy_mean(&scores.iter().map(|&s| f16::from_f32(s)).collect::<Vec<_>>()).to_f32()
    } else {
        numpy_mean(scores)
    }
}

/// Per-person scoring: groups the result's faces into tracks ([`assign_tracks`]), fills each face's `track`, the
/// result's `tracks` and sets its score to the most suspicious person's. People seen in a single frame are
/// ignored unless nobody was seen twice (a one-frame false detection should not decide a video).
///
/// `probs[model][face]` are the probabilities of the result's faces in pooling order.
pub fn score_people(result: &mut VideoResult, probs: &[Vec<f32>], half: bool) {
    let boxes: Vec<Vec<_>> = result.frames.iter().map(|f| f.faces.iter().map(|face| face.bbox).collect()).collect();
    let ids = assign_tracks(&boxes);
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut k = 0;
    for (frame, frame_ids) in result.frames.iter_mut().zip(ids) {
        for (face, id) in frame.faces.iter_mut().zip(frame_ids) {
            face.track = Some(id);
            members.entry(id).or_default().push(k);
            k += 1;
        }
    }
    result.tracks = members
        .into_iter()
        .map(|(track, faces)| {
            let track_probs: Vec<Vec<f32>> = probs.iter().map(|p| faces.iter().map(|&i| p[i]).collect()).collect();
            let per_model = per_model_scores(&track_probs, half);
            let score = ensemble_mean(&per_model, half);
            TrackRecord { track, faces: faces.len(), per_model, score }
        })
        .collect();
    let seen_twice = result.tracks.iter().any(|t| t.faces >= 2);
    result.score =
        result.tracks.iter().filter(|t| t.faces >= 2 || !seen_twice).map(|t| t.score).max_by(|a, b| a.total_cmp(b));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::{FaceRecord, FrameRecord};

    fn frame(index: u64, boxes: &[[f32; 4]]) -> FrameRecord {
        let faces = boxes
            .iter()
            .map(|&bbox| FaceRecord { bbox, detector_score: 1.0, crop: [0; 4], probabilities: vec![], track: None })
            .collect();
        FrameRecord { index, detected: boxes.len(), faces }
    }

    #[test]
    fn the_most_suspicious_person_decides() {
        // Two people in three frames; the right one is fake (0.9), the left one real (0.1). Rule: fewer than 12
        // faces each, so each person's score is the plain mean of their faces.
        let (left, right) = ([0.0, 0.0, 10.0, 10.0], [50.0, 0.0, 60.0, 10.0]);
        let mut r = VideoResult::new("v");
        r.frames = (0..3).map(|i| frame(i, &[left, right])).collect();
        let probs = vec![vec![0.1, 0.9, 0.1, 0.9, 0.1, 0.9]];
        score_people(&mut r, &probs, false);
        assert_eq!(r.tracks.len(), 2);
        assert_eq!(r.tracks[0].faces, 3);
        assert!((r.tracks[0].score - 0.1).abs() < 1e-6 && (r.tracks[1].score - 0.9).abs() < 1e-6);
        assert_eq!(r.score, Some(r.tracks[1].score));
        assert_eq!(r.frames[2].faces[1].track, Some(1));
    }

    #[test]
    fn a_person_seen_once_does_not_decide_when_someone_was_seen_twice() {
        let mut r = VideoResult::new("v");
        r.frames =
            vec![frame(0, &[[0.0, 0.0, 10.0, 10.0], [50.0, 0.0, 60.0, 10.0]]), frame(1, &[[0.0, 0.0, 10.0, 10.0]])];
        score_people(&mut r, &[vec![0.2, 0.99, 0.2]], false);
        assert_eq!(r.tracks.len(), 2);
        assert!((r.score.unwrap() - 0.2).abs() < 1e-6);
    }
}
