//! `sluice demo`: the pipelines in `examples/demo/`, run to the end on this machine. It
//! starts `sluice dev` (which starts the emulator), lays out the data the pipelines expect,
//! subscribes an SQS queue to the alarm topic, creates and activates every pipeline through
//! the Data Pipeline API, shows their runs live, and ends with the runs tables and the alarm
//! read back from the queue.
//!
//! Everything here is a user of Sluice's public doors (the API, the emulator's S3, SNS and
//! SQS); nothing reaches into the engine.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{BufRead, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use aws_sdk_datapipeline::types::{ParameterValue, Tag};
use chrono::{NaiveDate, Utc};
use sluice::{
    definition::{Definition, read_definition},
    engine::pipelines::ALLOW_BACKFILL_TAG,
};

use crate::{
    Outcome, dev,
    pipelines::{self, Run, colour_wanted, or_if_empty, runs_table},
};

/// The bucket the daily exports land in, and the archive the backfill copies them to
/// (the defaults of the backfill's parameters).
const EXPORT_BUCKET: &str = "sluice-demo-exports";
const ARCHIVE_BUCKET: &str = "sluice-demo-archive";
/// The days the backfill copies, counted back from today; the last day's export lands
/// a few seconds into the demo, so the precondition is seen waiting for it.
const BACKFILL_DAYS: u64 = 3;
const LATE_EXPORT_AFTER: Duration = Duration::from_secs(6);
/// How often the live view asks the API.
const REFRESH: Duration = Duration::from_millis(500);
/// How long the alarm of a failed run may take to arrive once every run has ended.
const ALARM_GRACE: Duration = Duration::from_secs(20);

pub struct Options {
    /// A running `sluice dev` to use (its emulator from `AWS_ENDPOINT_URL`); by default the
    /// demo starts one.
    pub endpoint: Option<String>,
    /// The folder of definitions to run.
    pub examples: PathBuf,
    /// How long the pipelines may take.
    pub timeout: Duration,
}

pub fn run(options: &Options) -> Outcome {
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(outcome) => return outcome,
    };
    match runtime.block_on(demo(options)) {
        Ok(true) => Outcome::Success,
        Ok(false) => Outcome::InputErrors,
        Err(error) => {
            eprintln!("error: {:#}", pipelines::explain(error));
            Outcome::Usage
        }
    }
}

/// A definition from `examples/demo/`, and the pipeline made of it.
struct DemoPipeline {
    name: String,
    file: PathBuf,
    definition: Definition,
    on_demand: bool,
    id: String,
}

