//! `sluice dev`: the whole control plane in one process for local work. The Data Pipeline
//! API on a loopback port, every engine stage on a loop, over run records in DynamoDB — the
//! emulator's when `AWS_ENDPOINT_URL` is set, a moto server it starts itself when not, and
//! real AWS only with `--aws`. A stage run or a loop that fails or panics is logged and runs
//! again after a backoff (`restart`); the API serves throughout.

mod restart;

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, anyhow};
use sluice::{
    api::{Api, handle_long_polling},
    cloud::{
        AwsProbe,
        compute::{AwsCompute, Compute, MachineState, is_cluster_id},
        secrets::KmsSecrets,
        sns::SnsNotifier,
    },
    engine::{
        Engine, Limits, TaskEnded, TaskOffered,
        clock::{OsRandom, SystemClock},
        compiled::SERVERLESS_WORKER_GROUP,
        resources::Boot,
    },
    local::MotoServer,
    runner::{self, AwsStorage, EngineTaskSource, Executor, ExecutorSettings, RunSettings},
    stages::{Ports, Stage, Trigger, run_stage, tasks_handed_back},
    store::{
        dynamodb::{DynamoStore, create_table},
        stream::{Follow, StreamReader, stream_arn},
    },
};

/// How often the table's stream is read: every 25 ms until a second passes without changes,
/// then every 250 ms (Lambda's event-source mapping polls about four times a second), so an
/// idle `sluice dev` leaves the emulator to the API.
const STREAM_POLL_BUSY: Duration = Duration::from_millis(25);
const STREAM_POLL_IDLE: Duration = Duration::from_millis(250);
const STREAM_QUIET_AFTER: Duration = Duration::from_secs(1);

/// Stream reads that fail in a row before the follower starts over with the stream found
/// anew (the table may have been made again, with a new stream).
const STREAM_FAILURES_BEFORE_RESTART: u32 = 5;

use self::restart::{Backoff, StageHolds, confined, keep_running, stage_failed};
use crate::{
    Outcome,
    http::{Answer, ServedHosts, SignatureGate, bind, loopback_only, serve},
};

/// The worker group `sluice dev`'s own runner serves.
pub const LOCAL_WORKER_GROUP: &str = "local";

/// Prints a line for the user; a closed stdout (a reader that went away) must not stop
/// the control plane.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub struct Options {
    pub listen: SocketAddr,
    pub aws: bool,
    pub table: String,
    pub bucket: String,
    pub topic: String,
    pub tick: Duration,
    pub poll_wait: Duration,
    /// Refuse requests not signed for this service with the environment's credentials.
    pub require_signature: Option<String>,
}

pub fn run(options: &Options) -> Outcome {
    // Unsigned, the API is anyone's who can reach it: pipelines, and the commands they run.
    if options.require_signature.is_none()
        && let Err(refused) = loopback_only(
            options.listen,
            "sluice dev answers every request it gets, and its pipelines run shell commands on this machine, \
             so it listens on loopback only (127.0.0.1:PORT) unless requests must be signed \
             (add --require-signature SERVICE, e.g. lambda)",
        )
    {
        eprintln!("error: {refused}");
        return Outcome::Usage;
    }
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(outcome) => return outcome,
    };
    // A local set: the stand-in runners' futures are not Send, like the local runner's.
    let local = tokio::task::LocalSet::new();
    match runtime.block_on(local.run_until(serve_until_stopped(options))) {
        Ok(()) => Outcome::Success,
        Err(error) => {
            eprintln!("error: {error:#}");
            Outcome::Usage
        }
    }
}

