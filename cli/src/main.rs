//! `sluice`: check, evaluate and dry-run AWS Data Pipeline definitions offline.
//!
//! Every command is a thin door into the `sluice` crate; this file only reads arguments
//! and maps outcomes to exit codes: 0 success, 1 the input has errors, 2 bad usage or a
//! file that cannot be read.

mod demo;
mod dev;
mod eval;
mod http;
mod inputs;
mod pipelines;
mod plan;
mod proxy;
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
    /// The Sluice API endpoint for pipeline verbs (default: SLUICE_ENDPOINT, else AWS)
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
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
    /// Run the whole control plane locally: the API on a loopback port and every stage
    Dev {
        /// Where the API listens
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: std::net::SocketAddr,
        /// Use your AWS account when AWS_ENDPOINT_URL is not set (default: start moto's server)
        #[arg(long)]
        aws: bool,
        /// The DynamoDB table for run records (created if missing)
        #[arg(long, default_value = "sluice-dev")]
        table: String,
        /// The S3 bucket for logs and staging (created if missing)
        #[arg(long, default_value = "sluice-dev")]
        bucket: String,
        /// The SNS topic for alarms (created if missing)
        #[arg(long, default_value = "sluice-dev-alarms")]
        topic: String,
        /// Seconds between stage passes
        #[arg(long, default_value_t = 2)]
        tick: u64,
        /// Seconds a PollForTask that finds no task is held open, answering as soon as work
        /// arrives (AWS holds up to 90)
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=90))]
        poll_wait: u64,
        /// Refuse API requests not signed (SigV4) for this service with your AWS credentials,
        /// as the deployed API's function URL does with "lambda"
        #[arg(long, value_name = "SERVICE")]
        require_signature: Option<String>,
    },
    /// Run the demo pipelines to the end on this machine: starts sluice dev (and the emulator),
    /// creates and activates every definition in a folder, shows their runs live, prints the alarm
    Demo {
        /// The folder of definitions to run
        #[arg(long, default_value = "examples/demo")]
        examples: PathBuf,
        /// Seconds the pipelines may take before the demo gives up
        #[arg(long, default_value_t = 180)]
        timeout: u64,
    },
    /// Poll a worker group and run its ShellCommandActivity and ShellCommandPrecondition tasks
    Runner(runner::Args),
    /// Let the aws CLI, boto3 and SDKs call a deployed API: listen on loopback, check each
    /// request's signature against your credentials, sign it for the function URL, forward it
    Proxy(proxy::Args),
    #[command(flatten)]
    Verb(Verb),
}

/// The pipeline verbs, over the Data Pipeline API.
#[derive(Subcommand)]
enum Verb {
    /// Create an empty pipeline and print its id
    Create {
        name: String,
        /// Idempotency token: creating again with the same one returns the same pipeline
        #[arg(long)]
        unique_id: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Save a definition file (file format or API shape) as the pipeline's definition
    Put { pipeline: String, file: PathBuf },
    /// Activate the saved definition
    Activate {
        pipeline: String,
        /// Resume from this time; earlier intervals are SKIPPED
        #[arg(long, value_name = "DATETIME", value_parser = inputs::datetime)]
        start: Option<chrono::NaiveDateTime>,
    },
    /// Deactivate: cancel running work, or with --drain let it finish
    Deactivate {
        pipeline: String,
        #[arg(long)]
        drain: bool,
    },
    /// Delete a pipeline and its history
    Delete { pipeline: String },
    /// List pipelines
    List,
    /// Describe pipelines
    Describe {
        #[arg(required = true)]
        pipelines: Vec<String>,
    },
    /// Print a pipeline's definition in the file format
    Definition {
        pipeline: String,
        /// latest (the last saved) or active (the last activated)
        #[arg(long, default_value = "latest")]
        version: String,
    },
    /// The pipeline's runs: status, times and errors
    Runs {
        pipeline: String,
        /// Only runs with this status (finished, failed, running, waiting_for_runner ...)
        #[arg(long)]
        status: Option<String>,
    },
    /// Run ended instances again (SetStatus RERUN)
    Rerun {
        pipeline: String,
        #[arg(required = true)]
        instances: Vec<String>,
    },
    /// Cancel instances (SetStatus TRY_CANCEL)
    Cancel {
        pipeline: String,
        #[arg(required = true)]
        instances: Vec<String>,
    },
    /// Mark instances finished (SetStatus MARK_FINISHED)
    MarkFinished {
        pipeline: String,
        #[arg(required = true)]
        instances: Vec<String>,
    },
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
    let endpoint = cli.endpoint.clone();
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
        Command::Dev {
            listen,
            aws,
            table,
            bucket,
            topic,
            tick,
            poll_wait,
            require_signature,
        } => dev::run(&dev::Options {
            listen,
            aws,
            table,
            bucket,
            topic,
            tick: std::time::Duration::from_secs(tick.max(1)),
            poll_wait: std::time::Duration::from_secs(poll_wait),
            require_signature,
        }),
        Command::Demo { examples, timeout } => demo::run(&demo::Options {
            endpoint,
            examples,
            timeout: std::time::Duration::from_secs(timeout),
        }),
        Command::Verb(verb) => run_verb(endpoint.as_deref(), verb),
        Command::Runner(args) => runner::run_command(&args),
        Command::Proxy(args) => proxy::run(endpoint.as_deref(), &args),
    };
    ExitCode::from(outcome as u8)
}

/// A multi-threaded Tokio runtime for the commands that serve or wait, or the exit code
/// of a start that failed (said on stderr).
fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("error: cannot start the async runtime: {error}");
            Outcome::Usage
        })
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

fn run_verb(endpoint: Option<&str>, verb: Verb) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return Outcome::Usage;
        }
    };
    let outcome = runtime.block_on(async {
        let client = pipelines::client(endpoint).await?;
        match verb {
            Verb::Create {
                name,
                unique_id,
                description,
            } => pipelines::create(&client, &name, unique_id.as_deref(), description.as_deref()).await,
            Verb::Put { pipeline, file } => pipelines::put(&client, &pipeline, &file).await,
            Verb::Activate { pipeline, start } => pipelines::activate(&client, &pipeline, start).await,
            Verb::Deactivate { pipeline, drain } => pipelines::deactivate(&client, &pipeline, !drain).await,
            Verb::Delete { pipeline } => pipelines::delete(&client, &pipeline).await,
            Verb::List => pipelines::list(&client).await,
            Verb::Describe { pipelines: ids } => pipelines::describe(&client, &ids).await,
            Verb::Definition { pipeline, version } => pipelines::definition(&client, &pipeline, &version).await,
            Verb::Runs { pipeline, status } => pipelines::runs(&client, &pipeline, status.as_deref()).await,
            Verb::Rerun { pipeline, instances } => pipelines::set_status(&client, &pipeline, &instances, "RERUN").await,
            Verb::Cancel { pipeline, instances } => {
                pipelines::set_status(&client, &pipeline, &instances, "TRY_CANCEL").await
            }
            Verb::MarkFinished { pipeline, instances } => {
                pipelines::set_status(&client, &pipeline, &instances, "MARK_FINISHED").await
            }
        }
    });
    match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("error: {:#}", pipelines::explain(error));
            Outcome::InputErrors
        }
    }
}
