//! `infer --plots DIR`, per video: a timeline of every face's score from every model, a contact sheet of the
//! face crops with their scores, and Grad-CAM heat maps over the most suspicious crops, all three behind
//! [`write_video_plots`] (what `infer` and a server call after a video's result).

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use image::imageops::{resize, FilterType};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{render_on, render_png, text, write_png, DrawResult, PlotError, FAKE_COLOUR, MODEL_COLOURS, REAL_COLOUR};
use crate::infer::{Status, VideoResult};
use crate::model::gradcam::{CamMap, GradCam};

/// The pictures' file names in a video's folder (a server serves them under these names).
pub const TIMELINE_PNG: &str = "timeline.png";
pub const FACES_PNG: &str = "faces.png";
pub const GRADCAM_PNG: &str = "gradcam.png";
/// Faces on the Grad-CAM sheet: the most suspicious ones, by mean probability over the models.
pub const GRAD_CAM_FACES: usize = 4;

/// The folder of a video's pictures under `root`: `root/<file_stem_for(file)>`, and when that changed the name
/// (`sub dir/x.mp4` → `sub_dir_x.mp4`) a dash and the first 8 hex digits of the name's SHA-256, so that two videos
/// never share a folder (`a/x.mp4` and `a_x.mp4`).
pub fn video_folder(root: &Path, file: &str) -> PathBuf {
    let stem = super::file_stem_for(file);
    if stem == file {
        return root.join(stem);
    }
    let digest = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(file.as_bytes()));
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    root.join(format!("{stem}-{hex}"))
}

/// Whether a video's pictures are all written: the timeline is written last (and atomically), so it marks a
/// complete folder.
pub fn video_plots_done(folder: &Path) -> bool {
    folder.join(TIMELINE_PNG).is_file()
}

/// Writes a video's pictures into `folder` (made if missing): `faces.png` (the contact sheet), `gradcam.png`
/// (Grad-CAM of the [`GRAD_CAM_FACES`] most suspicious faces, only when `cam` is given) and `timeline.png`,
/// last. A video without classified faces (no face found, or not decoded) gets only the timeline, which says
/// so; a `faces.png` or `gradcam.png` left from an earlier run is removed, so the folder never mixes runs.
///
/// `models` names the ensemble in result order; `cam` must be built from the first of them, and `crops` are the
/// result's faces in order as prepared for that model (see [`crate::infer::Event::Cropped`]). Returns the files
/// written, in order.
pub fn write_video_plots<B: AutodiffBackend>(
    folder: &Path,
    result: &VideoResult,
    models: &[String],
    crops: &[RgbImage],
    cam: Option<&GradCam<B>>,
) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(folder).map_err(|source| PlotError::Io { path: folder.into(), source })?;
    let v = VideoScores::from_result(result, models);
    let mut written = Vec::new();
    let (faces, gradcam) = (folder.join(FACES_PNG), folder.join(GRADCAM_PNG));
    if !v.faces.is_empty() {
        written.push(contact_sheet(&faces, &v, crops)?);
    } else {
        remove_stale(&faces)?;
    }
    match cam {
        Some(cam) if !v.faces.is_empty() => {
            let top = v.most_suspicious(GRAD_CAM_FACES);
            let chosen: Vec<RgbImage> = top.iter().map(|&k| crops[k].clone()).collect();
            // One crop per pass: on flex a batch of 4 costs 6× more per crop than 4 single passes (benches/gradcam.rs).
            let maps = cam.maps_of_crops(&chosen, 1).map_err(|e| PlotError::Input {
                what: format!("Grad-CAM of {}", result.file),
                reason: e.to_string(),
            })?;
            let model = models.first().map_or("model", String::as_str);
            written.push(grad_cam_sheet(&gradcam, &v, model, &top, &chosen, &maps)?);
        }
        _ => remove_stale(&gradcam)?,
    }
    written.push(timeline(&folder.join(TIMELINE_PNG), &v)?);
    Ok(written)
}

fn remove_stale(path: &Path) -> Result<(), PlotError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PlotError::Io { path: path.into(), source: e }),
        _ => Ok(()),
    }
}

