//! The job table and the bounded queue: what the HTTP handlers write and the worker reads. One mutex guards it
//! all (a few hundred jobs at most; every operation is a map look-up), a condition variable wakes the decoder
//! when a job is queued.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::infer::{Event, Status, VideoResult};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    /// The pipeline gave a verdict (`ok`) or found no face (`no_face`).
    Done,
    /// The video could not be scored (its typed status), or the job ran out of time.
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 4] = [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

/// Why a job failed, as the API's `{"error", "status"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub error: String,
    /// The video's typed status (`unreadable`, `too_large`, ...), or `timeout` / `internal_error`.
    pub status: String,
}

/// One uploaded video and what became of it.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    /// The upload's file name: the report's `file`.
    pub file: String,
    pub state: JobState,
    /// What the worker is doing while `Running`: `decoding`, `detecting`, `classifying`.
    pub stage: Option<&'static str>,
    /// The job's own folder (the upload, its plots); removed with the job.
    pub dir: PathBuf,
    /// The uploaded file, inside `dir`; removed as soon as the job ends.
    pub video: PathBuf,
    /// Whether the job asked for pictures.
    pub plots: bool,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
    pub result: Option<VideoResult>,
    pub failure: Option<Failure>,
    /// Why the pictures asked for could not be drawn (the verdict stands).
    pub plots_error: Option<String>,
}

/// What `GET /v1/jobs/{id}` answers.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: String,
    pub file: String,
    pub state: JobState,
    /// While queued: jobs ahead of this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'static str>,
    /// When finished: the per-video object `infer --report` writes.
    pub report: Option<VideoResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The pictures this job has, as paths under `/v1/jobs/{id}/plots/`.
    pub plots: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plots_error: Option<String>,
}

/// Counters for `/metrics` (since the service started).
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub accepted: u64,
    /// Refused uploads by reason (`queue_full`, `too_large`, `bad_request`, `unauthorized`, `upload_timeout`).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Finished jobs by the video's status (or `timeout`, `internal_error`, `deleted`).
    pub finished: BTreeMap<String, u64>,
    /// Seconds per stage over finished videos: decode, detect, classify, total.
    pub stage_seconds: [f64; 4],
    pub timed_videos: u64,
    /// Decodes that ran past their job's limit and were left to finish on their own thread.
    pub abandoned_decodes: u64,
}

/// A snapshot for `/metrics`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub queue_depth: usize,
    /// Uploads streaming in (each holds a queue slot).
    pub uploads_in_progress: usize,
    pub capacity: usize,
    pub by_state: [(JobState, usize); 4],
    pub counters: Counters,
}

#[derive(Debug)]
struct Inner {
    jobs: HashMap<String, Job>,
    queue: VecDeque<String>,
    /// Queue slots held by uploads in progress.
    reserved: usize,
    shutdown: bool,
    counters: Counters,
}

/// The queue is full: answer 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The job table and queue.
#[derive(Debug)]
pub struct Jobs {
    inner: Mutex<Inner>,
    wake: Condvar,
    capacity: usize,
}

/// A queue slot held while an upload streams in, so that uploads in progress cannot overfill the queue. Freed on
/// drop unless [`Jobs::submit`] used it.
#[derive(Debug)]
pub struct Slot<'a> {
    jobs: &'a Jobs,
    used: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.jobs.lock().reserved -= 1;
        }
    }
}

/// A job the decoder has taken from the queue.
#[derive(Debug, Clone)]
pub struct Taken {
    pub id: String,
    pub file: String,
    pub video: PathBuf,
    pub plots: bool,
    pub dir: PathBuf,
    pub started: Instant,
}

impl Jobs {
    /// A table whose queue holds at most `capacity` jobs (queued, not running).
    pub fn new(capacity: usize) -> Self {
        let inner = Inner {
            jobs: HashMap::new(),
            queue: VecDeque::new(),
            reserved: 0,
            shutdown: false,
            counters: Counters::default(),
        };
        Jobs { inner: Mutex::new(inner), wake: Condvar::new(), capacity }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; the table stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A queue slot for an upload about to stream in, or `QueueFull`.
    pub fn reserve(&self) -> Result<Slot<'_>, QueueFull> {
        let mut inner = self.lock();
        if inner.queue.len() + inner.reserved >= self.capacity {
            inner.counters.rejected.entry("queue_full").and_modify(|n| *n += 1).or_insert(1);
            return Err(QueueFull);
        }
        inner.reserved += 1;
        Ok(Slot { jobs: self, used: false })
    }

    /// Queues `job` in the slot reserved for it.
    pub fn submit(&self, mut slot: Slot<'_>, job: Job) {
        slot.used = true;
        let mut inner = self.lock();
        inner.reserved -= 1;
        inner.counters.accepted += 1;
        inner.queue.push_back(job.id.clone());
        inner.jobs.insert(job.id.clone(), job);
        drop(inner);
        self.wake.notify_all();
    }