async fn serve_until_stopped(options: &Options) -> anyhow::Result<()> {
    // Where AWS is: the emulator named in the environment, one we start, or AWS itself.
    let named = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    let (endpoint, moto) = match (named, options.aws) {
        (Some(endpoint), _) => (Some(endpoint), None),
        (None, true) => (None, None),
        (None, false) => {
            let moto = MotoServer::start().map_err(|error| anyhow!("{error}"))?;
            (Some(moto.endpoint()), Some(moto))
        }
    };
    let sdk = aws_sdk_config(endpoint.as_deref(), moto.is_some()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&dynamodb, &options.table)
        .await
        .with_context(|| format!("creating the run table {}", options.table))?;
    // A bucket for logs and staging (pipelineLogUri s3://<bucket>/logs/), made if missing.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(endpoint.is_some())
            .build(),
    );
    if s3.head_bucket().bucket(&options.bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(&options.bucket)
            .send()
            .await
            .with_context(|| format!("creating the bucket {}", options.bucket))?;
    }

    if endpoint.is_some() {
        // moto sets up its EC2 for a region on the first call, for about two seconds in
        // which it answers nothing else: better before the API opens than in a run.
        let _ = AwsCompute::new(&sdk).alive_tagged().await;
    }

    // A topic for SnsAlarm actions, made if missing.
    let topic_arn = SnsNotifier::new(&sdk)
        .ensure_topic(&options.topic)
        .await
        .with_context(|| format!("creating the alarm topic {}", options.topic))?;

    // Secret values are sealed as a deployment seals them: with SLUICE_KMS_KEY_ID's key, or
    // on an emulator with a key of its own (made once); against AWS without a key they are
    // stored as given, and the banner says so.
    let secrets: Option<&'static KmsSecrets> = match KmsSecrets::from_env(&sdk) {
        Some(secrets) => Some(Box::leak(Box::new(secrets))),
        None if endpoint.is_some() => {
            let alias = format!("alias/{}", options.table);
            let secrets = KmsSecrets::ensure_alias(&sdk, &alias)
                .await
                .with_context(|| format!("making the KMS key {alias} that seals secret values"))?;
            Some(Box::leak(Box::new(secrets)))
        }
        None => None,
    };
    // The engine's ports live as long as the process.
    let store: &'static DynamoStore = Box::leak(Box::new(DynamoStore::new(dynamodb.clone(), options.table.clone())));
    let clock: &'static SystemClock = Box::leak(Box::new(SystemClock));
    let random: &'static OsRandom = &OsRandom;
    let probe: &'static AwsProbe = Box::leak(Box::new(AwsProbe::new(&sdk)));
    // Locally, waiting work looks again every tick: a chain advances in seconds.
    let limits = Limits {
        recheck: chrono::TimeDelta::from_std(options.tick).unwrap_or(chrono::TimeDelta::seconds(2)),
        ..Limits::default()
    };
    // The local runner is woken the moment the engine makes an attempt ready for it
    // (the activities stage runs the serverless ones when the stream shows them).
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    // Work made ready for a resource's machine has the stand-ins look for machines often.
    let machines_wanted = std::sync::Arc::new(tokio::sync::Notify::new());
    let offered: TaskOffered = {
        let wake = wake.clone();
        let machines_wanted = machines_wanted.clone();
        std::sync::Arc::new(move |worker_group: &str| {
            if sluice::schedule::parse_resource_worker_group(worker_group).is_some() {
                machines_wanted.notify_one();
            }
            if worker_group != SERVERLESS_WORKER_GROUP {
                wake.notify_one();
            }
        })
    };
    // The stream is read the moment a runner's report ends a task, not at its next poll.
    let task_ended = std::sync::Arc::new(tokio::sync::Notify::new());
    let ended: TaskEnded = {
        let task_ended = task_ended.clone();
        std::sync::Arc::new(move || task_ended.notify_one())
    };
    let mut engine = Engine::new(store, clock, random, probe)
        .with_limits(limits)
        .with_task_offered(offered)
        .with_task_ended(ended);
    if let Some(secrets) = secrets {
        engine = engine.with_secrets(secrets);
    }
    let api: &'static Api<'static, DynamoStore, AwsProbe> = Box::leak(Box::new(Api::new(engine)));

    // A function URL with AWS_IAM checks every request's signature; so does this, if asked,
    // against the caller's own credentials (not the emulator's dummy ones).
    let gate: Option<&'static SignatureGate> = match &options.require_signature {
        Some(service) => {
            let environment = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(sdk.region().cloned())
                .load()
                .await;
            let region = sdk.region().map(ToString::to_string);
            let gate = SignatureGate::new(&environment, Some(service.clone()), region)
                .await
                .map_err(|error| anyhow!("--require-signature: {error}"))?;
            Some(Box::leak(Box::new(gate)))
        }
        None => None,
    };
    let listener = bind(options.listen).await.map_err(|error| anyhow!(error))?;
    let address = listener.local_addr().context("reading the listening address")?;
    say!("Sluice dev is running.");
    say!("  API (Data Pipeline protocol): http://{address}");
    if let Some(service) = &options.require_signature {
        say!(
            "  requests must be signed for \"{service}\" with your AWS credentials \
             (sluice proxy --endpoint http://{address} --signing-name {service} signs the AWS CLI's)"
        );
    }
    match &endpoint {
        Some(endpoint) => say!(
            "  AWS emulator: {endpoint}{}",
            if moto.is_some() {
                " (moto, started by sluice dev)"
            } else {
                ""
            }
        ),
        None => say!("  AWS: your account (--aws)"),
    }
    say!("  run table: {}", options.table);
    say!(
        "  bucket for logs and staging: s3://{}/ (set pipelineLogUri to s3://{}/logs/)",
        options.bucket,
        options.bucket
    );
    say!("  alarm topic: {topic_arn}");
    match secrets {
        Some(secrets) => say!(
            "  secret values (*password, *myParameter) sealed with KMS key {}",
            secrets.key_id()
        ),
        None => say!("  secret values stored unsealed: set SLUICE_KMS_KEY_ID to seal them with a KMS key"),
    }
    say!(
        "  local runner: worker group \"{LOCAL_WORKER_GROUP}\" (ShellCommandActivity and ShellCommandPrecondition); \
         an Ec2Resource is launched on the emulator, and a local runner stands in for each of its machines"
    );
    say!();
    say!("Drive it with the AWS CLI or the sluice verbs:");
    say!("  export SLUICE_ENDPOINT=http://{address}");
    say!("  aws datapipeline --endpoint-url http://{address} --region us-east-1 list-pipelines");
    say!("Stop with Ctrl-C.");

    let notifier: &'static SnsNotifier = Box::leak(Box::new(SnsNotifier::new(&sdk)));
    let storage: &'static AwsStorage = Box::leak(Box::new(AwsStorage::new(&sdk)));
    let compute: &'static AwsCompute = Box::leak(Box::new(AwsCompute::new(&sdk)));
    // What a launched machine would fetch and poll; on the emulator, where nothing boots,
    // a local runner stands in for it (`stand_in_for_machines`), and an Ec2Resource
    // without an image gets one the emulator knows.
    let mut boot = sluice::config::boot_from_env();
    boot.api_url = boot.api_url.or_else(|| Some(format!("http://{address}")));
    boot.runner_binary_uri = boot
        .runner_binary_uri
        .or_else(|| Some(format!("s3://{}/bin/sluice", options.bucket)));
    if endpoint.is_some() {
        boot.default_image_id = boot.default_image_id.or_else(|| Some(EMULATOR_IMAGE.to_owned()));
        // The emulator has none of the account's IAM roles.
        boot.instance_profiles = false;
    }
    let boot: &'static Boot = Box::leak(Box::new(boot));
    let ports: &'static DevPorts = Box::leak(Box::new(Ports {
        notifier,
        storage,
        compute,
        boot,
    }));
    let arn = stream_arn(&dynamodb, &options.table)
        .await
        .context("finding the run table's stream")?;
    // An emulator someone else started may be a moto without Sluice's fixes: it gets the
    // careful way of following the stream (see `Follow::Reopen`).
    let follow = if endpoint.is_some() && moto.is_none() {
        Follow::Reopen { lookback: 64 }
    } else {
        Follow::Iterators
    };
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let reader = StreamReader::open(streams.clone(), arn, follow)
        .await
        .context("opening the run table's stream")?;
    let tick = options.tick;
    let stages = tokio::spawn(keep_running("the stage loop", Backoff::default(), move || async move {
        run_ticks(api, ports, tick).await;
        Ok(())
    }));
    // The follower starts with the reader opened above; a restart finds the stream anew.
    let mut opened = Some(reader);
    let (table, wake_for_stream) = (options.table.clone(), wake.clone());
    let stream = tokio::spawn(keep_running("the stream follower", Backoff::default(), move || {
        let reader = opened.take();
        let (dynamodb, streams, table) = (dynamodb.clone(), streams.clone(), table.clone());
        let (wake, task_ended) = (wake_for_stream.clone(), task_ended.clone());
        async move {
            let reader = match reader {
                Some(reader) => reader,
                None => {
                    let arn = stream_arn(&dynamodb, &table)
                        .await
                        .context("finding the run table's stream")?;
                    StreamReader::open(streams, arn, follow)
                        .await
                        .context("opening the run table's stream")?
                }
            };
            follow_stream(api, ports, reader, wake, task_ended).await
        }
    }));
    // A local runner for worker group `local`, working straight on the engine. It runs on
    // this task (its future is not Send), beside the server, until the server stops.
    let (stop_runner, runner_stop) = tokio::sync::watch::channel(false);
    let wake_for_runner = wake.clone();
    let local_runner = keep_running("the local runner", Backoff::default(), || {
        let (mut stop, wake) = (runner_stop.clone(), wake_for_runner.clone());
        async move {
            let source = EngineTaskSource::new(&api.engine);
            let executor = Executor::new(storage, ExecutorSettings::default());
            let mut settings = RunSettings::new(LOCAL_WORKER_GROUP, "sluice-dev");
            settings.tasks = 4;
            settings.idle_max = Duration::from_millis(500);
            settings.wake = Some(wake);
            runner::run(&source, &executor, &settings, async {
                let _ = stop.wait_for(|stopping| *stopping).await;
            })
            .await;
            match *stop.borrow() {
                true => Ok(()),
                false => Err(anyhow!("it stopped with sluice dev still serving")),
            }
        }
    });
    // Machines launched on the emulator get a local runner each; real ones run their own.
    let stand_ins = endpoint.is_some().then(|| {
        tokio::task::spawn_local(keep_running(
            "the machines' stand-in runners",
            Backoff::default(),
            move || {
                let (wake, machines_wanted) = (wake.clone(), machines_wanted.clone());
                async move {
                    stand_in_for_machines(api, storage, compute, wake, machines_wanted).await;
                    Ok(())
                }
            },
        ))
    });
    let poll_wait = options.poll_wait;
    let hosts = ServedHosts::new(address);
    let handler = move |call: crate::http::Call| {
        let wrong_host = hosts.check(&call).err();
        async move {
            if let Some(refused) = wrong_host {
                return refused;
            }
            if let Some(gate) = gate
                && let Err(refused) = gate.check(&call).await
            {
                return refused;
            }
            let response =
                handle_long_polling(api, call.target.as_deref(), &call.body, poll_wait, tokio::time::sleep).await;
            Answer {
                status: response.status,
                content_type: response.content_type().into(),
                body: response.body,
            }
        }
    };
    let stopped = async {
        // Ctrl-C, or a SIGTERM from whoever started it: either way, stop cleanly so the
        // emulator stops with it.
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    let serving = async {
        let served = serve(listener, handler, stopped).await;
        let _ = stop_runner.send(true);
        served
    };
    let (served, _) = tokio::join!(serving, local_runner);
    served.context("serving the API")?;
    stages.abort();
    stream.abort();
    if let Some(stand_ins) = stand_ins {
        stand_ins.abort();
    }
    drop(moto);
    say!("Sluice dev stopped.");
    Ok(())
}

