//! `sluice`: check, evaluate and dry-run AWS Data Pipeline definitions offline.
//!
//! Every command is a thin door into the `sluice` crate; this file only reads arguments
//! and maps outcomes to exit codes: 0 success, 1 the input has errors, 2 bad usage or a
//! file that cannot be read.

mod eval;
mod inputs;
mod plan;
mod report;
mod runner;
mod validate;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Run AWS Data Pipeline definitions, serverless, in your own account"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check definitions the way ValidatePipelineDefinition does: errors and warnings per object and field
    Validate {
        /// Definition files (file format or API shape)
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        values: inputs::ValueArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print STRING with every #{...} evaluated
    Eval {
        /// The string to evaluate, e.g. "s3://bucket/#{format(@scheduledStartTime,'YYYY-MM-dd')}"
        string: String,
        /// Sets @scheduledStartTime (and, with --definition, @scheduledEndTime from the object's schedule)
        #[arg(long, value_name = "DATETIME", value_parser = inputs::datetime)]
        at: Option<chrono::NaiveDateTime>,
        /// Evaluate in the context of an object of this definition
        #[arg(long, value_name = "FILE", requires = "object")]
        definition: Option<PathBuf>,
        /// The object whose fields the expression sees
        #[arg(long, value_name = "ID", requires = "definition")]
        object: Option<String>,
        #[command(flatten)]
        values: inputs::ValueArgs,
    },
    /// List the instances activating a definition would create, in order
    Plan {
        file: PathBuf,
        /// List instances that start before this time
        #[arg(long, value_name = "DATETIME", value_parser = inputs::datetime)]
        until: chrono::NaiveDateTime,
        /// When the pipeline is activated (default: now)
        #[arg(long, value_name = "DATETIME", value_parser = inputs::datetime)]
        activated_at: Option<chrono::NaiveDateTime>,
        /// Activation start timestamp: intervals before it are SKIPPED
        #[arg(long, value_name = "DATETIME", value_parser = inputs::datetime)]
        from: Option<chrono::NaiveDateTime>,
        /// Lift AWS's guard against starting more than one day in the past
        #[arg(long)]
        allow_backfill: bool,
        #[command(flatten)]
        values: inputs::ValueArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Poll a worker group and run its ShellCommandActivity and ShellCommandPrecondition tasks
    Runner(runner::Args),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Success = 0,
    InputErrors = 1,
    Usage = 2,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Validate { files, values, format } => validate::run(&files, &values, format),
        Command::Eval {
            string,
            at,
            definition,
            object,
            values,
        } => eval::run(&string, at, definition.as_deref().zip(object.as_deref()), &values),
        Command::Plan {
            file,
            until,
            activated_at,
            from,
            allow_backfill,
            values,
            format,
        } => {
            let options = plan::Options {
                until,
                activated_at,
                from,
                allow_backfill,
                format,
            };
            plan::run(&file, &values, &options)
        }
        Command::Runner(args) => runner::run_command(&args),
    };
    ExitCode::from(outcome as u8)
}

/// The outcome of a command whose output has been written: a reader that stopped early
/// (`| head`) is not an error; any other failure to write is.
fn finish(written: std::io::Result<()>, outcome: Outcome) -> Outcome {
    match written {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: writing the output: {error}");
            Outcome::Usage
        }
        _ => outcome,
    }
}