    /// Counts a refused upload.
    pub fn reject(&self, reason: &'static str) {
        *self.lock().counters.rejected.entry(reason).or_insert(0) += 1;
    }

    /// Waits for the next queued job and marks it running; `None` once [`Jobs::shutdown`] was called.
    pub fn take(&self) -> Option<Taken> {
        let mut inner = self.lock();
        loop {
            if inner.shutdown {
                return None;
            }
            if let Some(id) = inner.queue.pop_front() {
                let job = inner.jobs.get_mut(&id).expect("queued ids are in the table (delete removes both)");
                let now = Instant::now();
                job.state = JobState::Running;
                job.stage = Some("decoding");
                job.started = Some(now);
                return Some(Taken {
                    id,
                    file: job.file.clone(),
                    video: job.video.clone(),
                    plots: job.plots,
                    dir: job.dir.clone(),
                    started: now,
                });
            }
            inner = self.wake.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops [`Jobs::take`] waiting (the service is shutting down).
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.wake.notify_all();
    }

    /// Whether job `id` still exists and runs (not deleted, not timed out).
    pub fn is_running(&self, id: &str) -> bool {
        self.lock().jobs.get(id).is_some_and(|j| j.state == JobState::Running)
    }

    /// Follows the runner's events in the job's `stage`.
    pub fn on_event(&self, id: &str, event: &Event<'_>) {
        let stage = match event {
            Event::Started { .. } => "decoding",
            Event::Decoded { .. } => "detecting",
            Event::FacesFound { .. } | Event::Cropped { .. } | Event::Scored { .. } => "classifying",
            Event::Finished(_) => "finishing",
        };
        if let Some(job) = self.lock().jobs.get_mut(id) {
            job.stage = Some(stage);
        }
    }

    /// Sets the stage of running job `id` (`drawing` while its pictures are made).
    pub fn set_stage(&self, id: &str, stage: &'static str) {
        if let Some(job) = self.lock().jobs.get_mut(id) {
            job.stage = Some(stage);
        }
    }

    /// Ends a running job with the runner's result: `done` for `ok` and `no_face`, `failed` for the other statuses.
    /// The upload is removed. Returns false when the job is gone (deleted, or timed out) and the result is dropped.
    pub fn finish(&self, id: &str, result: VideoResult, plots_error: Option<String>) -> bool {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(job) = inner.jobs.get_mut(id).filter(|j| j.state == JobState::Running) else {
            return false;
        };
        let t = &result.timing;
        for (sum, s) in inner.counters.stage_seconds.iter_mut().zip([t.decode_s, t.detect_s, t.classify_s, t.total_s]) {
            *sum += s;
        }
        inner.counters.timed_videos += 1;
        *inner.counters.finished.entry(result.status.as_str().to_string()).or_insert(0) += 1;
        let failed = !matches!(result.status, Status::Ok | Status::NoFace);
        job.state = if failed { JobState::Failed } else { JobState::Done };
        if failed {
            job.failure = Some(Failure {
                error: result.error.clone().unwrap_or_else(|| format!("the video is {}", result.status)),
                status: result.status.as_str().to_string(),
            });
        }
        job.result = Some(result);
        job.plots_error = plots_error;
        end(job);
        true
    }

    /// Ends a running job without a result (`timeout`, `internal_error`). Returns false when it is gone.
    pub fn fail(&self, id: &str, failure: Failure) -> bool {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(job) = inner.jobs.get_mut(id).filter(|j| j.state == JobState::Running) else {
            return false;
        };
        *inner.counters.finished.entry(failure.status.clone()).or_insert(0) += 1;
        job.state = JobState::Failed;
        job.failure = Some(failure);
        end(job);
        true
    }

    /// Counts a decode left running past its job's limit.
    pub fn abandoned_decode(&self) {
        self.lock().counters.abandoned_decodes += 1;
    }

    /// Removes job `id` (queued, running or finished) and its folder. Returns false for an unknown id.
    pub fn delete(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let Some(job) = inner.jobs.remove(id) else { return false };
        inner.queue.retain(|q| q != id);
        if !job.state.is_finished() {
            *inner.counters.finished.entry("deleted".into()).or_insert(0) += 1;
        }
        drop(inner);
        remove_dir(&job.dir);
        true
    }

    /// Removes finished jobs that ended more than `keep` ago; returns how many.
    pub fn expire(&self, keep: Duration) -> usize {
        let now = Instant::now();
        let mut inner = self.lock();
        let old: Vec<String> = inner
            .jobs
            .values()
            .filter(|j| j.finished.is_some_and(|f| now.duration_since(f) >= keep))
            .map(|j| j.id.clone())
            .collect();
        let dirs: Vec<PathBuf> = old.iter().filter_map(|id| inner.jobs.remove(id)).map(|j| j.dir).collect();
        drop(inner);
        dirs.iter().for_each(|d| remove_dir(d));
        dirs.len()
    }

    /// The API's view of job `id`; `plots` lists the pictures found in its folder.
    pub fn view(&self, id: &str) -> Option<JobView> {
        let inner = self.lock();
        let job = inner.jobs.get(id)?;
        let position = (job.state == JobState::Queued).then(|| inner.queue.iter().position(|q| q == id)).flatten();
        let plots = if job.state.is_finished() && job.plots {
            super::PLOTS
                .iter()
                .filter(|name| job.dir.join(super::PLOTS_FOLDER).join(name).is_file())
                .map(|name| name.to_string())
                .collect()
        } else {
            Vec::new()
        };
        Some(JobView {
            id: job.id.clone(),
            file: job.file.clone(),
            state: job.state,
            position,
            stage: job.stage.filter(|_| job.state == JobState::Running),
            report: job.result.clone(),
            error: job.failure.as_ref().map(|f| f.error.clone()),
            status: job.failure.as_ref().map(|f| f.status.clone()),
            plots,
            plots_error: job.plots_error.clone(),
        })
    }

    /// The folder of job `id`, if it exists.
    pub fn dir(&self, id: &str) -> Option<PathBuf> {
        self.lock().jobs.get(id).map(|j| j.dir.clone())
    }

    /// Queue depth, jobs by state, counters.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        let by_state = JobState::ALL.map(|s| (s, inner.jobs.values().filter(|j| j.state == s).count()));
        Snapshot {
            queue_depth: inner.queue.len(),
            uploads_in_progress: inner.reserved,
            capacity: self.capacity,
            by_state,
            counters: inner.counters.clone(),
        }
    }

