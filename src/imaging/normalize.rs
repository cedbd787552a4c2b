//! The classifier's input tensor: `(x / 255 − mean) / std` per channel, NCHW, f32 (dfdc-solution.md §5.4, §9.9).

use image::RgbImage;

use crate::imaging::ImagingError;

/// ImageNet statistics used by every DFDC classifier.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Stack `images` into one `[n, 3, h, w]` f32 buffer (row-major), normalised as `predict_on_video` does:
/// `x[i] = normalize_transform(x[i] / 255.)`, i.e. torchvision `Normalize`'s `sub_(mean).div_(std)`
/// after a true f32 division by 255.
///
/// Each step is one rounded f32 operation in that order, which is what torch computes on the CPU (and
/// what albumentations' `img_to_tensor` gives too: its f64 `x / 255` rounds to the same f32). On CUDA torch
/// divides by a scalar through its reciprocal, which can differ in the last bit; the original then casts
/// to fp16, which hides that.
pub fn to_nchw(images: &[RgbImage], mean: [f32; 3], std: [f32; 3]) -> Result<Vec<f32>, ImagingError> {
    let Some(first) = images.first() else {
        return Ok(Vec::new());
    };
    let expected = first.dimensions();
    if let Some((index, img)) = images.iter().enumerate().find(|(_, i)| i.dimensions() != expected) {
        return Err(ImagingError::SizeMismatch { index, expected, found: img.dimensions() });
    }
    let plane = expected.0 as usize * expected.1 as usize;
    let mut out = vec![0f32; images.len() * 3 * plane];
    if plane == 0 {
        return Ok(out);
    }
    for (img, chunk) in images.iter().zip(out.chunks_exact_mut(3 * plane)) {
        let (r, rest) = chunk.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (i, p) in img.as_raw().chunks_exact(3).enumerate() {
            r[i] = (f32::from(p[0]) / 255.0 - mean[0]) / std[0];
            g[i] = (f32::from(p[1]) / 255.0 - mean[1]) / std[1];
            b[i] = (f32::from(p[2]) / 255.0 - mean[2]) / std[2];
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_and_white_map_to_the_imagenet_extremes() {
        let imgs = [RgbImage::from_pixel(2, 1, image::Rgb([0, 255, 0]))];
        let x = to_nchw(&imgs, IMAGENET_MEAN, IMAGENET_STD).unwrap();
        assert_eq!(x.len(), 6);
        assert_eq!(x[0], (0.0 - 0.485f32) / 0.229f32);
        assert_eq!(x[2], (1.0 - 0.456f32) / 0.224f32);
        assert_eq!(x[4], x[5]);
    }

    #[test]
    fn planes_are_channel_major() {
        let img = RgbImage::from_fn(2, 2, |x, y| image::Rgb([(x + 2 * y) as u8, 100, 200]));
        let x = to_nchw(&[img], [0.0; 3], [1.0 / 255.0; 3]).unwrap();
        let r: Vec<f32> = x[..4].iter().map(|v| v.round()).collect();
        assert_eq!(r, [0.0, 1.0, 2.0, 3.0]);
        assert!(x[4..8].iter().all(|v| v.round() == 100.0));
    }

    #[test]
    fn rejects_batches_of_different_sizes() {
        let err = to_nchw(&[RgbImage::new(2, 2), RgbImage::new(2, 3)], IMAGENET_MEAN, IMAGENET_STD).unwrap_err();
        assert_eq!(err, ImagingError::SizeMismatch { index: 1, expected: (2, 2), found: (2, 3) });
        assert!(to_nchw(&[RgbImage::new(0, 2), RgbImage::new(2, 0)], IMAGENET_MEAN, IMAGENET_STD).is_err());
        assert_eq!(to_nchw(&[], IMAGENET_MEAN, IMAGENET_STD).unwrap(), Vec::<f32>::new());
    }
}