/// What the video pictures show, taken from a video's result (see `from_result`).
#[derive(Debug, Clone)]
pub struct VideoScores<'a> {
    pub file: &'a str,
    /// How the video ended, and the frames read (the timeline of a video without faces says why).
    pub status: Status,
    pub frames_read: usize,
    /// Model names, in the order of every probability list.
    pub models: &'a [String],
    /// The video's score (`None` when it could not be scored).
    pub score: Option<f32>,
    /// The confident rule's score per model.
    pub per_model: &'a [f32],
    /// Every classified face in order: its frame index and one probability per model.
    pub faces: Vec<(u64, &'a [f32])>,
}

impl<'a> VideoScores<'a> {
    pub fn from_result(result: &'a crate::infer::VideoResult, models: &'a [String]) -> Self {
        let faces = result
            .frames
            .iter()
            .flat_map(|f| f.faces.iter().map(move |face| (f.index, face.probabilities.as_slice())))
            .collect();
        Self {
            file: &result.file,
            status: result.status,
            frames_read: result.frames_read,
            models,
            score: result.score,
            per_model: &result.per_model,
            faces,
        }
    }

    /// Mean over models of face `k`'s probabilities.
    pub fn face_score(&self, k: usize) -> f32 {
        let p = self.faces[k].1;
        p.iter().sum::<f32>() / p.len().max(1) as f32
    }

    /// Indices of the `n` faces with the highest mean probability, highest first.
    pub fn most_suspicious(&self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.faces.len()).collect();
        order.sort_by(|&a, &b| self.face_score(b).total_cmp(&self.face_score(a)));
        order.truncate(n);
        order
    }
}

pub const TIMELINE_SIZE: (u32, u32) = (1000, 520);

/// A short label for a model: its file name without the folders.
fn short(model: &str) -> &str {
    Path::new(model).file_name().and_then(|n| n.to_str()).unwrap_or(model)
}

fn verdict(v: &VideoScores<'_>) -> String {
    match v.score {
        Some(s) if s > 0.5 => format!("score {s:.3}: FAKE"),
        Some(s) => format!("score {s:.3}: REAL"),
        None => format!("not scored ({})", v.status),
    }
}

/// What the timeline of a video without classified faces says instead of points.
fn why_empty(v: &VideoScores<'_>) -> String {
    match v.status {
        Status::NoFace | Status::Ok => format!("no face found in {} frame(s)", v.frames_read),
        status => format!("not scored: {status} (no frames to look at)"),
    }
}

/// Per-face probabilities over the frames, one colour per model, with the video's score and the 0.5 line.
pub fn timeline(path: &Path, v: &VideoScores<'_>) -> Result<PathBuf, PlotError> {
    // Without faces the axis spans the frames read, so it is not a degenerate 0..1.
    let last = v.faces.iter().map(|f| f.0 + 1).max().unwrap_or(v.frames_read.max(1) as u64);
    render_png(path, TIMELINE_SIZE, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: {}, {} faces", v.file, verdict(v), v.faces.len()), text(22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..last as f64, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc("frame")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("fake probability of each face")
            .label_style(text(15))
            .axis_desc_style(text(17))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new([(0.0, 0.5), (last as f64, 0.5)], 8, 6, BLACK.mix(0.6).stroke_width(2)))?
            .label("0.5: fake above")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.6).stroke_width(2)));
        for (m, name) in v.models.iter().enumerate() {
            let colour = MODEL_COLOURS[m % MODEL_COLOURS.len()];
            // The mean over a frame's faces joins the frames; every face is a dot.
            let mut frames: Vec<(u64, f64, usize)> = Vec::new();
            for &(frame, probs) in &v.faces {
                let p = f64::from(probs.get(m).copied().unwrap_or(f32::NAN));
                match frames.last_mut() {
                    Some(last) if last.0 == frame => {
                        last.1 += p;
                        last.2 += 1;
                    }
                    _ => frames.push((frame, p, 1)),
                }
            }
            let line: Vec<(f64, f64)> = frames.iter().map(|&(f, s, n)| (f as f64, s / n as f64)).collect();
            let rule = v.per_model.get(m).map(|s| format!(" (rule {s:.3})")).unwrap_or_default();
            chart
                .draw_series(LineSeries::new(line, colour.mix(0.8).stroke_width(2)))?
                .label(format!("{}{rule}", short(name)))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(3)));
            chart.draw_series(v.faces.iter().filter_map(|&(frame, probs)| {
                probs.get(m).map(|&p| Circle::new((frame as f64, f64::from(p)), 3, colour.filled()))
            }))?;
        }
        if v.faces.is_empty() {
            let (w, h) = root.dim_in_pixel();
            let note = why_empty(v);
            let grey = BLACK.mix(0.7);
            let style = text(24).color(&grey).pos(Pos::new(HPos::Center, VPos::Center));
            // Above the 0.5 line, in the empty plot.
            root.draw(&Text::new(note, (w as i32 / 2, h as i32 * 3 / 10), style))?;
        }
        if let Some(score) = v.score {
            let s = f64::from(score);
            let colour = if score > 0.5 { FAKE_COLOUR } else { REAL_COLOUR };
            chart
                .draw_series(LineSeries::new([(0.0, s), (last as f64, s)], colour.stroke_width(3)))?
                .label(format!("video score {score:.3}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(text(15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .draw()?;
        Ok(())
    })
}

