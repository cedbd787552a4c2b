//! facenet-pytorch's `detect_face` (dfdc-solution.md §6.2, every step): an image pyramid through PNet, candidate
//! boxes refined by RNet and ONet, with the original's thresholds, NMS flavours and +1 conventions.
//!
//! Networks run batched: one PNet call per pyramid scale for all frames of a size, one RNet and one ONet call
//! (in chunks) for all candidates of all frames. The box arithmetic runs on the CPU in f32, like the original.

use burn::prelude::*;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::boxes::{bbreg, pad_rect, regress, rerec};
use super::nets::MtcnnNets;
use super::nms::{nms_iou, nms_min, top_k, BoxF};
use crate::imaging::area::resize_to_planar;
use crate::model::fused::FusedOps;

/// Detector settings; the defaults are facenet-pytorch's `MTCNN()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Smallest face side (pixels) the pyramid looks for.
    pub min_face_size: f64,
    /// Face-probability thresholds of PNet (≥), RNet (>) and ONet (>).
    pub thresholds: [f32; 3],
    /// Scale step of the pyramid.
    pub factor: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { min_face_size: 20.0, thresholds: [0.6, 0.7, 0.7], factor: 0.709 }
    }
}

impl DetectorConfig {
    /// The DFDC solution's inference setting (kernel_utils.py `FaceExtractor`).
    pub fn dfdc_inference() -> Self {
        Self { thresholds: [0.7, 0.8, 0.8], ..Self::default() }
    }
}

/// One detected face, in the pixel coordinates of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Face {
    /// `[x1, y1, x2, y2]`; not clipped to the image and not square (as facenet-pytorch returns it).
    #[serde(rename = "box")]
    pub bbox: BoxF,
    pub score: f32,
    /// Left eye, right eye, nose, left mouth corner, right mouth corner, as `[x, y]`.
    pub landmarks: [[f32; 2]; 5],
}

/// How many candidates each stage of one frame kept: for comparing stage by stage with facenet-pytorch
/// (`tests/fixtures/mtcnn/stages.json`) and for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageTrace {
    /// Per pyramid scale: cells at or above the PNet threshold (before the `CandidateCaps::per_scale` cap), and
    /// boxes left after NMS 0.5.
    pub scales: Vec<(usize, usize)>,
    /// Boxes after the all-scale NMS 0.7 (into RNet).
    pub stage1: usize,
    /// Boxes above the RNet threshold, and after its NMS 0.7 (into ONet, at most `CandidateCaps::onet` of them).
    pub rnet_pass: usize,
    pub rnet_out: usize,
    /// Boxes above the ONet threshold, and the final faces after the 'Min' NMS.
    pub onet_pass: usize,
    pub faces: usize,
}

/// The pyramid's scales: `m = 12 / min_face`, then ×`factor` while `min(h, w)·scale ≥ 12`, multiplied step by
/// step in f64 exactly as facenet-pytorch does (not `m·factor^k`).
pub fn pyramid_scales(height: u32, width: u32, min_face_size: f64, factor: f64) -> Vec<f64> {
    let m = 12.0 / min_face_size;
    let mut minl = height.min(width) as f64 * m;
    let mut scale = m;
    let mut scales = Vec::new();
    while minl >= 12.0 {
        scales.push(scale);
        scale *= factor;
        minl *= factor;
    }
    scales
}

/// `int(dim · scale + 1)`
pub fn scaled_size(dim: u32, scale: f64) -> usize {
    (dim as f64 * scale + 1.0) as usize
}

/// Bounds on the candidates of one frame, so that the work of a frame is bounded whatever the thresholds (at
/// `--thresholds 0,0,0` every PNet cell is a candidate: 180 000 at the first scale of a 1080p frame, and NMS is
/// quadratic). Where a list is longer than its cap, the best-scoring candidates are kept (ties in input order), the
/// order NMS visits them in. facenet-pytorch has no caps; the defaults are far above what real frames produce at
/// its thresholds (tests/fixtures/mtcnn/stages.json: at most 363 cells at one scale, 377 boxes into RNet, 64 into
/// ONet on the 5-person photo), so they change nothing there (`every_stage_keeps_as_many_candidates_as_facenet`
/// checks the margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateCaps {
    /// PNet cells per pyramid scale going into that scale's NMS 0.5.
    pub per_scale: usize,
    /// Boxes of all scales going into the NMS 0.7 before RNet (so also RNet's input).
    pub stage1: usize,
    /// Boxes going into ONet (after RNet's NMS).
    pub onet: usize,
}

impl Default for CandidateCaps {
    fn default() -> Self {
        Self { per_scale: 4096, stage1: 4096, onet: 1024 }
    }
}

