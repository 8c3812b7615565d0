//! `CopyActivity`. Between two `S3DataNode`s: AWS's fast S3 to S3 copy, object by object
//! inside S3. A `filePath` input copies one object (to the output's `filePath`, or into its
//! `directoryPath` under the same name); a `directoryPath` input copies every object below
//! it into the output's `directoryPath`, keeping the path below the prefix.
//!
//! From a SQL data node to S3: the node's query (or table) written in the output's
//! `dataFormat` (CSV when it has none) to its `filePath`, or to `<input id>.<ext>` in its
//! `directoryPath`. From S3 to a SQL data node: every input object read in the input's
//! `dataFormat` and loaded into the table in one transaction. With a `DynamoDBDataNode` on
//! either side, [`super::dynamodb_copy`] copies.

use std::path::Path;

use super::{
    ObjectFields, Storage, Task, TaskOutcome,
    dynamodb_copy::{self, OutputFile},
    storage::{Encryption, folder_prefix, relative_key, split_s3_uri},
};
use crate::data::{
    format::Format,
    table::{FieldValues, InsertMode, MergeLoad, TableNode},
};

/// The error id of a copy that could not be made.
pub const COPY_FAILED: &str = "Sluice.CopyFailed";

/// Where a data node's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum S3Location {
    File(String),
    Directory(String),
}

pub(super) fn location(task: &Task, role: &str) -> Result<(String, S3Location), String> {
    let ids = task.values(role);
    let [id] = ids.as_slice() else {
        return Err(format!(
            "CopyActivity \"{}\" needs exactly one {role}; it has {}",
            task.object_id,
            ids.len()
        ));
    };
    let node: &ObjectFields = task.referenced(id).ok_or_else(|| {
        format!(
            "CopyActivity \"{}\": its {role} \"{id}\" did not come with the task",
            task.object_id
        )
    })?;
    let type_name = node.field("type").unwrap_or("object without a type");
    if type_name != "S3DataNode" {
        return Err(format!(
            "CopyActivity \"{}\": its {role} \"{id}\" is a {type_name}; Sluice copies between S3DataNodes, SQL data nodes (SqlDataNode, MySqlDataNode, RedshiftDataNode) and DynamoDBDataNodes, one side S3 or both DynamoDB",
            task.object_id
        ));
    }
    let found = match (node.field("filePath"), node.field("directoryPath")) {
        (Some(file), _) if !file.trim().is_empty() => S3Location::File(file.trim().to_owned()),
        (_, Some(directory)) if !directory.trim().is_empty() => S3Location::Directory(directory.trim().to_owned()),
        _ => {
            return Err(format!(
                "CopyActivity \"{}\": its {role} \"{id}\" has neither filePath nor directoryPath",
                task.object_id
            ));
        }
    };
    Ok(((*id).to_owned(), found))
}