/// Side of a thumbnail on the contact sheet, and the sheet's columns.
pub const THUMB: u32 = 128;
pub const COLUMNS: u32 = 8;
const PAD: u32 = 8;
const CAPTION: u32 = 22;
const HEADER: u32 = 40;

fn score_colour(s: f32) -> RGBColor {
    if s > 0.5 {
        FAKE_COLOUR
    } else {
        REAL_COLOUR
    }
}

/// Pastes `img` into the RGB buffer `buf` (`width` wide) at `(x, y)`, clipped.
fn paste(buf: &mut [u8], width: u32, img: &RgbImage, x: u32, y: u32) {
    let height = (buf.len() / 3) as u32 / width;
    for (dy, row) in img.rows().enumerate() {
        let ty = y + dy as u32;
        if ty >= height {
            break;
        }
        for (dx, p) in row.enumerate() {
            let tx = x + dx as u32;
            if tx >= width {
                break;
            }
            let o = 3 * (ty * width + tx) as usize;
            buf[o..o + 3].copy_from_slice(&p.0);
        }
    }
}

/// Every classified face as a thumbnail with its frame and mean probability, framed red (> 0.5) or blue.
/// `crops` are the faces in the order of `v.faces`.
pub fn contact_sheet(path: &Path, v: &VideoScores<'_>, crops: &[RgbImage]) -> Result<PathBuf, PlotError> {
    if crops.len() != v.faces.len() {
        return Err(PlotError::Input {
            what: format!("contact sheet of {}", v.file),
            reason: format!("{} crops for {} faces", crops.len(), v.faces.len()),
        });
    }
    let n = crops.len().max(1) as u32;
    let cols = n.min(COLUMNS);
    let rows = n.div_ceil(COLUMNS);
    let cell = (THUMB + PAD, THUMB + CAPTION + PAD);
    let size = ((cols * cell.0 + PAD).max(420), HEADER + rows * cell.1 + PAD);
    let mut rgb = vec![255u8; (size.0 * size.1 * 3) as usize];
    let origin = |k: usize| (PAD + (k as u32 % COLUMNS) * cell.0, HEADER + (k as u32 / COLUMNS) * cell.1);
    for (k, crop) in crops.iter().enumerate() {
        let thumb = resize(crop, THUMB, THUMB, FilterType::Triangle);
        let (x, y) = origin(k);
        paste(&mut rgb, size.0, &thumb, x, y);
    }
    render_on(path, &mut rgb, size, |root| -> DrawResult {
        root.draw(&Text::new(
            format!("{}: {}, {} faces (mean over models)", v.file, verdict(v), v.faces.len()),
            (PAD as i32, 10),
            text(18),
        ))?;
        for k in 0..crops.len() {
            let (x, y) = origin(k);
            let (x, y) = (x as i32, y as i32);
            let s = v.face_score(k);
            let colour = score_colour(s);
            let t = THUMB as i32;
            for inset in 0..3 {
                root.draw(&Rectangle::new([(x + inset, y + inset), (x + t - 1 - inset, y + t - 1 - inset)], colour))?;
            }
            root.draw(&Text::new(
                format!("frame {}: {s:.3}", v.faces[k].0),
                (x + 2, y + t + 3),
                text(15).color(&colour),
            ))?;
        }
        Ok(())
    })?;
    write_png(path, &rgb, size)?;
    Ok(path.to_path_buf())
}

/// Side of a crop on the Grad-CAM sheet.
pub const CAM_SIDE: u32 = 256;

