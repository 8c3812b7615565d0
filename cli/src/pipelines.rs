//! Pipeline verbs over the Data Pipeline API, with the AWS SDK's own client pointed at a
//! Sluice endpoint: create, put, activate, deactivate, delete, list, describe, definition,
//! runs, rerun, cancel, mark-finished.

use std::{io::IsTerminal, path::Path};

use anyhow::{Context, anyhow};
use aws_sdk_datapipeline::{
    Client,
    config::Credentials,
    types::{
        Field, Operator, OperatorType, ParameterAttribute, ParameterObject, ParameterValue, PipelineObject, Query,
        Selector,
    },
};
use sluice::definition::{Definition, ParameterValue as ModelValue, read_definition, to_file_json};

use crate::Outcome;

/// The API client for `endpoint` (or `SLUICE_ENDPOINT`, or AWS itself). Against a local
/// endpoint with no credentials configured, dummy ones are used: `sluice dev` does not
/// check signatures.
pub async fn client(endpoint: Option<&str>) -> anyhow::Result<Client> {
    let endpoint = endpoint
        .map(str::to_owned)
        .or_else(|| std::env::var("SLUICE_ENDPOINT").ok());
    let mut loader = aws_defaults();
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint);
        let local = endpoint.contains("://127.") || endpoint.contains("://localhost") || endpoint.contains("://[::1]");
        if local && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
            loader = loader.credentials_provider(Credentials::new("sluice", "sluice", None, None, "sluice-local"));
        }
    }
    let config = loader.load().await;
    Ok(Client::from_conf(api_config(&config, endpoint.as_deref())))
}

/// The SDK's settings from the environment, in us-east-1 unless a region is set.
pub fn aws_defaults() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        return loader.region(aws_config::Region::new("us-east-1"));
    }
    loader
}

/// The signing name an API endpoint checks, where it is not Data Pipeline's own: a Lambda
/// function URL (`https://<id>.lambda-url.<region>.on.aws/`, how the SAM template serves the
/// API) checks signatures made for `lambda`. `SLUICE_SIGNING_NAME` names it for endpoints
/// in front of one (a custom domain).
pub fn signing_name_for(endpoint: &str) -> Option<String> {
    if let Ok(name) = std::env::var("SLUICE_SIGNING_NAME")
        && !name.trim().is_empty()
    {
        return Some(name.trim().to_owned());
    }
    let host = endpoint.split("://").nth(1)?.split(['/', ':']).next()?;
    (host.contains(".lambda-url.") && host.ends_with(".on.aws")).then(|| "lambda".to_owned())
}

/// The Data Pipeline client configuration for `endpoint` (AWS's own when `None`), signing
/// for the service the endpoint checks.
pub fn api_config(config: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_datapipeline::Config {
    signed_config(config, endpoint, endpoint.and_then(signing_name_for))
}

pub(crate) fn signed_config(
    config: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    signing_name: Option<String>,
) -> aws_sdk_datapipeline::Config {
    let mut builder = aws_sdk_datapipeline::config::Builder::from(config);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
        if let Some(signing_name) = signing_name {
            builder = builder.endpoint_resolver(SignedFor { signing_name });
        }
    }
    builder.build()
}

/// Resolves the configured endpoint URL, telling the signer which service to sign for.
#[derive(Debug)]
struct SignedFor {
    signing_name: String,
}

impl aws_sdk_datapipeline::config::endpoint::ResolveEndpoint for SignedFor {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_datapipeline::config::endpoint::Params,
    ) -> aws_sdk_datapipeline::config::endpoint::EndpointFuture<'a> {
        use aws_smithy_types::Document;
        let Some(url) = params.endpoint() else {
            return aws_sdk_datapipeline::config::endpoint::EndpointFuture::ready(Err(
                "no endpoint URL to sign for".into()
            ));
        };
        let mut scheme = std::collections::HashMap::new();
        scheme.insert("name".to_owned(), Document::String("sigv4".to_owned()));
        scheme.insert("signingName".to_owned(), Document::String(self.signing_name.clone()));
        if let Some(region) = params.region() {
            scheme.insert("signingRegion".to_owned(), Document::String(region.to_owned()));
        }
        let endpoint = aws_sdk_datapipeline::config::endpoint::Endpoint::builder()
            .url(url.to_owned())
            .property("authSchemes", vec![Document::Object(scheme)])
            .build();
        aws_sdk_datapipeline::config::endpoint::EndpointFuture::ready(Ok(endpoint))
    }
}