/// The AWS SDK's configuration for `endpoint` (an emulator), or for AWS itself. An emulator
/// gets dummy credentials when none are configured (or always, with `dummy_credentials`):
/// it does not check them. The region is us-east-1 unless one is set.
pub async fn aws_sdk_config(endpoint: Option<&str>, dummy_credentials: bool) -> aws_config::SdkConfig {
    let mut loader = crate::pipelines::aws_defaults();
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if dummy_credentials || std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_datapipeline::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "sluice-dev",
            ));
        }
    }
    loader.load().await
}

type DevApi = Api<'static, DynamoStore, AwsProbe>;
type DevPorts = Ports<'static, SnsNotifier, AwsStorage, AwsCompute>;

/// The image an Ec2Resource without one is launched from on the emulator (one of moto's).
const EMULATOR_IMAGE: &str = "ami-12c6146b";
/// How often the emulator's machines are listed for stand-in runners while some are
/// wanted or serving, and when none are (each listing is a request the emulator answers
/// instead of the API).
const MACHINES_POLL: Duration = Duration::from_millis(500);
const MACHINES_POLL_IDLE: Duration = Duration::from_secs(30);
/// How long after work was made ready for a machine the listing stays frequent.
const MACHINES_WANTED_FOR: Duration = Duration::from_secs(60);