/// The best `cap` candidates when there are more (best first), else the list unchanged.
fn capped<T: Copy>(list: Vec<T>, cap: usize, score: impl Fn(&T) -> f32) -> Vec<T> {
    if list.len() <= cap {
        return list;
    }
    let scores: Vec<f32> = list.iter().map(score).collect();
    top_k(&scores, cap).into_iter().map(|i| list[i]).collect()
}

/// A candidate box between stages.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    bbox: BoxF,
    score: f32,
    reg: [f32; 4],
}

/// Per frame of a group, at one pyramid scale: the candidates kept by NMS 0.5, and (cells found, boxes kept).
type ScaleProposals = Vec<(Vec<Candidate>, (usize, usize))>;

/// MTCNN: the three networks and the settings.
pub struct Detector<B: Backend> {
    pub nets: MtcnnNets<B>,
    pub config: DetectorConfig,
    /// Frames per PNet call (default 1). Batching pays on a GPU; on the CPU, 1 lets the frames and pyramid scales
    /// run side by side, which keeps both cores busy through the single-threaded parts (32 frames of 960×540 on
    /// flex: 15 ms per frame at 1, 31 ms at 8; 2-core Zen 4, 2026-12-02).
    pub pnet_batch: usize,
    /// Bounds on the candidates per scale and per stage.
    pub caps: CandidateCaps,
    device: B::Device,
}

/// Crops per RNet/ONet call, as facenet-pytorch's `fixed_batch_process`.
const CHUNK: usize = 512;

fn normalise(values: &mut [f32]) {
    for v in values {
        *v = (*v - 127.5) * 0.0078125;
    }
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().expect("f32 network output")
}

impl<B: FusedOps> Detector<B> {
    pub fn new(nets: MtcnnNets<B>, config: DetectorConfig, device: B::Device) -> Self {
        Self { nets, config, pnet_batch: 1, caps: CandidateCaps::default(), device }
    }

    /// Sets the frames per PNet call (at least 1).
    pub fn with_pnet_batch(mut self, frames: usize) -> Self {
        self.pnet_batch = frames.max(1);
        self
    }

    /// Faces in each frame, largest area first (facenet-pytorch `MTCNN.detect` with `select_largest=True`).
    /// Frames may have different sizes.
    pub fn detect(&self, frames: &[RgbImage]) -> Vec<Vec<Face>> {
        self.detect_traced(frames).0
    }

    /// [`Detector::detect`] with per-frame stage counts.
    pub fn detect_traced(&self, frames: &[RgbImage]) -> (Vec<Vec<Face>>, Vec<StageTrace>) {
        if self.pnet_batch == 1 && frames.len() > 1 {
            // One frame per call (the CPU setting): frames run side by side, so that the single-threaded parts of
            // one frame (element-wise ops, pooling, box arithmetic) overlap with another frame's convolutions.
            use rayon::prelude::*;
            let (faces, traces): (Vec<_>, Vec<_>) = frames
                .par_iter()
                .map(|f| {
                    let (mut faces, mut trace) = self.detect_group(std::slice::from_ref(f));
                    (faces.remove(0), trace.remove(0))
                })
                .unzip();
            return (faces, traces);
        }
        self.detect_group(frames)
    }