    /// Queued jobs.
    pub fn queue_depth(&self) -> usize {
        self.lock().queue.len()
    }
}

/// A job's end: the upload goes at once; the folder stays only for the pictures.
fn end(job: &mut Job) {
    job.finished = Some(Instant::now());
    job.stage = None;
    let _ = std::fs::remove_file(&job.video);
    if !job.plots {
        remove_dir(&job.dir);
    }
}

fn remove_dir(dir: &std::path::Path) {
    // Already gone is fine: a job's folder is removed by whichever of end, delete and expiry comes first.
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, dir: &std::path::Path) -> Job {
        let dir = dir.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let video = dir.join("video.mp4");
        std::fs::write(&video, b"x").unwrap();
        Job {
            id: id.into(),
            file: format!("{id}.mp4"),
            state: JobState::Queued,
            stage: None,
            dir,
            video,
            plots: false,
            started: None,
            finished: None,
            result: None,
            failure: None,
            plots_error: None,
        }
    }

    #[test]
    fn uploads_in_progress_hold_queue_slots() {
        let jobs = Jobs::new(2);
        let a = jobs.reserve().unwrap();
        let b = jobs.reserve().unwrap();
        assert_eq!(jobs.reserve().unwrap_err(), QueueFull);
        drop(a);
        let tmp = tempfile::tempdir().unwrap();
        jobs.submit(b, job("b", tmp.path()));
        let c = jobs.reserve().unwrap();
        assert_eq!(jobs.reserve().unwrap_err(), QueueFull);
        drop(c);
        assert_eq!(jobs.snapshot().counters.rejected["queue_full"], 2);
        assert_eq!(jobs.queue_depth(), 1);
    }

    #[test]
    fn a_finished_job_loses_its_upload_and_a_deleted_one_its_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let jobs = Jobs::new(4);
        jobs.submit(jobs.reserve().unwrap(), job("a", tmp.path()));
        jobs.submit(jobs.reserve().unwrap(), job("b", tmp.path()));
        assert_eq!(jobs.view("b").unwrap().position, Some(1));
        let taken = jobs.take().unwrap();
        assert_eq!(taken.id, "a");
        assert_eq!(jobs.view("a").unwrap().state, JobState::Running);
        let mut result = VideoResult::new("a.mp4");
        result.status = Status::Unreadable;
        result.error = Some("not a video".into());
        assert!(jobs.finish("a", result, None));
        let view = jobs.view("a").unwrap();
        assert_eq!((view.state, view.status.as_deref()), (JobState::Failed, Some("unreadable")));
        assert!(!tmp.path().join("a").exists(), "no plots asked for: the whole folder goes");
        // Deleting a queued job takes it off the queue.
        assert!(jobs.delete("b"));
        assert!(!tmp.path().join("b").exists());
        assert_eq!(jobs.queue_depth(), 0);
        assert!(!jobs.delete("b"));
        assert_eq!(jobs.expire(Duration::ZERO), 1);
        assert!(jobs.view("a").is_none());
    }

    #[test]
    fn a_result_after_a_timeout_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let jobs = Jobs::new(1);
        jobs.submit(jobs.reserve().unwrap(), job("a", tmp.path()));
        let taken = jobs.take().unwrap();
        assert!(jobs.fail(&taken.id, Failure { error: "too slow".into(), status: "timeout".into() }));
        assert!(!jobs.finish(&taken.id, VideoResult::new("a.mp4"), None));
        assert_eq!(jobs.view("a").unwrap().status.as_deref(), Some("timeout"));
        jobs.shutdown();
        assert!(jobs.take().is_none());
    }
}
