//! Face selection and crops: which detected faces go to the classifiers, and the crops cut for them.
//!
//! `predict_on_video` with `FaceExtractor` (dfdc-solution.md §5.3, §5.4): the detector ran on half-size frames, so
//! its boxes are doubled; each box gets the solution's `h // 3`, `w // 3` margins ([`face_crop_rect`]); the faces
//! of all frames and all people are pooled in frame order, largest first, at most 127 of them (the original's
//! batch of 128 stores a face only while `n + 1 < 128`); a box whose crop is empty (entirely outside the frame,
//! where the original would fail in `cv2.resize`) is skipped and does not count.
//!
//! A crop is resized to each classifier input size as soon as it is cut, so a video never holds more than a few
//! full-resolution crops at once (one per worker thread).

use std::collections::BTreeMap;

use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::boxes::BoxF;
use super::Face;
use crate::imaging::crop::{cut, face_crop_rect, prepare_crop};

/// The solution's cap on faces per video (`predict_on_video`'s batch of 128 holds 127).
pub const DFDC_MAX_FACES: usize = 127;

/// A face chosen for classification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SelectedFace {
    /// Position of its frame in the sampled frames.
    pub frame: usize,
    /// Position of the face among its frame's detections (selection skips some, so this maps a selected face back
    /// to the detector's output).
    pub index: usize,
    /// Detector box in full-frame pixels (the half-size detector's box × 2).
    pub bbox: BoxF,
    pub score: f32,
    /// Crop rectangle `[x0, y0, x1, y1]` (end-exclusive) in the full frame, with the solution's margins.
    pub crop: [u32; 4],
}

/// One frame's faces: how many the detector found, and those selected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameSelection {
    pub detected: usize,
    pub faces: Vec<SelectedFace>,
}

/// Chooses the faces to classify. `sizes[i]` is frame `i`'s full-resolution `(width, height)`, `detections[i]` its
/// faces in detector pixels (largest first, as [`super::Detector::detect`] returns them), `scale` the factor from
/// detector to frame pixels (2 for the half-size frames of [`crate::video::read_frames`]).
pub fn select_faces(
    sizes: &[(u32, u32)],
    detections: &[Vec<Face>],
    scale: f32,
    max_faces: usize,
) -> Vec<FrameSelection> {
    let mut used = 0;
    sizes
        .iter()
        .zip(detections)
        .enumerate()
        .map(|(frame, (&(w, h), faces))| {
            let mut selection = FrameSelection { detected: faces.len(), faces: Vec::new() };
            for (index, face) in faces.iter().enumerate() {
                if used >= max_faces {
                    break;
                }
                let bbox = face.bbox.map(|v| v * scale);
                let Some(((y0, y1), (x0, x1))) = face_crop_rect(w, h, bbox) else { continue };
                let crop = [x0, y0, x1, y1];
                selection.faces.push(SelectedFace { frame, index, bbox, score: face.score, crop });
                used += 1;
            }
            selection
        })
        .collect()
}

/// Classifier inputs of the selected faces, one list per input size, each in selection order.
#[derive(Debug, Clone, Default)]
pub struct PreparedCrops {
    by_size: BTreeMap<u32, Vec<RgbImage>>,
    count: usize,
}

impl PreparedCrops {
    /// The crops prepared for input side `size`, if that size was asked for.
    pub fn at(&self, size: u32) -> Option<&[RgbImage]> {
        self.by_size.get(&size).map(Vec::as_slice)
    }

    /// Faces (the same for every size).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The input sizes held.
    pub fn sizes(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_size.keys().copied()
    }
}

/// Cuts each selected face out of its full-resolution frame and prepares it at every size in `sizes`
/// ([`prepare_crop`]: isotropic resize and centring). Crops are cut side by side; each full-resolution crop is
/// dropped as soon as its resized copies exist.
pub fn prepare_crops(frames: &[&RgbImage], selection: &[FrameSelection], sizes: &[u32]) -> PreparedCrops {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let faces: Vec<&SelectedFace> = selection.iter().flat_map(|f| &f.faces).collect();
    let prepared: Vec<Vec<RgbImage>> = faces
        .par_iter()
        .map(|face| {
            let full = cut(frames[face.frame], face.crop);
            sizes.iter().map(|&s| prepare_crop(&full, s)).collect()
        })
        .collect();
    let mut by_size: BTreeMap<u32, Vec<RgbImage>> = sizes.iter().map(|&s| (s, Vec::new())).collect();
    for per_face in prepared {
        for (&s, img) in sizes.iter().zip(per_face) {
            by_size.get_mut(&s).expect("every size has a list").push(img);
        }
    }
    PreparedCrops { by_size, count: faces.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: BoxF) -> Face {
        Face { bbox, score: 0.99, landmarks: [[0.0; 2]; 5] }
    }

    #[test]
    fn boxes_are_doubled_and_get_a_third_as_margin() {
        // Half-size box [10, 20, 40, 50] -> [20, 40, 80, 100]: w = h = 60, margins 20.
        let sel = select_faces(&[(200, 200)], &[vec![face([10.0, 20.0, 40.0, 50.0])]], 2.0, 127);
        assert_eq!(sel[0].detected, 1);
        assert_eq!(sel[0].faces[0].bbox, [20.0, 40.0, 80.0, 100.0]);
        assert_eq!(sel[0].faces[0].crop, [0, 20, 100, 120]);
    }

    #[test]
    fn the_cap_counts_faces_of_all_frames_in_order() {
        let two = vec![face([0.0, 0.0, 10.0, 10.0]), face([20.0, 20.0, 30.0, 30.0])];
        let sel = select_faces(&[(100, 100); 3], &[two.clone(), two.clone(), two], 1.0, 3);
        let kept: Vec<usize> = sel.iter().map(|f| f.faces.len()).collect();
        assert_eq!(kept, [2, 1, 0]);
        assert!(sel.iter().all(|f| f.detected == 2));
    }

    #[test]
    fn a_box_outside_the_frame_is_skipped_and_not_counted() {
        let faces = vec![face([500.0, 500.0, 600.0, 600.0]), face([0.0, 0.0, 10.0, 10.0])];
        let sel = select_faces(&[(100, 100)], &[faces], 1.0, 1);
        assert_eq!(sel[0].detected, 2);
        assert_eq!(sel[0].faces.len(), 1);
        assert_eq!(sel[0].faces[0].bbox, [0.0, 0.0, 10.0, 10.0]);
        assert_eq!(sel[0].faces[0].index, 1, "the detection it came from");
    }

    #[test]
    fn crops_are_prepared_at_every_size_in_selection_order() {
        let frame = RgbImage::from_fn(100, 80, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let faces = vec![face([10.0, 10.0, 40.0, 40.0]), face([50.0, 20.0, 70.0, 60.0])];
        let sel = select_faces(&[(100, 80)], &[faces], 1.0, 127);
        let crops = prepare_crops(&[&frame], &sel, &[32, 16, 32]);
        assert_eq!(crops.len(), 2);
        assert_eq!(crops.sizes().collect::<Vec<_>>(), [16, 32]);
        for s in [16, 32] {
            let at = crops.at(s).unwrap();
            assert_eq!(at.len(), 2);
            assert!(at.iter().all(|c| c.dimensions() == (s, s)));
            let want = prepare_crop(&cut(&frame, sel[0].faces[1].crop), s);
            assert_eq!(at[1], want);
        }
        assert!(crops.at(8).is_none());
    }
}