/// Stands in for the machines the resources stage launched on the emulator, where nothing
/// boots: while the emulator shows a machine running, a local runner serves its worker
/// group (what the machine's own `sluice runner` would do); when the machine ends, so does
/// its runner, handing back what it ran.
async fn stand_in_for_machines(
    api: &'static DevApi,
    storage: &'static AwsStorage,
    compute: &'static AwsCompute,
    wake: std::sync::Arc<tokio::sync::Notify>,
    machines_wanted: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut serving: std::collections::HashMap<String, tokio::sync::oneshot::Sender<()>> =
        std::collections::HashMap::new();
    let mut wanted_at: Option<std::time::Instant> = None;
    loop {
        let busy = !serving.is_empty() || wanted_at.is_some_and(|at| at.elapsed() < MACHINES_WANTED_FOR);
        tokio::select! {
            () = tokio::time::sleep(if busy { MACHINES_POLL } else { MACHINES_POLL_IDLE }) => {}
            () = machines_wanted.notified() => {
                wanted_at = Some(std::time::Instant::now());
                // The machine is launched by the resources stage right after.
                tokio::time::sleep(MACHINES_POLL).await;
            }
        }
        let machines = match compute.alive_tagged().await {
            Ok(machines) => machines,
            Err(error) => {
                eprintln!("sluice dev: listing the emulator's machines failed: {error}");
                continue;
            }
        };
        let running: std::collections::HashMap<String, String> = machines
            .into_iter()
            // An EMR cluster's steps are the resources stage's to run, not a runner's.
            .filter(|tagged| tagged.machine.state == MachineState::Running && !is_cluster_id(&tagged.machine.id))
            .filter_map(|tagged| Some((tagged.machine.id, tagged.worker_group?)))
            .collect();
        // Dropping a machine's sender stops its runner.
        serving.retain(|id, _| {
            let alive = running.contains_key(id);
            if !alive {
                say!("sluice dev: machine {id} has ended; its stand-in runner stops");
            }
            alive
        });
        for (id, group) in running {
            if serving.contains_key(&id) {
                continue;
            }
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            serving.insert(id.clone(), stop);
            say!("sluice dev: machine {id} is running; a local runner stands in for it (worker group {group})");
            let wake = wake.clone();
            tokio::task::spawn_local(async move {
                let source = EngineTaskSource::new(&api.engine);
                let executor = Executor::new(storage, ExecutorSettings::default());
                let mut settings = RunSettings::new(&group, &id);
                settings.tasks = 2;
                settings.idle_min = Duration::from_millis(100);
                settings.idle_max = Duration::from_millis(500);
                settings.wake = Some(wake);
                runner::run(&source, &executor, &settings, async {
                    let _ = stopped.await;
                })
                .await;
            });
        }
    }
}

