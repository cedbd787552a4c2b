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
        Command::Eval(args) => cli::eval::run(args),
        Command::Synth(args) => cli::synth::run(args),
        Command::Preprocess(args) => cli::preprocess::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "deepfake",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Train(args) => cli::train::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn every_subcommand_parses_its_defaults() {
        // A value parser whose type differs from its field only fails when the field is read: read them all.
        Cli::command().debug_assert();
        let parse = |args: &[&str]| Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}")).command;
        assert!(matches!(parse(&["deepfake", "infer", "v.mp4", "-m", "m.bpk"]), Command::Infer(_)));
        assert!(matches!(parse(&["deepfake", "detect", "v.mp4"]), Command::Detect(_)));
        assert!(matches!(parse(&["deepfake", "classify", "i.png", "-m", "m.bpk"]), Command::Classify(_)));
        assert!(matches!(parse(&["deepfake", "import", "w.pth", "-o", "w.bpk"]), Command::Import(_)));
    }
}
