//! `deepfake train <config.toml>`: the DFDC recipe on Burn's learner (see `train`), with a progress bar per epoch
//! (plain log lines when stderr is not a terminal).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use deepfake_detector::train::{train, TrainConfig, TrainEvent, TrainOptions};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The experiment: a TOML file such as configs/b7.toml, configs/b5.toml or configs/tiny.toml.
    pub config: PathBuf,
    /// Use this preprocessed dataset instead of the config's `data.root`.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Use this folds.csv instead of the config's `data.folds`.
    #[arg(long)]
    pub folds: Option<PathBuf>,
    /// Write the run folder (`<out>/<run>/`) here instead of the config's `out`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run from its last complete epoch.
    #[arg(long)]
    pub resume: bool,
    /// Print the resolved configuration (after the overrides) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// The config file with the command line's overrides applied, validated.
pub fn resolve(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let mut config = TrainConfig::from_file(&args.config)?;
    if let Some(root) = &args.data_root {
        config.data.root = root.clone();
    }
    if let Some(folds) = &args.folds {
        config.data.folds = folds.clone();
    }
    if let Some(out) = &args.out {
        config.out = out.clone();
    }
    config.validate()?;
    Ok(config)
}

fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let config = resolve(&args)?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let tty = std::io::stderr().is_terminal();
    let bar: Arc<Mutex<Option<ProgressBar>>> = Arc::new(Mutex::new(None));
    let sink_bar = bar.clone();
    let events = Arc::new(move |event: TrainEvent| {
        let mut bar = sink_bar.lock().expect("not poisoned");
        match event {
            TrainEvent::Started { run_dir, first_epoch, epochs, train_real, train_fake, val_crops } => eprintln!(
                "training {} (epochs {first_epoch}..={epochs}): {train_real} real + {train_fake} fake training crops, \
                 {val_crops} validation crops",
                run_dir.display()
            ),
            TrainEvent::EpochStarted { epoch, epochs, batches } => {
                if tty {
                    let pb = ProgressBar::new(batches as u64);
                    pb.set_style(
                        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                            .expect("valid template")
                            .progress_chars("=> "),
                    );
                    pb.set_prefix(format!("{epoch}/{epochs}"));
                    *bar = Some(pb);
                }
            }
            TrainEvent::Batch { epoch, batch, batches, loss, images_per_sec, eta_secs } => match bar.as_ref() {
                Some(pb) => {
                    pb.set_position(batch as u64);
                    pb.set_message(format!("loss {loss:.4} {images_per_sec:.1} img/s"));
                }
                // Without a terminal: a line every tenth of an epoch.
                None if batch == batches || batch % (batches / 10).max(1) == 0 => eprintln!(
                    "epoch {epoch} step {batch}/{batches} loss {loss:.4} {images_per_sec:.1} img/s ETA {}",
                    fmt_secs(eta_secs)
                ),
                None => {}
            },
            TrainEvent::Validating { epoch, crops } => {
                if let Some(pb) = bar.take() {
                    pb.finish_and_clear();
                }
                if !tty {
                    eprintln!("epoch {epoch}: validating {crops} crops");
                }
            }
            TrainEvent::EpochFinished(r) => {
                let auc = r.valid.auc.map_or("-".to_string(), |a| format!("{a:.4}"));
                eprintln!(
                    "epoch {}: train_loss {:.4} ({:.1} img/s, lr {:.3e}) fake_loss {:.4} real_loss {:.4} bce {:.4} auc {auc} -> {}",
                    r.epoch, r.train_loss, r.images_per_sec, r.lr, r.valid.fake_loss, r.valid.real_loss, r.valid.bce, r.model
                );
            }
            TrainEvent::Warning(w) => eprintln!("warning: {w}"),
        }
    });
    let summary = train(&config, &TrainOptions { resume: args.resume }, events)?;
    if let Some(pb) = bar.lock().expect("not poisoned").take() {
        pb.finish_and_clear();
    }
    println!("{}: {} epoch(s); metrics in metrics.jsonl", summary.run_dir.display(), summary.epochs.len());
    Ok(ExitCode::SUCCESS)
}
