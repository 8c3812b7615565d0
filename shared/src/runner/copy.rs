//! `CopyActivity` between two `S3DataNode`s: AWS's fast S3 to S3 copy, object by object
//! inside S3. A `filePath` input copies one object (to the output's `filePath`, or into its
//! `directoryPath` under the same name); a `directoryPath` input copies every object below
//! it into the output's `directoryPath`, keeping the path below the prefix.
//!
//! Record-by-record copies (SQL data nodes, format changes) belong to the data issue;
//! anything other than S3 to S3 fails with an error that says so.

use super::{
    ObjectFields, Storage, Task, TaskOutcome,
    storage::{folder_prefix, relative_key, split_s3_uri},
};

/// The error id of a copy that could not be made.
pub const COPY_FAILED: &str = "Sluice.CopyFailed";

/// Where a data node's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum S3Location {
    File(String),
    Directory(String),
}

fn location(task: &Task, role: &str) -> Result<(String, S3Location), String> {
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
            "CopyActivity \"{}\": its {role} \"{id}\" is a {type_name}; Sluice copies between S3DataNodes so far",
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

/// Copies and answers FINISHED, or FAILED with what went wrong and how far it got.
pub async fn copy_activity<St: Storage>(storage: &St, task: &Task) -> TaskOutcome {
    match copy(storage, task).await {
        Ok(_) => TaskOutcome::finished(),
        Err(message) => TaskOutcome::failed(super::TaskStatus::Failed, COPY_FAILED, message),
    }
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
    for (done, (from, to)) in pairs.iter().enumerate() {
        storage.copy(from, to).await.map_err(|error| {
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
fn folder_uri(uri: &str) -> String {
    if uri.ends_with('/') {
        uri.to_owned()
    } else {
        format!("{uri}/")
    }
}
