//! The pipeline's stages called one by one from Rust, then the whole runner: what README's "Library" section shows.
//!
//!   cargo run --release --example stages -- clip.mp4 model.bpk

use burn::backend::Flex;
use deepfake_detector::face::{prepare_crops, select_faces, Detector, DetectorConfig};
use deepfake_detector::infer::{Event, InferOptions, Runner};
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::video::{read_frames, SampleOptions};
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::mtcnn::shipped_mtcnn;

type B = Flex;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, video, model] = args.as_slice() else {
        return Err("usage: stages VIDEO MODEL".into());
    };
    let device: burn::prelude::Device<B> = Default::default();
    let detector = Detector::new(shipped_mtcnn::<B>(&device)?, DetectorConfig::dfdc_inference(), device.clone());
    let loaded = load_classifier::<B>(model.as_ref(), None, &device)?;
    let scorer = Scorer::new(model.as_str(), loaded.model, loaded.config.input_size as u32, device.clone());

    // Stage by stage.
    let frames = read_frames(video, &SampleOptions::default())?; // 32 frames and their half-size copies
    let faces = detector.detect(&frames.halves); // MTCNN on the halves
    let chosen = select_faces(&frames.sizes(), &faces, 2.0, 127); // boxes x2, 1/3 margins, the 127 cap
    let full: Vec<_> = frames.frames.iter().map(|f| &f.image).collect();
    let crops = prepare_crops(&full, &chosen, &[scorer.input_size]); // cut, resized and centred at once
    let probabilities = scorer.probabilities(crops.at(scorer.input_size).unwrap_or_default())?;
    println!("{} faces, probabilities {probabilities:?}", crops.len());

    // All of it, as `deepfake infer` does for each file (and a server for each upload).
    let runner = Runner { detector, scorers: vec![scorer], options: InferOptions::default() };
    let result = runner.run_file(video, video.as_ref(), &mut |event| {
        if let Event::FacesFound { found, used, .. } = event {
            eprintln!("{found} faces found, {used} classified");
        }
    });
    println!("{}: {} score {:?}", result.file, result.status, result.score);
    Ok(())
}