async fn demo(options: &Options) -> anyhow::Result<bool> {
    let began = Instant::now();
    let mut demos = read_examples(&options.examples)?;
    let (api, emulator, dev) = match &options.endpoint {
        Some(api) => {
            let emulator = std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|endpoint| !endpoint.is_empty())
                .context("with --endpoint, set AWS_ENDPOINT_URL to the emulator that sluice dev uses")?;
            (api.clone(), emulator, None)
        }
        None => {
            println!("Starting sluice dev (and moto's server, the AWS emulator)...");
            let dev = DevProcess::start()?;
            (dev.api.clone(), dev.emulator.clone(), Some(dev))
        }
    };
    println!("  Data Pipeline API: {api}");
    println!("  AWS emulator:      {emulator}");
    if let Some(dev) = &dev {
        println!("  sluice dev's log:  {}", dev.log.display());
    }

    let sdk = dev::aws_sdk_config(Some(&emulator), false).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    // The backfill's data: a daily export for each of the last three days.
    let today = Utc::now().date_naive();
    let days: Vec<NaiveDate> = (1..=BACKFILL_DAYS)
        .rev()
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back)))
        .collect();
    let (first_day, late_day) = match (days.first(), days.last()) {
        (Some(first), Some(last)) => (*first, *last),
        _ => bail!("cannot count {BACKFILL_DAYS} days back from {today}"),
    };
    for bucket in [EXPORT_BUCKET, ARCHIVE_BUCKET] {
        if s3.head_bucket().bucket(bucket).send().await.is_err() {
            s3.create_bucket()
                .bucket(bucket)
                .send()
                .await
                .with_context(|| format!("creating bucket {bucket}"))?;
        }
    }
    for day in &days {
        put_export(&s3, *day, *day != late_day).await?;
    }
    println!(
        "  exports for {} are in s3://{EXPORT_BUCKET}/sales/; {late_day}'s lands in {} s",
        days.iter()
            .filter(|day| **day != late_day)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
        LATE_EXPORT_AFTER.as_secs()
    );

    // Alarms: the topic sluice dev publishes to, read back through a queue.
    let topic = sns
        .create_topic()
        .name("sluice-dev-alarms")
        .send()
        .await
        .context("finding the alarm topic")?
        .topic_arn
        .context("the emulator returned no topic ARN")?;
    let queue = format!("sluice-demo-alarms-{}", std::process::id());
    let queue_url = sqs
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .with_context(|| format!("creating queue {queue}"))?
        .queue_url
        .context("the emulator returned no queue URL")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the queue's ARN")?
        .attributes
        .and_then(|mut attributes| attributes.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .context("the emulator returned no queue ARN")?;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .context("subscribing the queue to the alarm topic")?;
    println!("  alarms on {topic} arrive in SQS queue {queue}");

    // The pipelines, through the Data Pipeline API.
    let client = pipelines::client(Some(&api)).await?;
    let values = BTreeMap::from([
        ("myFirstDay", format!("{first_day}T00:00:00")),
        ("myExportBucket", EXPORT_BUCKET.to_owned()),
        ("myArchiveBucket", ARCHIVE_BUCKET.to_owned()),
        ("myAlarmTopic", topic.clone()),
    ]);
    let stamp = Utc::now().timestamp_millis();
    for demo in &mut demos {
        demo.id = create_and_activate(&client, demo, &values, stamp).await?;
        println!("  {}: {} created and activated", demo.id, demo.name);
    }
    println!();

    let late_export = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LATE_EXPORT_AFTER).await;
            put_export(&s3, late_day, true).await
        })
    };
    let mut view = LiveView::new(colour_wanted());
    let mut alarms = Vec::new();
    let mut ended_at: Option<Instant> = None;
    let deadline = began + options.timeout;
    let runs = loop {
        let runs = fetch_all(&client, &demos).await?;
        alarms.extend(receive_alarms(&sqs, &queue_url).await?);
        view.show(&demos, &runs, &alarms, began.elapsed());
        let all_ended = demos.iter().zip(&runs).all(|(demo, (state, rows))| {
            !rows.is_empty() && rows.iter().all(Run::has_ended) && (demo.on_demand || state == "FINISHED")
        });
        let alarm_expected = runs.iter().flat_map(|(_, rows)| rows).any(|row| row.status == "FAILED");
        if all_ended {
            let ended = *ended_at.get_or_insert_with(Instant::now);
            if !alarm_expected || !alarms.is_empty() || ended.elapsed() > ALARM_GRACE {
                break runs;
            }
        }
        if Instant::now() > deadline {
            view.finish();
            println!(
                "\nThe pipelines did not all end within {} s; their runs so far:",
                options.timeout.as_secs()
            );
            print_summary(&demos, &runs, &alarms);
            return Ok(false);
        }
        tokio::time::sleep(REFRESH).await;
    };
    view.finish();
    match late_export.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(error) => bail!("the late export's upload stopped: {error}"),
    }

    println!();
    print_summary(&demos, &runs, &alarms);
    let archived = s3
        .list_objects_v2()
        .bucket(ARCHIVE_BUCKET)
        .prefix("sales/")
        .send()
        .await
        .context("listing the archive")?;
    println!("The backfill copied into s3://{ARCHIVE_BUCKET}/sales/:");
    for object in archived.contents() {
        println!("  {}", object.key().unwrap_or("?"));
    }
    println!("\nThe demo took {:.1} s.", began.elapsed().as_secs_f64());
    if dev.is_some() {
        println!(
            "Run `sluice dev` yourself to keep going: it prints how to drive it with the aws CLI and the sluice verbs."
        );
    }
    Ok(true)
}

