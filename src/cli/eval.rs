//! `deepfake eval`: a submission against the labels: log loss, ROC AUC, AP, EER, accuracies, and what is missing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use deepfake_detector::eval::{self, Evaluation};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The predictions: `submission.csv` from `deepfake infer` (`filename,label`).
    #[arg(long, short)]
    pub predictions: PathBuf,
    /// The truth: DFDC `metadata.json` files (REAL/FAKE; give one per dfdc_train_part_N) or CSVs
    /// `filename,label` with 0/1 or REAL/FAKE.
    #[arg(long, short, required = true, num_args = 1..)]
    pub labels: Vec<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write ROC, precision-recall, reliability and score-histogram pictures (PNG) into this folder.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// The `--report` of `deepfake infer`, for face-level AUC.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let labels = eval::read_labels(&args.labels)?;
    let predictions = eval::read_predictions(&args.predictions)?;
    let mut evaluation = eval::evaluate(&labels, &predictions)?;
    if let Some(path) = &args.report {
        let report = eval::read_report(path)?;
        evaluation.frame_auc = Some(
            eval::frame_level(&evaluation, &report, path)
                .with_context(|| format!("frame level: {}", path.display()))?,
        );
    }
    let plots = match &args.plots {
        Some(dir) => deepfake_detector::plots::eval::write_all(&evaluation, dir)?,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        print!("{}", table(&evaluation));
        for path in plots {
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable summary.
pub fn table(e: &Evaluation) -> String {
    let mut out = String::new();
    let mut row = |name: &str, value: String, note: &str| {
        out.push_str(format!("{name:<22} {value:>10}  {note}").trim_end());
        out.push('\n');
    };
    row("videos", e.n.to_string(), &format!("{} real, {} fake", e.n_real, e.n_fake));
    row("log loss", format!("{:.5}", e.log_loss), "lower is better; 0.693 = always 0.5 (Kaggle's DFDC metric)");
    row("ROC AUC", format!("{:.5}", e.roc_auc), "1 = every fake above every real; 0.5 = chance");
    row("average precision", format!("{:.5}", e.average_precision), "area under precision-recall (fake = positive)");
    let threshold = if e.eer_threshold.is_finite() { format!("{:.5}", e.eer_threshold) } else { "+inf".to_string() };
    row(
        "EER",
        format!("{:.5}", e.eer),
        &format!("false-fake rate where it meets the missed-fake rate, at score ≥ {threshold}"),
    );
    row("accuracy @0.5", format!("{:.5}", e.at_half.accuracy), &counts(&e.at_half));
    row("balanced acc @0.5", format!("{:.5}", e.at_half.balanced_accuracy), "mean of the real and the fake recall");
    row("accuracy @EER", format!("{:.5}", e.at_eer.accuracy), &counts(&e.at_eer));
    row("balanced acc @EER", format!("{:.5}", e.at_eer.balanced_accuracy), "at the EER threshold");
    if let Some(f) = &e.frame_auc {
        row("face-level AUC", format!("{:.5}", f.auc), &format!("{} faces, mean over models", f.faces));
        for (model, auc) in &f.per_model {
            row("  model", format!("{auc:.5}"), model);
        }
    }
    row("missing", e.missing.len().to_string(), "labelled but not scored (not in the metrics)");
    for m in &e.missing {
        out.push_str(&format!("  {} ({}): {}\n", m.file, m.label, m.status));
    }
    if !e.unlabelled.is_empty() {
        out.push_str(&format!(
            "{:<22} {:>10}  predicted but not in the labels (ignored)\n",
            "unlabelled",
            e.unlabelled.len()
        ));
        for f in &e.unlabelled {
            out.push_str(&format!("  {f}\n"));
        }
    }
    out
}

fn counts(d: &eval::metrics::Decisions) -> String {
    format!(
        "fakes caught {}/{}, reals called fake {}/{}",
        d.true_fake,
        d.true_fake + d.false_real,
        d.false_fake,
        d.false_fake + d.true_real
    )
}
