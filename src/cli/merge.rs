//! `deepfake merge`: the CSVs (and reports) of `infer --shard K/N` runs joined into one submission.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::output::{check_output, one_stdout};
use deepfake_detector::infer::shard::{merge_parts, merge_reports, read_report, rows_csv};

#[derive(Args, Debug)]
#[command(after_help = "Checks that every video appears exactly once over the parts: a video in two parts, a \
report that does not match the CSVs, or a missing shard when the reports say --shard K/N are errors naming the \
files. Then writes the rows sorted by name.

Exit codes:
  0    merged
  2    nothing written: a bad part, a duplicate, a missing shard")]
pub struct MergeArgs {
    /// The parts: `submission.csv` files of `deepfake infer --shard K/N`, in any order.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    /// The parts' `--report` files; checked against the CSVs and merged into `--report`.
    #[arg(long, num_args = 1..)]
    pub reports: Vec<PathBuf>,
    /// The merged CSV; `-` writes it to stdout.
    #[arg(long, short)]
    pub out: PathBuf,
    /// The merged report (needs `--reports`); `-` writes it to stdout.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let out = check_output("--out", &args.out)?;
    let report_target = args.report.as_deref().map(|p| check_output("--report", p)).transpose()?;
    let mut outputs = vec![("--out", &out)];
    outputs.extend(report_target.as_ref().map(|t| ("--report", t)));
    one_stdout(&outputs)?;
    if report_target.is_some() && args.reports.is_empty() {
        anyhow::bail!("--report needs the parts' reports (--reports part-*.json)");
    }
    let rows = merge_parts(&args.parts)?;
    let merged = if args.reports.is_empty() {
        None
    } else {
        let reports =
            args.reports.iter().map(|p| Ok((p.clone(), read_report(p)?))).collect::<anyhow::Result<Vec<_>>>()?;
        Some(merge_reports(&reports, &rows)?)
    };
    out.write("--out", rows_csv(&rows).as_bytes())?;
    if let (Some(target), Some(merged)) = (&report_target, &merged) {
        let mut json = serde_json::to_vec_pretty(merged)?;
        json.push(b'\n');
        target.write("--report", &json)?;
    }
    let errors = rows.iter().filter(|r| r.label.starts_with("error:")).count();
    eprintln!(
        "merged {} part(s): {} video(s), {} not scored -> {}",
        args.parts.len(),
        rows.len(),
        errors,
        out.path().map_or_else(|| "stdout".to_string(), |p| p.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}