/// Every `*.json` in `folder`, read and named after its file.
fn read_examples(folder: &Path) -> anyhow::Result<Vec<DemoPipeline>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no pipeline definitions (*.json)", folder.display());
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let loaded = read_definition(&text).map_err(|error| anyhow!("{}: {error}", file.display()))?;
            let definition = loaded.definition;
            let on_demand = definition
                .objects
                .iter()
                .filter(|object| object.id == "Default")
                .flat_map(|object| &object.fields)
                .any(|field| {
                    field.key == "scheduleType"
                        && matches!(&field.value, sluice::definition::FieldValue::String(text) if text.eq_ignore_ascii_case("ondemand"))
                });
            let name = file
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(DemoPipeline {
                name,
                file,
                definition,
                on_demand,
                id: String::new(),
            })
        })
        .collect()
}

/// Creates the pipeline, saves its definition and activates it with the demo's values for
/// the parameters it declares. Every demo pipeline may backfill (the sales copy starts
/// three days back); the tag is how any Data Pipeline client says so.
async fn create_and_activate(
    client: &aws_sdk_datapipeline::Client,
    demo: &DemoPipeline,
    values: &BTreeMap<&str, String>,
    stamp: i64,
) -> anyhow::Result<String> {
    let created = client
        .create_pipeline()
        .name(&demo.name)
        .unique_id(format!("sluice-demo-{}-{stamp}", demo.name))
        .description(format!("sluice demo: {}", demo.file.display()))
        .tags(Tag::builder().key(ALLOW_BACKFILL_TAG).value("true").build()?)
        .send()
        .await
        .context("CreatePipeline")?;
    let id = created.pipeline_id().to_owned();
    let (objects, parameters, _) = pipelines::to_sdk(&demo.definition)?;
    let declared = demo.definition.parameters.iter().map(|parameter| parameter.id.as_str());
    let parameter_values = declared
        .filter_map(|parameter| values.get_key_value(parameter))
        .map(|(id, value)| ParameterValue::builder().id(*id).string_value(value).build())
        .collect::<Result<Vec<_>, _>>()?;
    let parameter_values = (!parameter_values.is_empty()).then_some(parameter_values);
    let saved = client
        .put_pipeline_definition()
        .pipeline_id(&id)
        .set_pipeline_objects(Some(objects))
        .set_parameter_objects((!parameters.is_empty()).then_some(parameters))
        .set_parameter_values(parameter_values.clone())
        .send()
        .await
        .context("PutPipelineDefinition")?;
    if saved.errored() {
        let errors: Vec<String> = saved
            .validation_errors()
            .iter()
            .flat_map(|error| {
                error
                    .errors()
                    .iter()
                    .map(|message| format!("object \"{}\": {message}", error.id().unwrap_or("?")))
            })
            .collect();
        bail!("{} has errors:\n  {}", demo.file.display(), errors.join("\n  "));
    }
    client
        .activate_pipeline()
        .pipeline_id(&id)
        .set_parameter_values(parameter_values)
        .send()
        .await
        .context("ActivatePipeline")?;
    Ok(id)
}

