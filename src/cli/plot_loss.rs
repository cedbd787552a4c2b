//! `deepfake plot-loss artifacts/<run>`: draws the run's losses per epoch and prints the best epochs (the solution's
//! plot_loss.py selection).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use deepfake_detector::plots::loss::{best_epochs, plot_losses, weighted_loss};
use deepfake_detector::train::run::read_metrics;

#[derive(Args, Debug)]
pub struct PlotLossArgs {
    /// The run folder (holds metrics.jsonl).
    pub run: PathBuf,
    /// The PNG to write (default: <run>/loss.png).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Epochs ignored at the start when picking the best (plot_loss.py: 16).
    #[arg(long, default_value_t = 16)]
    pub skip: usize,
    /// How many best epochs to mark.
    #[arg(long, default_value_t = 5)]
    pub best: usize,
}

pub fn run(args: PlotLossArgs) -> anyhow::Result<ExitCode> {
    let records = read_metrics(&args.run)?;
    if records.is_empty() {
        anyhow::bail!("{}: no metrics.jsonl lines (not a training run, or no epoch finished)", args.run.display());
    }
    let best = best_epochs(&records, args.skip, args.best);
    let out = args.out.clone().unwrap_or_else(|| args.run.join("loss.png"));
    plot_losses(&records, &best, &out)?;
    for e in &best {
        let r = records.iter().find(|r| r.epoch == *e).expect("picked from records");
        println!(
            "epoch {e}: weighted {:.5} fake_loss {:.5} real_loss {:.5} model {}",
            weighted_loss(r),
            r.valid.fake_loss,
            r.valid.real_loss,
            args.run.join(&r.model).display()
        );
    }
    if best.is_empty() {
        println!("no epoch after the first {} to pick from (see --skip)", args.skip);
    }
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