/// A definition in the SDK's types.
pub fn to_sdk(
    definition: &Definition,
) -> anyhow::Result<(Vec<PipelineObject>, Vec<ParameterObject>, Vec<ParameterValue>)> {
    let objects = definition
        .objects
        .iter()
        .map(|object| {
            let fields = object
                .fields
                .iter()
                .map(|field| {
                    let builder = Field::builder().key(&field.key);
                    let builder = match &field.value {
                        sluice::definition::FieldValue::String(text) => builder.string_value(text),
                        sluice::definition::FieldValue::Ref(id) => builder.ref_value(id),
                    };
                    builder.build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(PipelineObject::builder()
                .id(&object.id)
                .name(&object.name)
                .set_fields(Some(fields))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let parameters = definition
        .parameters
        .iter()
        .map(|parameter| {
            let attributes = parameter
                .attributes
                .iter()
                .map(|attribute| {
                    ParameterAttribute::builder()
                        .key(&attribute.key)
                        .string_value(&attribute.value)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ParameterObject::builder()
                .id(&parameter.id)
                .set_attributes(Some(attributes))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let values = definition
        .values
        .iter()
        .map(|value| {
            ParameterValue::builder()
                .id(&value.id)
                .string_value(&value.value)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((objects, parameters, values))
}

/// A definition from the SDK's types.
pub fn from_sdk(objects: &[PipelineObject], parameters: &[ParameterObject], values: &[ParameterValue]) -> Definition {
    use sluice::definition::{FieldValue, ParameterAttribute as Attribute, ParameterObject as Parameter};
    Definition {
        objects: objects
            .iter()
            .map(|object| sluice::definition::PipelineObject {
                id: object.id().to_owned(),
                name: object.name().to_owned(),
                fields: object
                    .fields()
                    .iter()
                    .map(|field| sluice::definition::Field {
                        key: field.key().to_owned(),
                        value: match (field.string_value(), field.ref_value()) {
                            (_, Some(id)) => FieldValue::Ref(id.to_owned()),
                            (text, None) => FieldValue::String(text.unwrap_or_default().to_owned()),
                        },
                    })
                    .collect(),
            })
            .collect(),
        parameters: parameters
            .iter()
            .map(|parameter| Parameter {
                id: parameter.id().to_owned(),
                attributes: parameter
                    .attributes()
                    .iter()
                    .map(|attribute| Attribute {
                        key: attribute.key().to_owned(),
                        value: attribute.string_value().to_owned(),
                    })
                    .collect(),
            })
            .collect(),
        values: values
            .iter()
            .map(|value| ModelValue {
                id: value.id().to_owned(),
                value: value.string_value().to_owned(),
            })
            .collect(),
    }
}

pub async fn create(
    client: &Client,
    name: &str,
    unique_id: Option<&str>,
    description: Option<&str>,
) -> anyhow::Result<Outcome> {
    let unique_id = unique_id.map_or_else(|| format!("{name}-{}", std::process::id()), str::to_owned);
    let created = client
        .create_pipeline()
        .name(name)
        .unique_id(unique_id)
        .set_description(description.map(str::to_owned))
        .send()
        .await
        .context("CreatePipeline")?;
    println!("{}", created.pipeline_id());
    Ok(Outcome::Success)
}

pub async fn put(client: &Client, pipeline: &str, file: &Path) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let loaded = read_definition(&text).map_err(|error| anyhow!("{}: {error}", file.display()))?;
    let (objects, parameters, values) = to_sdk(&loaded.definition)?;
    let answer = client
        .put_pipeline_definition()
        .pipeline_id(pipeline)
        .set_pipeline_objects(Some(objects))
        .set_parameter_objects((!parameters.is_empty()).then_some(parameters))
        .set_parameter_values((!values.is_empty()).then_some(values))
        .send()
        .await
        .context("PutPipelineDefinition")?;
    for error in answer.validation_errors() {
        for message in error.errors() {
            println!(
                "{}: error: object \"{}\": {message}",
                file.display(),
                error.id().unwrap_or("?")
            );
        }
    }
    for warning in answer.validation_warnings() {
        for message in warning.warnings() {
            println!(
                "{}: warning: object \"{}\": {message}",
                file.display(),
                warning.id().unwrap_or("?")
            );
        }
    }
    if answer.errored() {
        println!("{pipeline}: the definition was saved with errors; it cannot be activated until they are fixed");
        return Ok(Outcome::InputErrors);
    }
    println!("{pipeline}: definition saved");
    Ok(Outcome::Success)
}

pub async fn activate(
    client: &Client,
    pipeline: &str,
    start: Option<chrono::NaiveDateTime>,
) -> anyhow::Result<Outcome> {
    let start = start.map(|start| aws_sdk_datapipeline::primitives::DateTime::from_secs(start.and_utc().timestamp()));
    client
        .activate_pipeline()
        .pipeline_id(pipeline)
        .set_start_timestamp(start)
        .send()
        .await
        .context("ActivatePipeline")?;
    println!("{pipeline}: activated");
    Ok(Outcome::Success)
}

pub async fn deactivate(client: &Client, pipeline: &str, cancel_active: bool) -> anyhow::Result<Outcome> {
    client
        .deactivate_pipeline()
        .pipeline_id(pipeline)
        .cancel_active(cancel_active)
        .send()
        .await
        .context("DeactivatePipeline")?;
    println!(
        "{pipeline}: deactivated{}",
        if cancel_active {
            ", running work canceled"
        } else {
            "; running work drains"
        }
    );
    Ok(Outcome::Success)
}

pub async fn delete(client: &Client, pipeline: &str) -> anyhow::Result<Outcome> {
    client
        .delete_pipeline()
        .pipeline_id(pipeline)
        .send()
        .await
        .context("DeletePipeline")?;
    println!("{pipeline}: deleted");
    Ok(Outcome::Success)
}

pub async fn list(client: &Client) -> anyhow::Result<Outcome> {
    let mut marker = None;
    loop {
        let page = client
            .list_pipelines()
            .set_marker(marker.clone())
            .send()
            .await
            .context("ListPipelines")?;
        for pipeline in page.pipeline_id_list() {
            println!("{}  {}", pipeline.id().unwrap_or("?"), pipeline.name().unwrap_or(""));
        }
        match (page.has_more_results(), page.marker()) {
            (true, Some(next)) => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(Outcome::Success)
}

pub async fn describe(client: &Client, pipelines: &[String]) -> anyhow::Result<Outcome> {
    let answer = client
        .describe_pipelines()
        .set_pipeline_ids(Some(pipelines.to_vec()))
        .send()
        .await
        .context("DescribePipelines")?;
    for pipeline in answer.pipeline_description_list() {
        println!("{}  {}", pipeline.pipeline_id(), pipeline.name());
        for field in pipeline.fields() {
            println!(
                "  {}: {}",
                field.key(),
                field.string_value().or(field.ref_value()).unwrap_or("")
            );
        }
    }
    Ok(Outcome::Success)
}

pub async fn definition(client: &Client, pipeline: &str, version: &str) -> anyhow::Result<Outcome> {
    let answer = client
        .get_pipeline_definition()
        .pipeline_id(pipeline)
        .version(version)
        .send()
        .await
        .context("GetPipelineDefinition")?;
    let definition = from_sdk(
        answer.pipeline_objects(),
        answer.parameter_objects(),
        answer.parameter_values(),
    );
    println!("{}", serde_json::to_string_pretty(&to_file_json(&definition))?);
    Ok(Outcome::Success)
}

/// SetStatus on instances: `RERUN`, `TRY_CANCEL` or `MARK_FINISHED`.
pub async fn set_status(
    client: &Client,
    pipeline: &str,
    instances: &[String],
    status: &str,
) -> anyhow::Result<Outcome> {
    client
        .set_status()
        .pipeline_id(pipeline)
        .set_object_ids(Some(instances.to_vec()))
        .status(status)
        .send()
        .await
        .context("SetStatus")?;
    println!("{pipeline}: {status} for {}", instances.join(", "));
    Ok(Outcome::Success)
}

/// `sluice runs`: every instance with its status, times and error, like `aws datapipeline
/// list-runs`, newest runs last.
pub async fn runs(client: &Client, pipeline: &str, status: Option<&str>) -> anyhow::Result<Outcome> {
    let rows = fetch_runs(client, pipeline, status).await?;
    print!("{}", runs_table(&rows, colour_wanted()));
    Ok(Outcome::Success)
}

/// Every instance of `pipeline` (those in `status` only, when given), oldest first.
pub async fn fetch_runs(client: &Client, pipeline: &str, status: Option<&str>) -> anyhow::Result<Vec<Run>> {
    let mut ids = Vec::new();
    let mut marker = None;
    loop {
        let mut query = Query::builder();
        if let Some(status) = status {
            let operator = Operator::builder()
                .r#type(OperatorType::Equal)
                .values(status.to_uppercase())
                .build();
            query = query.selectors(Selector::builder().field_name("@status").operator(operator).build());
        }
        let page = client
            .query_objects()
            .pipeline_id(pipeline)
            .sphere("INSTANCE")
            .query(query.build())
            .set_marker(marker.clone())
            .send()
            .await
            .context("QueryObjects")?;
        ids.extend(page.ids().iter().cloned());
        match (page.has_more_results(), page.marker()) {
            (true, Some(next)) => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    let mut rows = Vec::new();
    for chunk in ids.chunks(25) {
        let answer = client
            .describe_objects()
            .pipeline_id(pipeline)
            .set_object_ids(Some(chunk.to_vec()))
            .send()
            .await
            .context("DescribeObjects")?;
        for object in answer.pipeline_objects() {
            let field = |key: &str| {
                object
                    .fields()
                    .iter()
                    .find(|field| field.key() == key)
                    .and_then(|field| field.string_value())
                    .unwrap_or("")
                    .to_owned()
            };
            rows.push(Run {
                id: object.id().to_owned(),
                name: or_if_empty(&field("@componentParent"), object.name()).to_owned(),
                scheduled: field("@scheduledStartTime"),
                status: field("@status"),
                attempts: field("@attemptCount"),
                started: field("@actualStartTime"),
                ended: field("@actualEndTime"),
                error: field("errorMessage"),
                waiting_on: field("@waitingOn"),
            });
        }
    }
    // By scheduled start, then in the order they started (a chain reads top to bottom),
    // those yet to start last.
    rows.sort_by(|a, b| {
        let started = |run: &Run| (run.started.is_empty(), run.started.clone());
        (&a.scheduled, started(a), &a.name).cmp(&(&b.scheduled, started(b), &b.name))
    });
    Ok(rows)
}

/// One instance, as the runs table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub name: String,
    pub scheduled: String,
    pub status: String,
    pub attempts: String,
    pub started: String,
    pub ended: String,
    pub error: String,
    pub waiting_on: String,
}

impl Run {
    /// Whether the instance has ended for good (a rerun would start it again).
    pub fn has_ended(&self) -> bool {
        matches!(
            self.status.as_str(),
            "FINISHED" | "FAILED" | "CASCADE_FAILED" | "CANCELED" | "TIMEDOUT" | "SKIPPED" | "MARK_FINISHED"
        )
    }

    /// The error of a failed run, or what a waiting one waits on, on one line.
    pub fn note(&self) -> String {
        let note = match (self.error.is_empty(), self.waiting_on.is_empty() || self.has_ended()) {
            (false, _) => self.error.clone(),
            (true, false) => format!("waiting on {}", self.waiting_on),
            (true, true) => String::new(),
        };
        note.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// `text`, or `other` when it is empty.
pub fn or_if_empty<'a>(text: &'a str, other: &'a str) -> &'a str {
    if text.is_empty() { other } else { text }
}

/// Whether to colour statuses: on a terminal, unless `NO_COLOR` is set.
pub fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The runs table, one line per instance and a count.
pub fn runs_table(rows: &[Run], colour: bool) -> String {
    use std::fmt::Write as _;
    let width = rows
        .iter()
        .map(|row| row.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut table = format!(
        "{:<width$}  {:<19}  {:<23}  {:>8}  {:<19}  {:>9}  ERROR OR WAIT\n",
        "NAME", "SCHEDULED START", "STATUS", "ATTEMPTS", "STARTED", "DURATION"
    );
    for row in rows {
        let status = if colour {
            paint(&row.status)
        } else {
            format!("{:<23}", row.status)
        };
        let _ = writeln!(
            table,
            "{:<width$}  {:<19}  {status}  {:>8}  {:<19}  {:>9}  {}",
            row.name,
            row.scheduled,
            row.attempts,
            row.started,
            duration(&row.started, &row.ended),
            row.note()
        );
    }
    let _ = writeln!(table, "{} runs", rows.len());
    table
}

fn paint(status: &str) -> String {
    let code = match status {
        "FINISHED" | "MARK_FINISHED" => "32",
        "FAILED" | "CASCADE_FAILED" | "TIMEDOUT" => "31",
        "RUNNING" => "36",
        "CANCELED" | "SKIPPED" => "90",
        _ => "33",
    };
    format!("\u{1b}[{code}m{status:<23}\u{1b}[0m")
}

fn duration(started: &str, ended: &str) -> String {
    let parse = |text: &str| sluice::time::parse_datetime(text).ok();
    match (parse(started), parse(ended)) {
        (Some(started), Some(ended)) => {
            let seconds = (ended - started).num_seconds().max(0);
            format!("{}m{:02}s", seconds / 60, seconds % 60)
        }
        _ => String::new(),
    }
}

/// Fails with the API's own words when a call is refused.
pub fn explain(error: anyhow::Error) -> anyhow::Error {
    let text = format!("{error:#}");
    if text.contains("dispatch failure") || text.contains("connection refused") {
        return anyhow!("{text}\nIs Sluice running? Start it with `sluice dev`, or set --endpoint / SLUICE_ENDPOINT");
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_cross_into_the_sdk_types_and_back_unchanged() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/parameterised-export.json"
        ))
        .expect("the example");
        let definition = read_definition(&text).expect("reads").definition;
        let (objects, parameters, values) = to_sdk(&definition).expect("converts");
        assert_eq!(from_sdk(&objects, &parameters, &values), definition);
    }

    #[test]
    fn function_url_endpoints_are_signed_for_lambda() {
        if std::env::var_os("SLUICE_SIGNING_NAME").is_some() {
            return;
        }
        assert_eq!(
            signing_name_for("https://abcdef.lambda-url.eu-west-1.on.aws/"),
            Some("lambda".to_owned())
        );
        assert_eq!(signing_name_for("http://127.0.0.1:8080"), None);
        assert_eq!(signing_name_for("https://datapipeline.us-east-1.amazonaws.com"), None);
    }

    /// A request to an endpoint that checks `lambda` signatures carries one: the
    /// credential scope of its Authorization header names the service.
    #[tokio::test]
    async fn requests_carry_a_signature_for_the_service_the_endpoint_checks() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a request");
            let mut reader = BufReader::new(stream.try_clone().expect("the stream"));
            let mut authorization = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    authorization = line.trim().to_owned();
                }
            }
            let mut stream = stream;
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
            );
            authorization
        });
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .credentials_provider(aws_sdk_datapipeline::config::SharedCredentialsProvider::new(
                Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
            ))
            .build();
        let client = Client::from_conf(signed_config(&config, Some(&endpoint), Some("lambda".to_owned())));
        let _ = client.poll_for_task().worker_group("remote").send().await;
        let authorization = server.join().expect("the server");
        assert!(
            authorization.contains("/eu-west-1/lambda/aws4_request"),
            "{authorization}"
        );
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration("2026-01-01T00:00:00", "2026-01-01T00:02:05"), "2m05s");
        assert_eq!(duration("2026-01-01T00:00:00", ""), "");
    }
}