    fn detect_group(&self, frames: &[RgbImage]) -> (Vec<Vec<Face>>, Vec<StageTrace>) {
        let mut trace = vec![StageTrace::default(); frames.len()];
        let mut stage1: Vec<Vec<Candidate>> = vec![Vec::new(); frames.len()];
        // Frames of one size share the pyramid's PNet calls.
        let mut sizes: Vec<(u32, u32)> = frames.iter().map(|f| f.dimensions()).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            let group: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].dimensions() == size).collect();
            for chunk in group.chunks(self.pnet_batch.max(1)) {
                self.proposals(frames, chunk, &mut stage1, &mut trace);
            }
        }
        let stage2 = self.refine(frames, stage1, &mut trace);
        let faces = self.output(frames, stage2, &mut trace);
        (faces, trace)
    }

    /// Stage 1: PNet over the pyramid, NMS 0.5 per scale, NMS 0.7 over all scales, regression (no +1), squaring.
    fn proposals(&self, frames: &[RgbImage], group: &[usize], out: &mut [Vec<Candidate>], trace: &mut [StageTrace]) {
        let (width, height) = frames[group[0]].dimensions();
        let scales = pyramid_scales(height, width, self.config.min_face_size, self.config.factor);
        // On the CPU setting (one frame per call) the scales run side by side, like the frames in `detect_traced`.
        let per_scale: Vec<ScaleProposals> = if self.pnet_batch == 1 {
            use rayon::prelude::*;
            scales.par_iter().map(|&s| self.scale_proposals(frames, group, s)).collect()
        } else {
            scales.iter().map(|&s| self.scale_proposals(frames, group, s)).collect()
        };
        let mut all: Vec<Vec<Candidate>> = vec![Vec::new(); group.len()];
        for scale in per_scale {
            for (g, (kept, counts)) in scale.into_iter().enumerate() {
                trace[group[g]].scales.push(counts);
                all[g].extend(kept);
            }
        }
        for (g, cands) in all.into_iter().enumerate() {
            let cands = capped(cands, self.caps.stage1, |c| c.score);
            let keep = nms_iou(&boxes(&cands), &scores(&cands), 0.7);
            trace[group[g]].stage1 = keep.len();
            out[group[g]] = keep
                .into_iter()
                .map(|k| {
                    let c = cands[k];
                    Candidate { bbox: rerec(regress(c.bbox, c.reg)), ..c }
                })
                .collect();
        }
    }

    /// One pyramid scale for the frames of `group`: per frame the candidates kept by NMS 0.5 (best first) and
    /// (cells at or above the threshold, boxes kept).
    fn scale_proposals(
        &self,
        frames: &[RgbImage],
        group: &[usize],
        scale: f64,
    ) -> Vec<(Vec<Candidate>, (usize, usize))> {
        let (width, height) = frames[group[0]].dimensions();
        let threshold = self.config.thresholds[0];
        let (hs, ws) = (scaled_size(height, scale), scaled_size(width, scale));
        let mut batch = Vec::with_capacity(group.len() * 3 * hs * ws);
        for &i in group {
            let planes = resize_to_planar(&frames[i], (0, 0, width, height), hs, ws)
                .expect("the whole frame is a valid rectangle");
            batch.extend_from_slice(&planes);
        }
        normalise(&mut batch);
        let input = Tensor::<B, 4>::from_data(TensorData::new(batch, [group.len(), 3, hs, ws]), &self.device);
        let (reg, prob) = self.nets.pnet.forward(input);
        let [_, _, oh, ow] = reg.dims();
        let (reg, prob) = (to_vec(reg), to_vec(prob));
        // generateBoundingBox divides by the scale as an f32 tensor op.
        let s = scale as f32;
        (0..group.len())
            .map(|g| {
                let prob = &prob[g * oh * ow..(g + 1) * oh * ow];
                let reg = &reg[g * 4 * oh * ow..(g + 1) * 4 * oh * ow];
                let mut found = Vec::new();
                for y in 0..oh {
                    for x in 0..ow {
                        let p = prob[y * ow + x];
                        if p >= threshold {
                            let (xf, yf) = (x as f32, y as f32);
                            let bbox = [
                                ((2.0 * xf + 1.0) / s).floor(),
                                ((2.0 * yf + 1.0) / s).floor(),
                                ((2.0 * xf + 12.0) / s).floor(),
                                ((2.0 * yf + 12.0) / s).floor(),
                            ];
                            let r = |c: usize| reg[c * oh * ow + y * ow + x];
                            found.push(Candidate { bbox, score: p, reg: [r(0), r(1), r(2), r(3)] });
                        }
                    }
                }
                let cells = found.len();
                let found = capped(found, self.caps.per_scale, |c| c.score);
                let keep = nms_iou(&boxes(&found), &scores(&found), 0.5);
                let counts = (cells, keep.len());
                (keep.into_iter().map(|k| found[k]).collect(), counts)
            })
            .collect()
    }

    /// Area-resampled, normalised crops of every candidate with a non-empty `pad` rectangle; candidates without
    /// one are dropped (the original would fail on misaligned lists there).
    fn crops(&self, frames: &[RgbImage], cands: Vec<Vec<Candidate>>, side: usize) -> (Vec<Vec<Candidate>>, Vec<f32>) {
        let mut data = Vec::new();
        let kept = cands
            .into_iter()
            .enumerate()
            .map(|(f, list)| {
                let (w, h) = frames[f].dimensions();
                list.into_iter()
                    .filter(|c| match pad_rect(c.bbox, w, h) {
                        Some(rect) => {
                            let planes = resize_to_planar(&frames[f], rect, side, side).expect("pad_rect is inside");
                            data.extend_from_slice(&planes);
                            true
                        }
                        None => false,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        normalise(&mut data);
        (kept, data)
    }

    /// Runs `net` on `n` crops of `side`² in chunks and concatenates the outputs.
    fn chunked<const K: usize>(
        &self,
        data: &[f32],
        n: usize,
        side: usize,
        net: impl Fn(Tensor<B, 4>) -> [Vec<f32>; K],
    ) -> [Vec<f32>; K] {
        let mut out: [Vec<f32>; K] = std::array::from_fn(|_| Vec::new());
        let per = 3 * side * side;
        for start in (0..n).step_by(CHUNK) {
            let m = CHUNK.min(n - start);
            let chunk = data[start * per..(start + m) * per].to_vec();
            let input = Tensor::<B, 4>::from_data(TensorData::new(chunk, [m, 3, side, side]), &self.device);
            for (acc, part) in out.iter_mut().zip(net(input)) {
                acc.extend(part);
            }
        }
        out
    }

    /// Stage 2: RNet on 24×24 crops, score > threshold, NMS 0.7, regression (+1), squaring.
    fn refine(&self, frames: &[RgbImage], cands: Vec<Vec<Candidate>>, trace: &mut [StageTrace]) -> Vec<Vec<Candidate>> {
        let (cands, data) = self.crops(frames, cands, 24);
        let n: usize = cands.iter().map(Vec::len).sum();
        let [reg, prob] = self.chunked(&data, n, 24, |x| {
            let (reg, prob) = self.nets.rnet.forward(x);
            [to_vec(reg), to_vec(prob)]
        });
        let threshold = self.config.thresholds[1];
        let mut k = 0;
        cands
            .into_iter()
            .zip(trace.iter_mut())
            .map(|(list, trace)| {
                let mut passed = Vec::new();
                for c in list {
                    if prob[k] > threshold {
                        let r = [reg[4 * k], reg[4 * k + 1], reg[4 * k + 2], reg[4 * k + 3]];
                        passed.push(Candidate { bbox: c.bbox, score: prob[k], reg: r });
                    }
                    k += 1;
                }
                let keep = nms_iou(&boxes(&passed), &scores(&passed), 0.7);
                (trace.rnet_pass, trace.rnet_out) = (passed.len(), keep.len());
                // NMS returns the kept boxes best first, so the cap keeps a prefix.
                keep.into_iter()
                    .take(self.caps.onet)
                    .map(|i| {
                        let c = passed[i];
                        Candidate { bbox: rerec(bbreg(c.bbox, c.reg)), ..c }
                    })
                    .collect()
            })
            .collect()
    }

    /// Stage 3: ONet on 48×48 crops, score > threshold, landmarks from the unrefined box, regression (+1),
    /// 'Min' NMS 0.7; then largest area first.
    fn output(&self, frames: &[RgbImage], cands: Vec<Vec<Candidate>>, trace: &mut [StageTrace]) -> Vec<Vec<Face>> {
        let (cands, data) = self.crops(frames, cands, 48);
        let n: usize = cands.iter().map(Vec::len).sum();
        let [reg, marks, prob] = self.chunked(&data, n, 48, |x| {
            let (reg, marks, prob) = self.nets.onet.forward(x);
            [to_vec(reg), to_vec(marks), to_vec(prob)]
        });
        let threshold = self.config.thresholds[2];
        let mut k = 0;
        cands
            .into_iter()
            .zip(trace.iter_mut())
            .map(|(list, trace)| {
                let mut passed = Vec::new();
                for c in list {
                    if prob[k] > threshold {
                        let b = c.bbox;
                        let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
                        let lm = &marks[10 * k..10 * k + 10];
                        let landmarks = std::array::from_fn(|j| [w * lm[j] + b[0] - 1.0, h * lm[5 + j] + b[1] - 1.0]);
                        let r = [reg[4 * k], reg[4 * k + 1], reg[4 * k + 2], reg[4 * k + 3]];
                        passed.push(Face { bbox: bbreg(b, r), score: prob[k], landmarks });
                    }
                    k += 1;
                }
                let keep = nms_min(
                    &passed.iter().map(|f| f.bbox).collect::<Vec<_>>(),
                    &passed.iter().map(|f| f.score).collect::<Vec<_>>(),
                    0.7,
                );
                let mut faces: Vec<Face> = keep.into_iter().map(|i| passed[i]).collect();
                (trace.onet_pass, trace.faces) = (passed.len(), faces.len());
                // MTCNN.detect: np.argsort(area)[::-1], i.e. ascending (stable for these sizes) then reversed.
                let area = |f: &Face| (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]);
                faces.sort_by(|a, b| area(a).total_cmp(&area(b)));
                faces.reverse();
                faces
            })
            .collect()
    }
}

fn boxes(c: &[Candidate]) -> Vec<BoxF> {
    c.iter().map(|c| c.bbox).collect()
}

fn scores(c: &[Candidate]) -> Vec<f32> {
    c.iter().map(|c| c.score).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_of_a_960x540_frame_has_ten_scales() {
        // dfdc-solution.md §6.2: a 960×540 frame gives 10 scales; the first is 12/20.
        let scales = pyramid_scales(540, 960, 20.0, 0.709);
        assert_eq!(scales.len(), 10);
        assert_eq!(scales[0], 0.6);
        assert_eq!(scales[1], 0.6 * 0.709);
        assert_eq!((scaled_size(540, scales[0]), scaled_size(960, scales[0])), (325, 577));
        assert!(pyramid_scales(10, 10, 20.0, 0.709).is_empty());
    }
}
