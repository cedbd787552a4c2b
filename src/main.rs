//! `deepfake`: the command-line tool. Parses arguments and hands each subcommand to `cli`.

use std::process::ExitCode;

mod cli;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify(args) => cli::classify::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::Detect(args) => cli::detect::run(args),
        Command::Infer(args) => cli::infer::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "deepfake", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