/// Every stage, every tick: the minute schedule of a deployment, faster.
async fn run_ticks(api: &'static DevApi, ports: &'static DevPorts, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    loop {
        interval.tick().await;
        for stage in Stage::ALL {
            run_logged(api, stage, &Trigger::Tick, ports).await;
        }
    }
}

/// The table's stream, read as Lambda's event-source mapping would deliver it: each batch
/// wakes the stages at once, then the local runner. Reads that keep failing end it with
/// the error, to start over on the stream found anew.
async fn follow_stream(
    api: &'static DevApi,
    ports: &'static DevPorts,
    mut reader: StreamReader,
    wake: std::sync::Arc<tokio::sync::Notify>,
    task_ended: std::sync::Arc<tokio::sync::Notify>,
) -> anyhow::Result<()> {
    let mut last_change = std::time::Instant::now();
    let mut failures = 0;
    loop {
        let quiet = last_change.elapsed() > STREAM_QUIET_AFTER;
        tokio::select! {
            () = tokio::time::sleep(if quiet { STREAM_POLL_IDLE } else { STREAM_POLL_BUSY }) => {}
            () = task_ended.notified() => {}
        }
        let (changes, poison) = match reader.next_batch().await {
            Ok(batch) => batch,
            Err(error) => {
                failures += 1;
                if failures >= STREAM_FAILURES_BEFORE_RESTART {
                    return Err(anyhow!(
                        "reading the table's stream failed {failures} times in a row: {error}"
                    ));
                }
                eprintln!("sluice dev: reading the table's stream failed: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        failures = 0;
        for problem in poison {
            eprintln!("sluice dev: skipped a stream record: {problem}");
        }
        if changes.is_empty() {
            continue;
        }
        last_change = std::time::Instant::now();
        let handed_back = tasks_handed_back(&changes);
        let trigger = Trigger::Changes(changes);
        // Preconditions first (they make the attempts), then as many of the runner's idle
        // workers woken as there are new tasks: waking all of them on every change had them
        // polling dozens of times a second, and the emulator answered everything else later.
        // The engine wakes the runner for each attempt it makes; tasks handed back (a
        // runner that stopped, a lease that lapsed) wake one worker each here.
        run_logged(api, Stage::Preconditions, &trigger, ports).await;
        for _ in 0..handed_back {
            wake.notify_one();
        }
        for stage in [Stage::Resources, Stage::Activities, Stage::Actions, Stage::Scheduler] {
            run_logged(api, stage, &trigger, ports).await;
        }
    }
}

/// Stage runs take turns, as the tick and the stream would otherwise race each other; the
/// turn holds which stages sit out a backoff after a failure.
static STAGE_TURN: tokio::sync::Mutex<StageHolds> = tokio::sync::Mutex::const_new(StageHolds::new());

/// Runs `stage` unless it is sitting out a backoff; an error or a panic is logged with the
/// stage's name and starts (or lengthens) its backoff, and the loop goes on.
async fn run_logged(api: &'static DevApi, stage: Stage, trigger: &Trigger, ports: &'static DevPorts) {
    let mut holds = STAGE_TURN.lock().await;
    if !holds.may_run(stage, std::time::Instant::now()) {
        return;
    }
    // Boxed: the stage's future is large, and moving it into `confined` on a worker
    // thread's stack overflowed it.
    let run = Box::pin(run_stage(&api.engine, stage, trigger, ports, || true));
    let what = match confined(run).await {
        Ok(Ok(report)) => {
            if holds.ran(stage) > 0 {
                eprintln!("sluice dev: {stage} runs again");
            }
            for corrupt in report.corrupt {
                eprintln!("sluice dev: {stage}: skipped a record it cannot read: {corrupt}");
            }
            for problem in report.problems {
                eprintln!("sluice dev: {stage}: {problem}");
            }
            return;
        }
        Ok(Err(error)) => format!("failed: {error}"),
        Err(panic) => format!("panicked: {panic}"),
    };
    let wait = holds.failed(stage, std::time::Instant::now());
    eprintln!("{}", stage_failed(stage, &what, wait));
}
