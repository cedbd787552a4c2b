//! `deepfake`: the command-line tool. Parses arguments and hands each subcommand to `cli`.

use std::process::ExitCode;

use clap::Parser;
use deepfake_detector::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify(args) => cli::classify::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::Detect(args) => cli::detect::run(args),
        Command::Infer(args) => cli::infer::run(args),
        Command::Synth(args) => cli::synth::run(args),
        Command::Preprocess(args) => cli::preprocess::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