/// The last path segment of an object's key.
fn file_name(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

/// Copies and answers FINISHED, or FAILED with what went wrong and how far it got; `work`
/// holds the data of a copy to or from a database on its way.
pub async fn copy_activity<St: Storage>(storage: &St, task: &Task, work: &Path) -> TaskOutcome {
    let result = match (
        node_type(task, "input").as_deref(),
        node_type(task, "output").as_deref(),
    ) {
        (Some("DynamoDBDataNode"), _) | (_, Some("DynamoDBDataNode")) => {
            dynamodb_copy::copy_items(storage, task, work).await.map(|_| ())
        }
        (Some(input), Some("S3DataNode")) if SQL_NODES.contains(&input) => {
            export(storage, task, work).await.map(|_| ())
        }
        (Some("S3DataNode"), Some(output)) if SQL_NODES.contains(&output) => {
            import(storage, task, work).await.map(|_| ())
        }
        _ => copy(storage, task).await.map(|_| ()),
    };
    match result {
        Ok(()) => TaskOutcome::finished(),
        Err(message) => TaskOutcome::failed(super::TaskStatus::Failed, COPY_FAILED, message),
    }
}

/// The data nodes that are tables.
const SQL_NODES: &[&str] = &["SqlDataNode", "MySqlDataNode", "RedshiftDataNode"];

fn node_type(task: &Task, role: &str) -> Option<String> {
    let id = task.field(role)?;
    task.referenced(id)?.field("type").map(str::to_owned)
}

/// The node of `role` as a table, with its database (looked up by id where it names its
/// RDS instance or Redshift cluster that way).
pub(super) async fn table_node<St: Storage>(storage: &St, task: &Task, role: &str) -> Result<TableNode, String> {
    let failed = |error: String| format!("CopyActivity \"{}\": {error}", task.object_id);
    let id = task.field(role).ok_or_else(|| failed(format!("it has no {role}")))?;
    let node = task
        .referenced(id)
        .ok_or_else(|| failed(format!("its {role} \"{id}\" did not come with the task")))?;
    let values = |object: &ObjectFields, key: &str| object.values(key).into_iter().map(str::to_owned).collect();
    let database = match node
        .field("database")
        .and_then(|database_id| task.referenced(database_id))
    {
        Some(object) => Some(super::sql::resolved_database(storage, object).await.map_err(failed)?),
        None => None,
    };
    let database_fields = |key: &str| {
        database
            .as_ref()
            .map(|database| values(database, key))
            .unwrap_or_default()
    };
    let database = node
        .field("database")
        .map(|database_id| (database_id, &database_fields as &FieldValues<'_>));
    TableNode::from_fields(id, |key| values(node, key), database).map_err(|error| failed(error.to_string()))
}

/// The data format of the S3 node of `role` (CSV when it names none).
pub(super) fn format_of(task: &Task, role: &str) -> Result<Format, String> {
    let node = task.field(role).and_then(|id| task.referenced(id));
    let Some(format_id) = node.and_then(|node| node.field("dataFormat")) else {
        return Ok(Format::Csv { escape: None });
    };
    let object = task.referenced(format_id).ok_or_else(|| {
        format!(
            "CopyActivity \"{}\": its data format \"{format_id}\" did not come with the task",
            task.object_id
        )
    })?;
    Format::from_fields(format_id, |key| object.field(key).map(str::to_owned))
        .map_err(|error| format!("CopyActivity \"{}\": {error}", task.object_id))
}

/// How the S3 node of `role` is to be encrypted at rest (`s3EncryptionType`).
pub(super) fn encryption(task: &Task, role: &str) -> Result<Encryption, String> {
    let node = task.field(role).and_then(|id| task.referenced(id));
    Encryption::parse(node.and_then(|node| node.field("s3EncryptionType")))
        .map_err(|error| format!("CopyActivity \"{}\": its {role}: {error}", task.object_id))
}

/// Whether the S3 node of `role` holds gzip data (`compression: gzip`); anything else
/// than none or gzip is refused.
pub(super) fn gzipped(task: &Task, role: &str) -> Result<bool, String> {
    let node = task.field(role).and_then(|id| task.referenced(id));
    match node.and_then(|node| node.field("compression")).map(str::trim) {
        None | Some("") => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("none") => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("gzip") => Ok(true),
        Some(other) => Err(format!(
            "CopyActivity \"{}\": its {role} has compression \"{other}\"; Sluice reads and writes none and gzip",
            task.object_id
        )),
    }
}

/// SQL to S3: the rows to a file, the file to its object.
async fn export<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<usize, String> {
    let node = table_node(storage, task, "input").await?;
    let format = format_of(task, "output")?;
    let (_, output) = location(task, "output")?;
    let extension = match format {
        Format::Csv { .. } => "csv",
        Format::Tsv { .. } => "tsv",
        Format::Custom { .. } | Format::RegEx { .. } => "txt",
    };
    let suffix = if gzipped(task, "output")? { ".gz" } else { "" };
    let target = match output {
        S3Location::File(file) => file,
        S3Location::Directory(directory) => {
            format!("{}{}.{extension}{suffix}", folder_uri(&directory), node.object_id)
        }
    };
    let path = work.join(format!("export.{extension}"));
    let failed = |error: String| format!("CopyActivity \"{}\": {error}", task.object_id);
    let mut writer = OutputFile::create(&path, gzipped(task, "output")?).map_err(failed)?;
    let rows = node
        .export(&format, &mut writer)
        .await
        .map_err(|error| failed(error.to_string()))?;
    writer
        .finish()
        .map_err(|error| failed(format!("writing {}: {error}", path.display())))?;
    storage
        .upload(&path, &target, encryption(task, "output")?)
        .await
        .map_err(|error| failed(format!("{rows} rows read, but {error}")))?;
    Ok(usize::try_from(rows).unwrap_or(usize::MAX))
}

/// The input objects, downloaded into `work` and opened (gunzipped where the node says).
pub(super) async fn downloaded_inputs<St: Storage>(
    storage: &St,
    task: &Task,
    work: &Path,
    gzip: bool,
) -> Result<(Vec<Box<dyn std::io::Read + Send>>, Vec<String>), String> {
    let failed = |error: String| format!("CopyActivity \"{}\": {error}", task.object_id);
    let manifest = task
        .field("input")
        .and_then(|id| task.referenced(id))
        .and_then(|node| node.field("manifestFilePath"))
        .map(str::trim)
        .filter(|path| !path.is_empty());
    if let Some(manifest) = manifest {
        return manifest_inputs(storage, manifest, work, gzip).await.map_err(failed);
    }
    let (input_id, input) = location(task, "input")?;
    let objects = match input {
        S3Location::File(file) => vec![file],
        S3Location::Directory(directory) => {
            let mut objects = storage
                .list(&directory)
                .await
                .map_err(|error| failed(error.to_string()))?;
            objects.sort();
            if objects.is_empty() {
                return Err(failed(format!(
                    "there is nothing to load under {directory} (input \"{input_id}\")"
                )));
            }
            objects
        }
    };
    let mut inputs: Vec<Box<dyn std::io::Read + Send>> = Vec::new();
    for (index, uri) in objects.iter().enumerate() {
        let path = work.join(format!("import-{index}"));
        storage
            .download(uri, &path)
            .await
            .map_err(|error| failed(error.to_string()))?;
        inputs.push(opened(&path, gzip).map_err(failed)?);
    }
    Ok((inputs, objects))
}

/// A downloaded object opened for reading, gunzipped as it is read where `gzip`.
fn opened(path: &Path, gzip: bool) -> Result<Box<dyn std::io::Read + Send>, String> {
    let file = std::fs::File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let reader = std::io::BufReader::new(file);
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// The objects a Redshift-style manifest lists (`{"entries": [{"url": ..., "mandatory":
/// true}]}`), downloaded and opened; a missing mandatory one fails, a missing optional one
/// is skipped.
async fn manifest_inputs<St: Storage>(
    storage: &St,
    manifest: &str,
    work: &Path,
    gzip: bool,
) -> Result<(Vec<Box<dyn std::io::Read + Send>>, Vec<String>), String> {
    let path = work.join("manifest.json");
    storage
        .download(manifest, &path)
        .await
        .map_err(|error| format!("its manifest {manifest}: {error}"))?;
    let text = std::fs::read_to_string(&path).map_err(|error| format!("its manifest {manifest}: {error}"))?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| format!("its manifest {manifest} is not JSON: {error}"))?;
    let entries = parsed["entries"]
        .as_array()
        .ok_or_else(|| format!("its manifest {manifest} has no \"entries\" list"))?;
    let mut inputs: Vec<Box<dyn std::io::Read + Send>> = Vec::new();
    let mut objects = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let url = entry["url"]
            .as_str()
            .ok_or_else(|| format!("its manifest {manifest}: entry {} has no url", index + 1))?;
        let mandatory = entry["mandatory"].as_bool().unwrap_or(false);
        let local = work.join(format!("import-{index}"));
        if let Err(error) = storage.download(url, &local).await {
            if mandatory {
                return Err(format!("{url}, mandatory in its manifest {manifest}: {error}"));
            }
            continue;
        }
        inputs.push(opened(&local, gzip)?);
        objects.push(url.to_owned());
    }
    if inputs.is_empty() {
        return Err(format!("its manifest {manifest} lists nothing that exists"));
    }
    Ok((inputs, objects))
}

/// S3 to SQL: every input object, in order, loaded in one transaction.
async fn import<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<usize, String> {
    let node = table_node(storage, task, "output").await?;
    let format = format_of(task, "input")?;
    let (inputs, objects) = downloaded_inputs(storage, task, work, gzipped(task, "input")?).await?;
    let rows = node.import(&format, inputs).await.map_err(|error| {
        format!(
            "CopyActivity \"{}\": {error} (from {})",
            task.object_id,
            objects.join(", ")
        )
    })?;
    Ok(usize::try_from(rows).unwrap_or(usize::MAX))
}

/// The error id of a RedshiftCopyActivity that failed.
pub const REDSHIFT_COPY_FAILED: &str = "Sluice.RedshiftCopyFailed";

/// `RedshiftCopyActivity`: S3 into a Redshift table by `insertMode` (through a staging
/// table, with `transformSql`), or a Redshift table out to S3.
pub async fn redshift_copy_activity<St: Storage>(storage: &St, task: &Task, work: &Path) -> TaskOutcome {
    let result = match (
        node_type(task, "input").as_deref(),
        node_type(task, "output").as_deref(),
    ) {
        (Some(input), Some("S3DataNode")) if SQL_NODES.contains(&input) => export(storage, task, work).await,
        (Some("S3DataNode"), Some(output)) if SQL_NODES.contains(&output) => merge(storage, task, work).await,
        (Some("DynamoDBDataNode"), Some(output)) if SQL_NODES.contains(&output) => match insert_mode(task) {
            Ok(mode) => dynamodb_copy::table_to_redshift(storage, task, work, mode)
                .await
                .map(|rows| usize::try_from(rows).unwrap_or(usize::MAX)),
            Err(error) => Err(error),
        },
        (input, output) => Err(format!(
            "RedshiftCopyActivity \"{}\": from {} to {}: Sluice copies from an S3DataNode or a \
             DynamoDBDataNode into a RedshiftDataNode, and from a RedshiftDataNode to an S3DataNode",
            task.object_id,
            input.unwrap_or("nothing"),
            output.unwrap_or("nothing")
        )),
    };
    match result {
        Ok(_) => TaskOutcome::finished(),
        Err(message) => TaskOutcome::failed(super::TaskStatus::Failed, REDSHIFT_COPY_FAILED, message),
    }
}

/// `commandOptions` as a load reads them when the input names no `dataFormat`: GZIP,
/// CSV, DELIMITER 'c', IGNOREHEADER n (Redshift's COPY options); the default is
/// Redshift's own: `|`-separated text with backslash escapes.
fn command_options(task: &Task) -> Result<(Option<Format>, bool, u64), String> {
    let mut format = None;
    let mut gzip = false;
    let mut skip = 0;
    let mut delimiter = None;
    for option in task.values("commandOptions") {
        let words: Vec<&str> = option.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|word| word.to_ascii_uppercase()).collect();
        let value = |index: usize| {
            let index = if upper.get(index).map(String::as_str) == Some("AS") {
                index + 1
            } else {
                index
            };
            words.get(index).map(|word| word.trim_matches('\'').to_owned())
        };
        match upper.first().map(String::as_str) {
            Some("GZIP") => gzip = true,
            Some("CSV") => format = Some(Format::Csv { escape: None }),
            Some("DELIMITER") => delimiter = value(1),
            Some("IGNOREHEADER") => {
                skip = value(1).and_then(|count| count.parse().ok()).ok_or_else(|| {
                    format!(
                        "RedshiftCopyActivity \"{}\": commandOptions \"{option}\" needs a count",
                        task.object_id
                    )
                })?;
            }
            _ => {
                return Err(format!(
                    "RedshiftCopyActivity \"{}\": commandOptions \"{option}\" is not one Sluice's loader applies \
                     (GZIP, CSV, DELIMITER, IGNOREHEADER); give the input a dataFormat instead",
                    task.object_id
                ));
            }
        }
    }
    if let Some(delimiter) = delimiter {
        format = Some(match format {
            Some(Format::Csv { .. }) if delimiter == "," => Format::Csv { escape: None },
            _ => Format::Tsv {
                separator: delimiter,
                record: "\n".to_owned(),
            },
        });
    }
    Ok((format, gzip, skip))
}

/// The activity's `insertMode`, which it must have.
fn insert_mode(task: &Task) -> Result<InsertMode, String> {
    let failed = |error: String| format!("RedshiftCopyActivity \"{}\": {error}", task.object_id);
    task.field("insertMode")
        .ok_or_else(|| {
            failed("it has no insertMode (KEEP_EXISTING, OVERWRITE_EXISTING, TRUNCATE or APPEND)".to_owned())
        })
        .and_then(|mode| {
            InsertMode::parse(mode).ok_or_else(|| {
                failed(format!(
                    "insertMode \"{mode}\" is not KEEP_EXISTING, OVERWRITE_EXISTING, TRUNCATE or APPEND"
                ))
            })
        })
}

async fn merge<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<usize, String> {
    let failed = |error: String| format!("RedshiftCopyActivity \"{}\": {error}", task.object_id);
    let mode = insert_mode(task)?;
    let node = table_node(storage, task, "output").await?;
    let has_format = task
        .field("input")
        .and_then(|id| task.referenced(id))
        .and_then(|node| node.field("dataFormat"))
        .is_some();
    // AWS: commandOptions are ignored when the input has a dataFormat.
    let (format, gzip, skip) = if has_format {
        (format_of(task, "input")?, gzipped(task, "input")?, 0)
    } else {
        let (format, gzip, skip) = command_options(task)?;
        let format = format.unwrap_or(Format::Tsv {
            separator: "|".to_owned(),
            record: "\n".to_owned(),
        });
        (format, gzip || gzipped(task, "input")?, skip)
    };
    let (inputs, objects) = downloaded_inputs(storage, task, work, gzip).await?;
    let load = MergeLoad {
        mode,
        transform: task.field("transformSql").map(str::to_owned),
        skip_records: skip,
    };
    let rows = node
        .merge(&format, inputs, &load)
        .await
        .map_err(|error| failed(format!("{error} (from {})", objects.join(", "))))?;
    Ok(usize::try_from(rows).unwrap_or(usize::MAX))
}

/// The copies made: (from, to) pairs, all done before it answers.
async fn copy<St: Storage>(storage: &St, task: &Task) -> Result<usize, String> {
    let (input_id, input) = location(task, "input")?;
    let (_, output) = location(task, "output")?;
    let pairs: Vec<(String, String)> = match (&input, &output) {
        (S3Location::File(from), S3Location::File(to)) => vec![(from.clone(), to.clone())],
        (S3Location::File(from), S3Location::Directory(to)) => {
            vec![(from.clone(), format!("{}{}", folder_uri(to), file_name(from)))]
        }
        (S3Location::Directory(from), S3Location::Directory(to)) => {
            let objects = storage.list(from).await.map_err(|error| error.to_string())?;
            let prefix = folder_prefix(split_s3_uri(from).map_err(|error| error.to_string())?.1);
            let target = folder_uri(to);
            objects
                .iter()
                .filter_map(|uri| {
                    let key = split_s3_uri(uri).ok()?.1;
                    relative_key(&prefix, key).map(|relative| (uri.clone(), format!("{target}{relative}")))
                })
                .collect()
        }
        (S3Location::Directory(from), S3Location::File(_)) => {
            return Err(format!(
                "CopyActivity \"{}\": a directoryPath input ({from}) cannot be copied onto a filePath output; give \
                 the output a directoryPath",
                task.object_id
            ));
        }
    };
    if pairs.is_empty() {
        let S3Location::Directory(from) = &input else {
            return Ok(0);
        };
        return Err(format!(
            "CopyActivity \"{}\": there is nothing to copy under {from} (input \"{input_id}\")",
            task.object_id
        ));
    }
    let encryption = encryption(task, "output")?;
    for (done, (from, to)) in pairs.iter().enumerate() {
        storage.copy(from, to, encryption).await.map_err(|error| {
            format!(
                "CopyActivity \"{}\": {error} (copied {done} of {} objects)",
                task.object_id,
                pairs.len()
            )
        })?;
    }
    Ok(pairs.len())
}

/// A directory URI ending in `/`.
pub(super) fn folder_uri(uri: &str) -> String {
    if uri.ends_with('/') {
        uri.to_owned()
    } else {
        format!("{uri}/")
    }
}