/// A day's export: its orders, and, when it has landed, the `_SUCCESS` marker the
/// precondition waits for.
async fn put_export(s3: &aws_sdk_s3::Client, day: NaiveDate, landed: bool) -> anyhow::Result<()> {
    let folder = format!("sales/{day}");
    let mut files = vec![(
        format!("{folder}/orders.csv"),
        format!("order_id,sold_at,amount\n{day}-1,{day}T09:12:00,19.99\n{day}-2,{day}T17:40:00,5.00\n"),
    )];
    if landed {
        files.push((format!("{folder}/_SUCCESS"), String::new()));
    }
    for (key, body) in files {
        s3.put_object()
            .bucket(EXPORT_BUCKET)
            .key(&key)
            .body(body.into_bytes().into())
            .send()
            .await
            .with_context(|| format!("uploading s3://{EXPORT_BUCKET}/{key}"))?;
    }
    Ok(())
}

/// Each pipeline's state (`@pipelineState`) and runs.
async fn fetch_all(
    client: &aws_sdk_datapipeline::Client,
    demos: &[DemoPipeline],
) -> anyhow::Result<Vec<(String, Vec<Run>)>> {
    let described = client
        .describe_pipelines()
        .set_pipeline_ids(Some(demos.iter().map(|demo| demo.id.clone()).collect()))
        .send()
        .await
        .context("DescribePipelines")?;
    let mut all = Vec::with_capacity(demos.len());
    for demo in demos {
        let state = described
            .pipeline_description_list()
            .iter()
            .find(|pipeline| pipeline.pipeline_id() == demo.id)
            .and_then(|pipeline| {
                pipeline
                    .fields()
                    .iter()
                    .find(|field| field.key() == "@pipelineState")
                    .and_then(|field| field.string_value())
            })
            .unwrap_or("")
            .to_owned();
        all.push((state, pipelines::fetch_runs(client, &demo.id, None).await?));
    }
    Ok(all)
}

/// An alarm as SNS delivered it to the queue.
#[derive(Debug, Clone)]
struct Alarm {
    subject: String,
    message: String,
}

/// Whatever alarms have arrived, taken off the queue.
async fn receive_alarms(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<Vec<Alarm>> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .context("reading the alarm queue")?;
    let mut alarms = Vec::new();
    for message in received.messages() {
        // SNS wraps what it delivers to SQS in an envelope with Subject and Message.
        let body = message.body().unwrap_or("");
        let envelope: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        let text = |key: &str| envelope.get(key).and_then(|value| value.as_str()).map(str::to_owned);
        alarms.push(Alarm {
            subject: text("Subject").unwrap_or_default(),
            message: text("Message").unwrap_or_else(|| body.to_owned()),
        });
        if let Some(receipt) = message.receipt_handle() {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .context("taking the alarm off the queue")?;
        }
    }
    Ok(alarms)
}

fn print_summary(demos: &[DemoPipeline], runs: &[(String, Vec<Run>)], alarms: &[Alarm]) {
    let colour = colour_wanted();
    for (demo, (state, rows)) in demos.iter().zip(runs) {
        println!("== {} ({}, {})", demo.name, demo.id, or_if_empty(state, "SCHEDULED"));
        println!("{}", runs_table(rows, colour));
    }
    let costs: Vec<String> = demos
        .iter()
        .zip(runs)
        .flat_map(|(demo, (_, rows))| machine_time(&demo.definition, rows))
        .collect();
    if !costs.is_empty() {
        println!("Machine time against the work's own time (what a resource costs beyond its work):");
        for line in costs {
            println!("  {line}");
        }
        println!();
    }
    if alarms.is_empty() {
        println!("No alarm arrived.");
    }
    for alarm in alarms {
        println!("SNS alarm read back from the queue:");
        println!("  Subject: {}", alarm.subject);
        println!("  Message: {}", alarm.message.replace('\n', "\n           "));
        println!();
    }
}

