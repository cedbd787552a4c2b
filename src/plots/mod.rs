//! Pictures (PNG, drawn with plotters): `eval`'s curves and histograms ([`eval`]) and `infer`'s per-video
//! timelines, contact sheets and Grad-CAM heat maps ([`video`]). Each module draws through [`render_png`], which
//! owns the font, the pixel buffer and the atomic write, so a new picture is one function in one new module.
//!
//! Text uses DejaVu Sans embedded in the binary (the `dejavu` crate): no system fonts, so the pictures look the
//! same on every machine, and CI needs no font packages.

pub mod eval;
pub mod video;

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// The font family every picture uses (registered on first use).
pub const FONT: &str = "sans-serif";

/// Colours shared by the pictures: real is blue, fake is red, everywhere.
pub const REAL_COLOUR: RGBColor = RGBColor(31, 119, 180);
pub const FAKE_COLOUR: RGBColor = RGBColor(214, 39, 40);
/// One colour per model (matplotlib's tab10 without blue and red, which mean real and fake).
pub const MODEL_COLOURS: [RGBColor; 8] = [
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Why a picture was not written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("drawing {path}: {reason}")]
    Draw { path: PathBuf, reason: String },
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{what}: {reason}")]
    Input { what: String, reason: String },
}

/// What a drawing function may fail with (plotters' errors, boxed).
pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font compiled into the `dejavu` crate; failing here is a build defect.
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font must parse"));
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans Bold font must parse"));
    });
}

/// Draws a `width`×`height` picture on white and writes it to `path` as PNG, atomically.
pub fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> Result<PathBuf, PlotError> {
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    render_on(path, &mut rgb, (width, height), draw)?;
    write_png(path, &rgb, (width, height))?;
    Ok(path.to_path_buf())
}

/// Draws on an existing RGB buffer (pixels already placed, e.g. face crops).
pub fn render_on(
    path: &Path,
    rgb: &mut [u8],
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> Result<(), PlotError> {
    register_font();
    let failed = |e: &dyn std::fmt::Display| PlotError::Draw { path: path.into(), reason: e.to_string() };
    let root = BitMapBackend::with_buffer(rgb, size).into_drawing_area();
    draw(&root).map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

/// Encodes an RGB buffer as PNG and writes it atomically.
pub fn write_png(path: &Path, rgb: &[u8], (width, height): (u32, u32)) -> Result<(), PlotError> {
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| PlotError::Draw { path: path.into(), reason: e.to_string() })?;
    crate::atomic::write_atomic(path, &png).map_err(|source| PlotError::Io { path: path.into(), source })
}

/// A text style of the pictures' font.
pub fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// A file-name-safe form of a video's name (`dir/x y.mp4` → `dir_x_y.mp4`).
pub fn file_stem_for(video: &str) -> String {
    video.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect()
}
