//! `/metrics` in the Prometheus text format (version 0.0.4): queue depth, jobs by state, finished jobs by
//! status, refused uploads, seconds per stage.

use std::fmt::Write;

use super::jobs::Snapshot;

/// The text of one scrape.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let plain = |v: String| vec![(String::new(), v)];
    metric("deepfake_queue_depth", "gauge", "Jobs waiting in the queue.", &plain(s.queue_depth.to_string()));
    metric(
        "deepfake_uploads_in_progress",
        "gauge",
        "Uploads streaming in (each holds a queue slot).",
        &plain(s.uploads_in_progress.to_string()),
    );
    metric("deepfake_queue_capacity", "gauge", "Jobs the queue holds at most.", &plain(s.capacity.to_string()));
    let states: Vec<_> =
        s.by_state.iter().map(|(st, n)| (format!("{{state=\"{}\"}}", st.as_str()), n.to_string())).collect();
    metric("deepfake_jobs", "gauge", "Jobs in the table by state (finished jobs until they expire).", &states);
    let finished: Vec<_> = s
        .counters
        .finished
        .iter()
        .map(|(st, n)| (format!("{{status=\"{st}\"}}", st = escape(st)), n.to_string()))
        .collect();
    metric("deepfake_jobs_finished_total", "counter", "Jobs ended, by the video's status.", &finished);
    metric("deepfake_uploads_accepted_total", "counter", "Uploads queued.", &plain(s.counters.accepted.to_string()));
    let rejected: Vec<_> =
        s.counters.rejected.iter().map(|(r, n)| (format!("{{reason=\"{r}\"}}"), n.to_string())).collect();
    metric("deepfake_uploads_rejected_total", "counter", "Uploads refused, by reason.", &rejected);
    let c = &s.counters;
    let mut stages = Vec::new();
    for (stage, sum) in ["decode", "detect", "classify", "total"].iter().zip(c.stage_seconds) {
        stages.push((format!("_sum{{stage=\"{stage}\"}}"), format!("{sum}")));
        stages.push((format!("_count{{stage=\"{stage}\"}}"), c.timed_videos.to_string()));
    }
    metric("deepfake_stage_seconds", "summary", "Seconds per pipeline stage over finished videos.", &stages);
    metric(
        "deepfake_abandoned_decodes_total",
        "counter",
        "Decodes left running past their job's time limit.",
        &plain(c.abandoned_decodes.to_string()),
    );
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::jobs::{Counters, JobState, Snapshot};
    use super::*;

    #[test]
    fn every_sample_line_names_a_declared_metric() {
        let mut counters = Counters::default();
        counters.finished.insert("ok".into(), 3);
        counters.rejected.insert("queue_full", 1);
        counters.stage_seconds = [1.5, 2.0, 3.0, 6.5];
        counters.timed_videos = 3;
        let s = Snapshot {
            queue_depth: 2,
            uploads_in_progress: 1,
            capacity: 4,
            by_state: JobState::ALL.map(|s| (s, 1)),
            counters,
        };
        let text = render(&s);
        assert!(text.contains("deepfake_queue_depth 2\n"), "{text}");
        assert!(text.contains("deepfake_jobs{state=\"running\"} 1\n"), "{text}");
        assert!(text.contains("deepfake_jobs_finished_total{status=\"ok\"} 3\n"), "{text}");
        assert!(text.contains("deepfake_uploads_rejected_total{reason=\"queue_full\"} 1\n"), "{text}");
        assert!(text.contains("deepfake_stage_seconds_sum{stage=\"detect\"} 2\n"), "{text}");
        let declared: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(declared.contains(&name) || declared.contains(&base), "{line}");
        }
    }
}