/// For each resource instance that ran: how long its machine lived (launch to FINISHED)
/// and how long the work on it took, from the runs' own times.
fn machine_time(definition: &Definition, rows: &[Run]) -> Vec<String> {
    let seconds = |run: &Run| -> Option<i64> {
        let started = sluice::time::parse_datetime(&run.started).ok()?;
        let ended = sluice::time::parse_datetime(&run.ended).ok()?;
        Some((ended - started).num_seconds())
    };
    let component = |run: &Run| {
        run.id
            .trim_start_matches('@')
            .rsplit_once('_')
            .map(|(component, _)| component.to_owned())
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    for resource in definition
        .objects
        .iter()
        .filter(|object| matches!(object.type_name(), Some("Ec2Resource" | "EmrCluster")))
    {
        let on_it: Vec<&str> = definition
            .objects
            .iter()
            .filter(|object| object.reference("runsOn") == Some(resource.id.as_str()))
            .map(|object| object.id.as_str())
            .collect();
        for run in rows.iter().filter(|run| component(run) == resource.id) {
            let Some(machine) = seconds(run) else { continue };
            let work: i64 = rows
                .iter()
                .filter(|row| on_it.contains(&component(row).as_str()))
                .filter_map(seconds)
                .sum();
            let share = if machine > 0 { work * 100 / machine } else { 100 };
            lines.push(format!(
                "{}: machine {}m{:02}s ({}) for {}m{:02}s of work: {share}% of the machine time was work",
                run.id,
                machine / 60,
                machine % 60,
                run.status,
                work / 60,
                work % 60
            ));
        }
    }
    lines
}

/// The live view: on a terminal, the runs tables redrawn in place; elsewhere (a log, CI),
/// a line for each change of status.
struct LiveView {
    terminal: bool,
    /// The terminal's width: frame lines are cut to it, since a wrapped line would throw
    /// off the redraw.
    columns: usize,
    drawn_lines: usize,
    seen: BTreeMap<String, String>,
    alarms_seen: usize,
}

impl LiveView {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            columns: terminal_columns(),
            drawn_lines: 0,
            seen: BTreeMap::new(),
            alarms_seen: 0,
        }
    }

    fn show(&mut self, demos: &[DemoPipeline], runs: &[(String, Vec<Run>)], alarms: &[Alarm], elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if self.terminal {
            let mut frame = String::new();
            for (demo, (state, rows)) in demos.iter().zip(runs) {
                let _ = writeln!(frame, "== {} ({})", demo.name, or_if_empty(state, "SCHEDULED"));
                frame.push_str(&runs_table(rows, true));
            }
            let _ = writeln!(
                frame,
                "{seconds:.1} s, alarms received: {}{}",
                alarms.len(),
                alarms
                    .last()
                    .map(|alarm| format!(" ({})", alarm.subject))
                    .unwrap_or_default()
            );
            let frame: String = frame
                .lines()
                .map(|line| format!("{}\n", fit(line, self.columns)))
                .collect();
            let mut out = std::io::stdout().lock();
            if self.drawn_lines > 0 {
                // Back to the top of the last frame, and clear below.
                let _ = write!(out, "\u{1b}[{}F\u{1b}[J", self.drawn_lines);
            }
            let _ = write!(out, "{frame}");
            let _ = out.flush();
            self.drawn_lines = frame.lines().count();
            return;
        }
        for (demo, (_, rows)) in demos.iter().zip(runs) {
            for row in rows {
                let note = row.note();
                let shown = format!("{} {} {note}", row.status, row.attempts);
                let key = format!("{} {}", demo.id, row.id);
                if self.seen.get(&key) == Some(&shown) {
                    continue;
                }
                let attempt = match row.attempts.as_str() {
                    "" | "0" => String::new(),
                    count => format!(" (attempt {count})"),
                };
                let note = if note.is_empty() { note } else { format!(": {note}") };
                println!(
                    "[{seconds:6.1} s] {:<16} {} {}{attempt}{note}",
                    demo.name, row.id, row.status
                );
                self.seen.insert(key, shown);
            }
        }
        for alarm in &alarms[self.alarms_seen..] {
            println!("[{seconds:6.1} s] alarm received: {}", alarm.subject);
        }
        self.alarms_seen = alarms.len();
    }

    fn finish(&mut self) {
        self.drawn_lines = 0;
    }
}

