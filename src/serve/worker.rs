//! The worker: takes queued jobs and scores them with the library's [`Runner`], one at a time on the device that
//! owns the models, decoding the next video on another thread meanwhile (as [`Runner::run_all`] does for
//! `infer`), with a time limit per job. Jobs that ask for pictures get those of `infer --plots`
//! ([`write_video_plots`]) in their folder.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, sync_channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use burn::backend::Autodiff;

use super::jobs::{Failure, Taken};
use super::Service;
use crate::cancel::Cancel;
use crate::infer::{decode, DecodedVideo, Event, Runner, VideoJob};
use crate::model::fused::FusedOps;
use crate::model::gradcam::GradCam;
use crate::plots::video::write_video_plots;
use crate::video::SampleOptions;

/// Scores queued jobs until the service shuts down. Call it on the thread that owns the device (inside a
/// [`crate::device::BackendTask`]); it returns after [`super::jobs::Jobs::shutdown`].
pub fn run<B: FusedOps>(runner: &Runner<B>, service: &Service) {
    let options = runner.options.sample.clone();
    let models: Vec<String> = runner.scorers.iter().map(|s| s.name.clone()).collect();
    // Grad-CAM of the first model, built at the first job that asks for pictures (it holds a copy of the model).
    let mut cam: Option<GradCam<Autodiff<B>>> = None;
    // Rendezvous: the decoder holds at most one decoded video while the runner works on the one before.
    let (tx, rx) = sync_channel::<(Taken, DecodedVideo)>(0);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("serve-decode".into())
            .spawn_scoped(scope, || decode_jobs(service, &options, tx))
            .expect("spawning the decoding thread");
        for (taken, decoded) in rx {
            if !service.jobs.is_running(&taken.id) {
                continue;
            }
            let id = taken.id.as_str();
            // A panic is a bug in a stage; it fails this job, not the service.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut crops = Vec::new();
                // The job's time limit also stops detection and classification, at their next stage or batch.
                let cancel = Cancel::new().with_deadline(taken.started + service.config.job_timeout);
                let result = runner.process_until(decoded, &cancel, &mut |e: Event<'_>| {
                    if let (true, Event::Cropped { crops: prepared, .. }) = (taken.plots, &e) {
                        // Lent for the moment of the call: keep the first model's crops for the pictures.
                        let size = runner.scorers.first().map_or(0, |s| s.input_size);
                        crops = prepared.at(size).map(<[_]>::to_vec).unwrap_or_default();
                    }
                    service.jobs.on_event(id, &e);
                });
                let Ok(result) = result else { return None };
                let mut plots_error = None;
                if taken.plots && service.jobs.is_running(id) {
                    service.jobs.set_stage(id, "drawing");
                    let cam = runner
                        .scorers
                        .first()
                        .map(|first| &*cam.get_or_insert_with(|| GradCam::new(first.model.clone())));
                    let folder = taken.dir.join(super::PLOTS_FOLDER);
                    if let Err(e) = write_video_plots(&folder, &result, &models, &crops, cam) {
                        plots_error = Some(e.to_string());
                    }
                }
                Some((result, plots_error))
            }));
            let kept = match outcome {
                Ok(None) => service.jobs.fail(id, timeout(service.config.job_timeout)),
                Ok(_) if out_of_time(service, &taken) => service.jobs.fail(id, timeout(service.config.job_timeout)),
                Ok(Some((result, plots_error))) => service.jobs.finish(id, result, plots_error),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a stage panicked".into());
                    service.jobs.fail(id, Failure { error: what, status: "internal_error".into() })
                }
            };
            if !kept {
                // Deleted while it ran: pictures drawn since are not left behind.
                let _ = std::fs::remove_dir_all(&taken.dir);
            }
        }
    });
}

fn out_of_time(service: &Service, taken: &Taken) -> bool {
    taken.started.elapsed() > service.config.job_timeout
}

fn timeout(limit: Duration) -> Failure {
    Failure { error: format!("the job ran past its time limit of {} s", limit.as_secs_f64()), status: "timeout".into() }
}

/// Takes jobs off the queue and decodes each on a thread of its own, waiting at most until the job's deadline:
/// a decode still running then is left to finish alone (its job fails with `timeout`), so one slow file does not
/// hold the queue.
fn decode_jobs(service: &Service, options: &SampleOptions, tx: std::sync::mpsc::SyncSender<(Taken, DecodedVideo)>) {
    while let Some(taken) = service.jobs.take() {
        let deadline = taken.started + service.config.job_timeout;
        let (done_tx, done_rx) = channel();
        let job = VideoJob { file: taken.file.clone(), path: taken.video.clone() };
        let opts = options.clone();
        let spawned = std::thread::Builder::new().name("serve-decode-job".into()).spawn(move || {
            let _ = done_tx.send(decode(job, &opts));
        });
        if let Err(e) = spawned {
            service.jobs.fail(
                &taken.id,
                Failure { error: format!("cannot start a decoder: {e}"), status: "internal_error".into() },
            );
            continue;
        }
        match done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(decoded) => {
                if tx.send((taken, decoded)).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                service.jobs.abandoned_decode();
                service.jobs.fail(&taken.id, timeout(service.config.job_timeout));
            }
            Err(RecvTimeoutError::Disconnected) => {
                service
                    .jobs
                    .fail(&taken.id, Failure { error: "the decoder panicked".into(), status: "internal_error".into() });
            }
        }
    }
}
