//! Reading photos the way Pillow does: JPEG through libjpeg-turbo (the decoder inside Pillow and OpenCV), other
//! formats through the `image` crate. image-rs's own JPEG decoder differs from libjpeg-turbo by up to 4 grey
//! levels on 11 % of the pixels of grace_hopper.jpg, enough to move an MTCNN box by 3 px.

use std::path::Path;

use image::RgbImage;

/// Why an image file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a readable image: {reason}")]
    Decode { path: String, reason: String },
    /// The header's width × height is over the caller's limit; nothing was decoded.
    #[error("{path}: the image is {width}x{height} = {pixels} pixels, over the limit of {max_pixels} (--max-pixels)")]
    TooLarge { path: String, width: u32, height: u32, pixels: u64, max_pixels: u64 },
}

/// Why bytes in memory could not be decoded (a [`LoadError`] without the path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Malformed(String),
    #[error("the image is {width}x{height}, over the limit of {max_pixels} pixels")]
    TooLarge { width: u32, height: u32, max_pixels: u64 },
}

impl DecodeError {
    fn at(self, path: &Path) -> LoadError {
        let path = path.display().to_string();
        match self {
            DecodeError::Malformed(reason) => LoadError::Decode { path, reason },
            DecodeError::TooLarge { width, height, max_pixels } => {
                LoadError::TooLarge { path, width, height, pixels: u64::from(width) * u64::from(height), max_pixels }
            }
        }
    }
}

/// Decodes an image file to 8-bit RGB, like `PIL.Image.open(path).convert("RGB")` (no EXIF rotation).
pub fn load_rgb(path: &Path) -> Result<RgbImage, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: name.clone(), source })?;
    decode_rgb(&bytes).map_err(|reason| LoadError::Decode { path: name, reason })
}

/// [`load_rgb`], but the width and height are read from the header first and an image of more than `max_pixels`
/// pixels is refused before anything is decoded ([`LoadError::TooLarge`]).
pub fn load_rgb_checked(path: &Path, max_pixels: u64) -> Result<RgbImage, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.display().to_string(), source })?;
    decode_rgb_checked(&bytes, max_pixels).map_err(|e| e.at(path))
}

/// The image's `(width, height)` from its header alone (JPEG through libjpeg-turbo, like the decoder; PNG and the
/// rest through the `image` crate, which reads only the header for this).
pub fn image_dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        if let Ok(header) = turbojpeg::read_header(bytes) {
            let size = |v: usize| u32::try_from(v).map_err(|_| format!("implausible JPEG size {v}"));
            return Ok((size(header.width)?, size(header.height)?));
        }
    }
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| e.to_string())
}

/// [`decode_rgb`] after checking the header's size against `max_pixels`.
pub fn decode_rgb_checked(bytes: &[u8], max_pixels: u64) -> Result<RgbImage, DecodeError> {
    let (width, height) = image_dimensions(bytes).map_err(DecodeError::Malformed)?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(DecodeError::TooLarge { width, height, max_pixels });
    }
    let img = decode_rgb(bytes).map_err(DecodeError::Malformed)?;
    // A decoder that found a size other than the header's (it should not) is held to the limit as well.
    if u64::from(img.width()) * u64::from(img.height()) > max_pixels {
        return Err(DecodeError::TooLarge { width: img.width(), height: img.height(), max_pixels });
    }
    Ok(img)
}

/// [`load_rgb`] on bytes in memory.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, String> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        // CMYK and other exotic JPEGs that libjpeg-turbo's RGB output refuses fall through to image-rs.
        if let Ok(img) = turbojpeg::decompress_image::<image::Rgb<u8>>(bytes) {
            return Ok(img);
        }
    }
    image::load_from_memory(bytes).map(|img| img.to_rgb8()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_rgb(b"").is_err());
        assert!(decode_rgb(b"\xFF\xD8\xFF\xE0 truncated jpeg").is_err());
        assert!(decode_rgb(b"hello").is_err());
    }

    #[test]
    fn png_round_trips() {
        let img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        assert_eq!(decode_rgb(&png).unwrap(), img);
    }

    #[test]
    fn webp_decodes_whatever_its_name_says() {
        // Two of the headshot sources are WebP files named `.jpg`: the decoder goes by the bytes.
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([40 * x as u8, 60 * y as u8, 9]));
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .encode(img.as_raw(), 5, 3, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(image_dimensions(&webp), Ok((5, 3)));
        assert_eq!(decode_rgb(&webp).unwrap(), img);
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::new(width, height);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        png
    }

    #[test]
    fn reads_dimensions_from_png_and_jpeg_headers() {
        assert_eq!(image_dimensions(&png(7, 3)), Ok((7, 3)));
        let jpeg = turbojpeg::compress_image(&RgbImage::new(33, 17), 90, turbojpeg::Subsamp::Sub2x2).unwrap();
        assert_eq!(image_dimensions(&jpeg), Ok((33, 17)));
        assert!(image_dimensions(b"hello").is_err());
    }

    #[test]
    fn refuses_images_over_the_pixel_limit_before_decoding() {
        let small = png(4, 4);
        assert_eq!(decode_rgb_checked(&small, 16).unwrap().dimensions(), (4, 4));
        assert_eq!(decode_rgb_checked(&small, 15), Err(DecodeError::TooLarge { width: 4, height: 4, max_pixels: 15 }));
        // A PNG whose header claims 100000 x 100000 but holds no pixel data: refused from the header alone (a
        // decoder would try to allocate 30 GB or fail later).
        let mut huge = png(1, 1);
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        // The IHDR chunk's CRC-32 (over type and data, bytes 12..29) must match the new size.
        let crc = !huge[12..29].iter().fold(!0u32, |mut c, &b| {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
            c
        });
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode_rgb_checked(&huge, 4096 * 4096),
            Err(DecodeError::TooLarge { width: 100_000, height: 100_000, .. })
        ));
        // The same for a JPEG whose frame header says 60000 x 60000.
        let mut jpeg = turbojpeg::compress_image(&RgbImage::new(8, 8), 90, turbojpeg::Subsamp::None).unwrap().to_vec();
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline JPEG has SOF0");
        jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
        assert!(matches!(decode_rgb_checked(&jpeg, 4096 * 4096), Err(DecodeError::TooLarge { width: 60_000, .. })));
    }

    #[test]
    fn the_file_error_names_the_path_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.png");
        std::fs::write(&path, png(10, 10)).unwrap();
        let e = load_rgb_checked(&path, 99).unwrap_err();
        assert!(matches!(e, LoadError::TooLarge { pixels: 100, max_pixels: 99, .. }));
        let msg = e.to_string();
        assert!(msg.contains("big.png") && msg.contains("10x10") && msg.contains("99"), "{msg}");
        assert_eq!(load_rgb_checked(&path, 100).unwrap().dimensions(), (10, 10));
    }
}