/// The width of the terminal on stdin's side (`stty size`), or `COLUMNS`, or 120.
fn terminal_columns() -> usize {
    let from_stty = Command::new("stty")
        .arg("size")
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8(output.stdout).ok()?;
            text.split_whitespace().nth(1)?.parse().ok()
        });
    from_stty
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .filter(|columns| *columns > 20)
        .unwrap_or(120)
}

/// `line` cut to `columns` visible characters (colour codes take no room), the colour
/// reset at the cut.
fn fit(line: &str, columns: usize) -> String {
    let mut fitted = String::with_capacity(line.len());
    let mut visible = 0;
    let mut in_escape = false;
    for character in line.chars() {
        if in_escape {
            fitted.push(character);
            in_escape = character != 'm';
            continue;
        }
        if character == '\u{1b}' {
            fitted.push(character);
            in_escape = true;
            continue;
        }
        if visible + 1 >= columns {
            fitted.push_str("\u{1b}[0m…");
            return fitted;
        }
        fitted.push(character);
        visible += 1;
    }
    fitted
}

/// `sluice dev`, started as a child process on a free port, its output kept in a log file.
/// Dropping it stops it with SIGTERM, which stops the emulator it started.
struct DevProcess {
    child: Child,
    api: String,
    emulator: String,
    log: PathBuf,
}

impl DevProcess {
    fn start() -> anyhow::Result<Self> {
        let program = std::env::current_exe().context("finding the sluice binary")?;
        let log = std::env::temp_dir().join(format!("sluice-demo-{}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(program)
            .args(["dev", "--listen", "127.0.0.1:0", "--tick", "1", "--poll-wait", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file.try_clone().context("sharing the log file")?)
            .spawn()
            .context("starting sluice dev")?;
        let stdout = child.stdout.take().context("reading sluice dev's output")?;
        let (found, addresses) = mpsc::channel();
        // Reads the addresses from sluice dev's banner, then copies the rest into the log.
        std::thread::spawn(move || {
            let mut log_file = log_file;
            let (mut api, mut emulator) = (None, None);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(log_file, "{line}");
                if let Some(rest) = line.trim().strip_prefix("API (Data Pipeline protocol): ") {
                    api = Some(rest.to_owned());
                }
                if let Some(rest) = line.trim().strip_prefix("AWS emulator: ") {
                    emulator = rest.split_whitespace().next().map(str::to_owned);
                }
                if let (Some(found_api), Some(found_emulator)) = (&api, &emulator) {
                    let _ = found.send((found_api.clone(), found_emulator.clone()));
                    // Once: the rest of the output only goes to the log.
                    (api, emulator) = (None, None);
                }
            }
        });
        let started = addresses.recv_timeout(Duration::from_secs(90));
        let mut dev = Self {
            child,
            api: String::new(),
            emulator: String::new(),
            log,
        };
        match started {
            Ok((api, emulator)) => {
                dev.api = api;
                dev.emulator = emulator;
                Ok(dev)
            }
            Err(_) => {
                let log = std::fs::read_to_string(&dev.log).unwrap_or_default();
                bail!("sluice dev did not start; its output:\n{log}")
            }
        }
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let terminated = Command::new("kill").args(["-TERM", &pid]).status();
        if terminated.is_ok_and(|status| status.success()) {
            let until = Instant::now() + Duration::from_secs(15);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_to_the_terminal_counting_only_visible_characters() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("a long line of text", 10), "a long li\u{1b}[0m…");
        // Colour codes take no columns.
        let painted = "\u{1b}[32mFINISHED\u{1b}[0m rest";
        assert_eq!(fit(painted, 40), painted);
        assert_eq!(fit(painted, 6), "\u{1b}[32mFINIS\u{1b}[0m…");
    }
}