/// The chosen faces' crops beside the same crops under their Grad-CAM heat map (red: what drove "fake").
/// `faces[i]` is the face index in `v.faces` that `crops[i]` and `maps[i]` belong to; `model` names the
/// classifier the maps came from.
pub fn grad_cam_sheet(
    path: &Path,
    v: &VideoScores<'_>,
    model: &str,
    faces: &[usize],
    crops: &[RgbImage],
    maps: &[CamMap],
) -> Result<PathBuf, PlotError> {
    if crops.len() != faces.len() || maps.len() != faces.len() || faces.iter().any(|&k| k >= v.faces.len()) {
        return Err(PlotError::Input {
            what: format!("Grad-CAM sheet of {}", v.file),
            reason: format!("{} faces, {} crops, {} maps", faces.len(), crops.len(), maps.len()),
        });
    }
    let rows = faces.len().max(1) as u32;
    let cell_h = CAM_SIDE + CAPTION + PAD;
    let size = (2 * CAM_SIDE + 3 * PAD, HEADER + rows * cell_h + PAD);
    let mut rgb = vec![255u8; (size.0 * size.1 * 3) as usize];
    for (row, (crop, map)) in crops.iter().zip(maps).enumerate() {
        let side = resize(crop, CAM_SIDE, CAM_SIDE, FilterType::Triangle);
        let y = HEADER + row as u32 * cell_h;
        paste(&mut rgb, size.0, &side, PAD, y);
        paste(&mut rgb, size.0, &overlay(&side, map), 2 * PAD + CAM_SIDE, y);
    }
    render_on(path, &mut rgb, size, |root| -> DrawResult {
        root.draw(&Text::new(format!("Grad-CAM ({}): red drove \"fake\"", short(model)), (PAD as i32, 10), text(18)))?;
        for (row, (&k, map)) in faces.iter().zip(maps).enumerate() {
            let y = (HEADER + row as u32 * cell_h + CAM_SIDE + 3) as i32;
            let s = v.face_score(k);
            root.draw(&Text::new(
                format!("frame {}: face score {s:.3}, this model's logit {:.2}", v.faces[k].0, map.logit),
                (PAD as i32, y),
                text(15).color(&score_colour(s)),
            ))?;
        }
        Ok(())
    })?;
    write_png(path, &rgb, size)?;
    Ok(path.to_path_buf())
}

/// `img` with the map upsampled bilinearly (pixel centres, as cv2.resize) and blended in as a jet colour map,
/// more opaque where the map is high.
pub fn overlay(img: &RgbImage, map: &CamMap) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let v = bilinear(
            map,
            (x as f32 + 0.5) * map.width as f32 / w as f32 - 0.5,
            (y as f32 + 0.5) * map.height as f32 / h as f32 - 0.5,
        );
        let c = jet(v);
        let alpha = 0.25 + 0.45 * v;
        for (v, &c) in p.0.iter_mut().zip(&c) {
            *v = (f32::from(*v) * (1.0 - alpha) + f32::from(c) * alpha).round() as u8;
        }
    }
    out
}

fn bilinear(map: &CamMap, x: f32, y: f32) -> f32 {
    let at = |xi: i64, yi: i64| {
        let xi = xi.clamp(0, map.width as i64 - 1) as usize;
        let yi = yi.clamp(0, map.height as i64 - 1) as usize;
        map.values[yi * map.width + xi]
    };
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    (top * (1.0 - fy) + bottom * fy).clamp(0.0, 1.0)
}

/// The jet colour map: blue (0) → cyan → yellow → red (1).
pub fn jet(v: f32) -> [u8; 3] {
    let c = |d: f32| ((1.5 - (4.0 * v - d).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [c(3.0), c(2.0), c(1.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_runs_from_blue_to_red() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        assert_eq!(jet(0.5), [128, 255, 128]);
    }

    #[test]
    fn bilinear_hits_the_map_at_pixel_centres() {
        let map = CamMap { logit: 0.0, width: 2, height: 1, values: vec![0.0, 1.0] };
        assert_eq!(bilinear(&map, 0.0, 0.0), 0.0);
        assert_eq!(bilinear(&map, 1.0, 0.0), 1.0);
        assert_eq!(bilinear(&map, 0.5, 0.0), 0.5);
        assert_eq!(bilinear(&map, -0.5, 0.0), 0.0); // clamped at the border
    }
}
