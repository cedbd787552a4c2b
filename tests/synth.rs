//! `synth` on real test media: layout and metadata, fakes differ from their originals only inside their masks,
//! the same seed gives the same bytes, held-out identities stay apart.

#[path = "common/synth_data.rs"]
mod synth_data;

use std::collections::BTreeMap;
use std::path::Path;

use deepfake_detector::synth::{
    is_holdout, part_of,
    raster::{dilate_nonzero, Mask},
    Method,
};
use deepfake_detector::video::{for_each_frame, SampleOptions};
use image::RgbImage;

fn frames(path: &Path) -> Vec<RgbImage> {
    let mut out = Vec::new();
    for_each_frame(path, &SampleOptions::default(), 1, |f| {
        out.push(f.image);
        true
    })
    .unwrap();
    out
}

fn metadata(root: &Path) -> BTreeMap<(u32, String), serde_json::Value> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(part) = name.strip_prefix("dfdc_train_part_") {
            let meta: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
            for (k, v) in meta {
                assert!(dir.join(&k).is_file(), "{k} listed but missing");
                out.insert((part.parse().unwrap(), k), v);
            }
        }
    }
    out
}

#[test]
fn fakes_differ_from_their_originals_only_inside_their_masks() {
    let predictor = synth_data::predictor();
    let dir = tempfile::tempdir().unwrap();
    // Lossless H.264, so that decoded pixels outside the mask can be compared exactly (4:2:0 chroma and its
    // upsampling spread a difference by a pixel or two: the mask is dilated by 3).
    let report = synth_data::make(dir.path(), &predictor, |r| {
        r.holdout = 0.0;
        r.encode.crf = 0;
    });
    assert_eq!(report.identities, 3);
    assert_eq!(report.real_clips, 3, "{report:?}");
    assert_eq!(report.fakes.get(&Method::Sbi), Some(&3));
    assert_eq!(report.fakes.get(&Method::Swap), Some(&3));
    let meta = metadata(dir.path());
    assert_eq!(meta.len(), 9);
    let mut checked = 0;
    for ((part, name), v) in &meta {
        match v["label"].as_str().unwrap() {
            "REAL" => assert!(v["original"].is_null(), "{name}"),
            "FAKE" => {
                let original = v["original"].as_str().unwrap();
                let orig = meta.get(&(*part, original.to_string())).unwrap_or_else(|| panic!("{name}: {original}"));
                assert_eq!(orig["label"], "REAL");
                assert_eq!(orig["identity"], v["identity"]);
                let part_dir = dir.path().join(format!("dfdc_train_part_{part}"));
                let (fake, real) = (frames(&part_dir.join(name)), frames(&part_dir.join(original)));
                assert_eq!(fake.len(), 21);
                assert_eq!(fake.len(), real.len());
                let id = name.trim_end_matches(".mp4");
                let png = image::open(dir.path().join("masks").join(format!("{id}.png"))).unwrap().to_luma8();
                let (w, h) = png.dimensions();
                let mask = Mask {
                    width: w as usize,
                    height: h as usize,
                    data: png.pixels().map(|p| f32::from(p[0])).collect(),
                };
                let allowed = dilate_nonzero(&mask, 3);
                let mut inside_changed = 0usize;
                for (f, r) in fake.iter().zip(&real) {
                    assert_eq!(f.dimensions(), (w, h));
                    for (i, (a, b)) in f.pixels().zip(r.pixels()).enumerate() {
                        if a != b {
                            assert!(allowed[i], "{name}: pixel {} of a frame changed outside the mask", i);
                            inside_changed += 1;
                        }
                    }
                }
                assert!(inside_changed > 100, "{name}: the fake hardly differs ({inside_changed} pixels)");
                checked += 1;
            }
            other => panic!("{name}: label {other}"),
        }
        assert_eq!(v["split"], "train");
    }
    assert_eq!(checked, 6);
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_clips() {
    let predictor = synth_data::predictor();
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let methods = |r: &mut deepfake_detector::synth::SynthRequest| r.frames = 12;
    synth_data::make(a.path(), &predictor, methods);
    synth_data::make(b.path(), &predictor, methods);
    synth_data::make(c.path(), &predictor, |r| {
        r.frames = 12;
        r.seed = 8;
    });
    let (ta, tb, tc) = (synth_data::tree(a.path()), synth_data::tree(b.path()), synth_data::tree(c.path()));
    assert!(ta.len() >= 7, "{ta:?}");
    assert_eq!(ta, tb);
    assert_ne!(ta.keys().collect::<Vec<_>>(), tc.keys().collect::<Vec<_>>());
}

#[test]
fn held_out_identities_stay_in_parts_0_to_2_and_never_meet_training_faces() {
    // The split is a hash of the name: stable, whatever else is in the set and whatever the seed.
    let names: Vec<String> = (0..400).map(|i| format!("person_{i}")).collect();
    let held: Vec<&String> = names.iter().filter(|n| is_holdout(n, 0.25)).collect();
    assert!((70..130).contains(&held.len()), "{} of 400 held out", held.len());
    for n in &names {
        let part = part_of(n, 0.25, 4);
        assert_eq!(part < 3, is_holdout(n, 0.25), "{n}");
        assert!(part < 7);
    }
    let predictor = synth_data::predictor();
    let dir = tempfile::tempdir().unwrap();
    let report = synth_data::make(dir.path(), &predictor, |r| {
        r.holdout = 0.5;
        r.frames = 12;
    });
    let meta = metadata(dir.path());
    for ((part, name), v) in &meta {
        let identity = v["identity"].as_str().unwrap();
        assert_eq!(*part < 3, report.holdout_identities.iter().any(|h| h == identity), "{name}");
        if let Some(donor) = v.get("donor").and_then(|d| d.as_str()) {
            assert_eq!(is_holdout(donor, 0.5), is_holdout(identity, 0.5), "{name}: {identity} got {donor}'s face");
        }
    }
}
