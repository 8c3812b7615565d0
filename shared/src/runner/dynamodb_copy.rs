//! Copies in and out of `DynamoDBDataNode`s: what AWS ran as its DynamoDB export and import
//! templates (and CopyActivity users wished CopyActivity did), as one streaming copy.
//!
//! - **DynamoDB to S3**: a Scan, page by page, each item written to a local file as it
//!   comes (the export format, or the columns of the output's CSV/TSV/Custom format), the
//!   file uploaded to the output's `filePath` or to `<input id>.json` (`.csv`...) in its
//!   `directoryPath`.
//! - **S3 to DynamoDB**: every input object is read and checked first, into a local spool
//!   of items; only when all of them are items does writing begin, 25 to a BatchWriteItem,
//!   what DynamoDB throttled sent again. A malformed line fails the copy with nothing
//!   written.
//! - **DynamoDB to DynamoDB**: pages of the Scan written as they come.
//! - **DynamoDB into Redshift** (`RedshiftCopyActivity`): attributes matched to the table's
//!   columns by name, ignoring case (as Redshift's `COPY FROM 'dynamodb://...'` does), then
//!   loaded through the staging table by `insertMode`.
//!
//! Reads stay within `readThroughputPercent` of the source's provisioned read capacity and
//! writes within `writeThroughputPercent` of the target's (on-demand tables are paced only
//! by DynamoDB's own throttling, which the SDK retries).

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::Path,
    time::Duration,
};

use super::{
    Storage, Task,
    copy::{S3Location, downloaded_inputs, encryption, folder_uri, format_of, gzipped, location, table_node},
    storage::StorageError,
};
use crate::{
    cloud::probe::TableRef,
    data::{
        format::{Format, Record},
        items::{
            Column, ColumnKind, Item, Throughput, export_line, item_record, parse_columns, parse_export_line,
            record_item, throughput_percent, write_units,
        },
        table::{InsertMode, MergeLoad},
    },
};

/// The most items one BatchWriteItem takes.
const BATCH: usize = 25;
/// How many times in a row DynamoDB may leave a batch wholly unwritten before the copy
/// gives up saying so.
const MAX_STALLED_WRITES: u32 = 12;

/// What a copy moved, and how long it waited to stay within its throughput share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moved {
    pub items: u64,
    pub waited: Duration,
}

/// A `DynamoDBDataNode` as a copy uses it.
#[derive(Debug, Clone, PartialEq)]
struct TableNode {
    id: String,
    table: TableRef,
    read_percent: f64,
    write_percent: f64,
}

/// Whether the node of `role` is a DynamoDB table.
pub(super) fn is_dynamodb(task: &Task, role: &str) -> bool {
    task.field(role)
        .and_then(|id| task.referenced(id))
        .and_then(|node| node.field("type"))
        == Some("DynamoDBDataNode")
}

fn dynamodb_node(task: &Task, role: &str) -> Result<TableNode, String> {
    let failed = |problem: String| format!("{} \"{}\": {problem}", activity(task), task.object_id);
    let id = task.field(role).ok_or_else(|| failed(format!("it has no {role}")))?;
    let node = task
        .referenced(id)
        .ok_or_else(|| failed(format!("its {role} \"{id}\" did not come with the task")))?;
    let name = node
        .field("tableName")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| failed(format!("its {role} \"{id}\" has no tableName")))?;
    let region = node.field("region").map(str::trim).filter(|region| !region.is_empty());
    let table = TableRef::new(name, region).map_err(|problem| failed(format!("its {role} \"{id}\": {problem}")))?;
    let percent =
        |field: &str| throughput_percent(id, field, node.field(field)).map_err(|error| failed(error.to_string()));
    Ok(TableNode {
        id: id.to_owned(),
        table,
        read_percent: percent("readThroughputPercent")?,
        write_percent: percent("writeThroughputPercent")?,
    })
}

fn activity(task: &Task) -> &str {
    task.field("type").unwrap_or("CopyActivity")
}

/// How items are laid out in the S3 node of `role`.
#[derive(Debug, Clone, PartialEq)]
enum Layout {
    /// One item per line, Data Pipeline's export format.
    Export,
    /// The node's format, with its columns as attributes.
    Columns { format: Format, columns: Vec<Column> },
}

fn layout(task: &Task, role: &str) -> Result<Layout, String> {
    let node = task.field(role).and_then(|id| task.referenced(id));
    let Some(format_id) = node.and_then(|node| node.field("dataFormat")) else {
        return Ok(Layout::Export);
    };
    let failed = |problem: String| format!("{} \"{}\": {problem}", activity(task), task.object_id);
    let object = task
        .referenced(format_id)
        .ok_or_else(|| failed(format!("its data format \"{format_id}\" did not come with the task")))?;
    if matches!(
        object.field("type"),
        Some("DynamoDBExportDataFormat" | "DynamoDBDataFormat")
    ) {
        return Ok(Layout::Export);
    }
    let format = format_of(task, role)?;
    let columns = parse_columns(format_id, &object.values("column")).map_err(|error| failed(error.to_string()))?;
    if columns.is_empty() {
        return Err(failed(format!(
            "data format \"{format_id}\" names no columns, and DynamoDB items need attribute names: add column \
             values such as \"id BIGINT\", or use a DynamoDBExportDataFormat"
        )));
    }
    Ok(Layout::Columns { format, columns })
}

/// Keeps a copy's consumed capacity within its share, waiting where it must.
struct Pace {
    budget: Option<Throughput>,
    started: tokio::time::Instant,
    waited: Duration,
}

impl Pace {
    fn new(budget: Option<Throughput>) -> Self {
        Self {
            budget,
            started: tokio::time::Instant::now(),
            waited: Duration::ZERO,
        }
    }

    /// Items to ask for in one Scan page: about two seconds of the share at half a unit
    /// an item, so pages come evenly rather than in bursts.
    fn page_size(&self) -> i32 {
        self.budget
            .as_ref()
            .map_or(1000, |budget| (budget.per_second() * 4.0).clamp(10.0, 1000.0) as i32)
    }

    async fn charge(&mut self, units: f64) {
        let Some(budget) = &mut self.budget else { return };
        let wait = budget.charge(units, self.started.elapsed());
        if !wait.is_zero() {
            self.waited += wait;
            tokio::time::sleep(wait).await;
        }
    }
}

/// The least read units a page costs: half a unit per 4 KB, eventually consistent.
fn read_units(items: &[Item]) -> f64 {
    let bytes: f64 = items.iter().map(|item| write_units(item) * 1024.0).sum();
    (bytes / 4096.0 * 0.5).max(0.5)
}

/// A file written plainly or gzipped.
pub(super) enum OutputFile {
    Plain(std::io::BufWriter<std::fs::File>),
    Gzip(flate2::write::GzEncoder<std::io::BufWriter<std::fs::File>>),
}

impl OutputFile {
    pub(super) fn create(path: &Path, gzip: bool) -> Result<Self, String> {
        let file = std::fs::File::create(path).map_err(|error| format!("{}: {error}", path.display()))?;
        let writer = std::io::BufWriter::new(file);
        Ok(if gzip {
            Self::Gzip(flate2::write::GzEncoder::new(writer, flate2::Compression::default()))
        } else {
            Self::Plain(writer)
        })
    }

    pub(super) fn finish(self) -> std::io::Result<()> {
        match self {
            Self::Plain(mut writer) => writer.flush(),
            Self::Gzip(encoder) => encoder.finish()?.flush(),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(writer) => writer.write(buf),
            Self::Gzip(writer) => writer.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(writer) => writer.flush(),
            Self::Gzip(writer) => writer.flush(),
        }
    }
}

/// CopyActivity with a DynamoDB node on either side.
pub async fn copy_items<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<Moved, String> {
    match (is_dynamodb(task, "input"), is_dynamodb(task, "output")) {
        (true, true) => table_to_table(storage, task).await,
        (true, false) => table_to_s3(storage, task, work).await,
        (false, true) => s3_to_table(storage, task, work).await,
        (false, false) => Err(format!(
            "CopyActivity \"{}\" has no DynamoDBDataNode to copy",
            task.object_id
        )),
    }
}

/// Scans `source` page by page, handing each page to `each`; returns the items read.
async fn scan<St: Storage>(
    storage: &St,
    source: &TableNode,
    pace: &mut Pace,
    mut each: impl AsyncPageSink,
) -> Result<u64, String> {
    let mut start = None;
    let mut items = 0u64;
    loop {
        let page = storage
            .scan_table(&source.table, start.take(), pace.page_size())
            .await
            .map_err(|error| format!("{error} (after {items} items)"))?;
        let units = page.consumed.unwrap_or(0.0).max(read_units(&page.items));
        items += page.items.len() as u64;
        each.take(page.items).await?;
        pace.charge(units).await;
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(items),
        }
    }
}

/// Where a Scan's pages go.
trait AsyncPageSink {
    fn take(&mut self, items: Vec<Item>) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Pages written to a file, each item a line or a record.
struct FileSink<'l> {
    out: OutputFile,
    layout: &'l Layout,
    written: u64,
    buffer: Vec<u8>,
}

impl AsyncPageSink for &mut FileSink<'_> {
    async fn take(&mut self, items: Vec<Item>) -> Result<(), String> {
        for item in items {
            self.written += 1;
            self.buffer.clear();
            match self.layout {
                Layout::Export => {
                    self.buffer.extend_from_slice(export_line(&item).as_bytes());
                    self.buffer.push(b'\n');
                }
                Layout::Columns { format, columns } => format
                    .write(&item_record(&item, columns), self.written, &mut self.buffer)
                    .map_err(|error| error.to_string())?,
            }
            self.out
                .write_all(&self.buffer)
                .map_err(|error| format!("writing item {}: {error}", self.written))?;
        }
        Ok(())
    }
}

async fn table_to_s3<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<Moved, String> {
    let failed = |error: String| format!("CopyActivity \"{}\": {error}", task.object_id);
    let source = dynamodb_node(task, "input")?;
    let layout = layout(task, "output")?;
    let gzip = gzipped(task, "output")?;
    let (_, output) = location(task, "output")?;
    let extension = match &layout {
        Layout::Export => "json",
        Layout::Columns {
            format: Format::Csv { .. },
            ..
        } => "csv",
        Layout::Columns {
            format: Format::Tsv { .. },
            ..
        } => "tsv",
        Layout::Columns { .. } => "txt",
    };
    let target = match output {
        S3Location::File(file) => file,
        S3Location::Directory(directory) => format!(
            "{}{}.{extension}{}",
            folder_uri(&directory),
            source.id,
            if gzip { ".gz" } else { "" }
        ),
    };
    let capacity = storage
        .table_capacity(&source.table)
        .await
        .map_err(|error| failed(error.to_string()))?;
    let mut pace = Pace::new(Throughput::new(capacity.read, source.read_percent));
    let path = work.join(format!("export.{extension}"));
    let mut sink = FileSink {
        out: OutputFile::create(&path, gzip).map_err(failed)?,
        layout: &layout,
        written: 0,
        buffer: Vec::new(),
    };
    let items = scan(storage, &source, &mut pace, &mut sink).await.map_err(failed)?;
    sink.out
        .finish()
        .map_err(|error| failed(format!("writing {}: {error}", path.display())))?;
    storage
        .upload(&path, &target, encryption(task, "output")?)
        .await
        .map_err(|error| failed(format!("{items} items read, but {error}")))?;
    Ok(Moved {
        items,
        waited: pace.waited,
    })
}

/// Items written to a table in batches of 25, within the write share.
struct TableSink<'s, St> {
    storage: &'s St,
    target: &'s TableNode,
    pace: Pace,
    written: u64,
}

impl<St: Storage> TableSink<'_, St> {
    async fn write(&mut self, items: Vec<Item>) -> Result<(), String> {
        let mut pending = items;
        let mut stalled = 0u32;
        while !pending.is_empty() {
            let rest = pending.split_off(pending.len().min(BATCH));
            let batch = std::mem::replace(&mut pending, rest);
            let sent = batch.len();
            let estimate: f64 = batch.iter().map(write_units).sum();
            let written = self
                .storage
                .write_items(&self.target.table, batch)
                .await
                .map_err(|error| self.stopped(&error))?;
            let unwritten = written.unprocessed.len();
            self.written += (sent - unwritten.min(sent)) as u64;
            // Every item written costs at least a unit per KB, whatever an emulator reports.
            self.pace.charge(written.consumed.unwrap_or(0.0).max(estimate)).await;
            if unwritten > 0 {
                stalled = if unwritten == sent { stalled + 1 } else { 0 };
                if stalled > MAX_STALLED_WRITES {
                    return Err(format!(
                        "DynamoDB table {} kept refusing writes (throttled {MAX_STALLED_WRITES} times in a row); \
                         {} items were written before it stopped",
                        self.target.table.name, self.written
                    ));
                }
                // Throttled: back off (doubling, to 5 s) before sending them again.
                let backoff = Duration::from_millis(50u64 << stalled.min(7)).min(Duration::from_secs(5));
                self.pace.waited += backoff;
                tokio::time::sleep(backoff).await;
                pending.splice(0..0, written.unprocessed);
            }
        }
        Ok(())
    }

    fn stopped(&self, error: &StorageError) -> String {
        format!("{error} ({} items were written before it)", self.written)
    }
}

impl<St: Storage> AsyncPageSink for &mut TableSink<'_, St> {
    async fn take(&mut self, items: Vec<Item>) -> Result<(), String> {
        self.write(items).await
    }
}

async fn table_to_table<St: Storage>(storage: &St, task: &Task) -> Result<Moved, String> {
    let failed = |error: String| format!("CopyActivity \"{}\": {error}", task.object_id);
    let source = dynamodb_node(task, "input")?;
    let target = dynamodb_node(task, "output")?;
    let read = storage
        .table_capacity(&source.table)
        .await
        .map_err(|error| failed(error.to_string()))?;
    let write = storage
        .table_capacity(&target.table)
        .await
        .map_err(|error| failed(error.to_string()))?;
    let mut pace = Pace::new(Throughput::new(read.read, source.read_percent));
    let mut sink = TableSink {
        storage,
        target: &target,
        pace: Pace::new(Throughput::new(write.write, target.write_percent)),
        written: 0,
    };
    scan(storage, &source, &mut pace, &mut sink).await.map_err(failed)?;
    Ok(Moved {
        items: sink.written,
        waited: pace.waited + sink.pace.waited,
    })
}

/// Reads every input into `spool` as export lines, checking each; answers how many items.
fn spool_items(
    inputs: Vec<Box<dyn Read + Send>>,
    objects: &[String],
    layout: &Layout,
    spool: &mut impl Write,
) -> Result<u64, String> {
    let mut total = 0u64;
    for (input, object) in inputs.into_iter().zip(objects) {
        let in_object = |error: String| format!("{error} in {object}");
        match layout {
            Layout::Export => {
                let mut number = 0u64;
                for line in BufReader::new(input).lines() {
                    let line = line.map_err(|error| in_object(format!("reading: {error}")))?;
                    number += 1;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let item = parse_export_line(&line, number).map_err(|error| in_object(error.to_string()))?;
                    writeln!(spool, "{}", export_line(&item)).map_err(|error| format!("spooling items: {error}"))?;
                    total += 1;
                }
            }
            Layout::Columns { format, columns } => {
                let mut parser = format.parser();
                let mut records: Vec<Record> = Vec::new();
                let mut number = 0u64;
                let mut reader = BufReader::with_capacity(1 << 16, input);
                let mut spooled = |records: &mut Vec<Record>, number: &mut u64| -> Result<(), String> {
                    for record in records.drain(..) {
                        *number += 1;
                        let item =
                            record_item(&record, columns, *number).map_err(|error| in_object(error.to_string()))?;
                        writeln!(spool, "{}", export_line(&item))
                            .map_err(|error| format!("spooling items: {error}"))?;
                    }
                    Ok(())
                };
                loop {
                    let chunk = reader
                        .fill_buf()
                        .map_err(|error| in_object(format!("reading: {error}")))?;
                    if chunk.is_empty() {
                        break;
                    }
                    let length = chunk.len();
                    parser
                        .feed(chunk, &mut records)
                        .map_err(|error| in_object(error.to_string()))?;
                    reader.consume(length);
                    spooled(&mut records, &mut number)?;
                }
                parser
                    .finish(&mut records)
                    .map_err(|error| in_object(error.to_string()))?;
                spooled(&mut records, &mut number)?;
                total += number;
            }
        }
    }
    Ok(total)
}

async fn s3_to_table<St: Storage>(storage: &St, task: &Task, work: &Path) -> Result<Moved, String> {
    let failed = |error: String| format!("CopyActivity \"{}\": {error}", task.object_id);
    let target = dynamodb_node(task, "output")?;
    let layout = layout(task, "input")?;
    let (inputs, objects) = downloaded_inputs(storage, task, work, gzipped(task, "input")?).await?;
    let capacity = storage
        .table_capacity(&target.table)
        .await
        .map_err(|error| failed(error.to_string()))?;
    // Every item is read and checked before the first is written: bad data writes nothing.
    let spool_path = work.join("items.json");
    let mut spool = OutputFile::create(&spool_path, false).map_err(failed)?;
    let total = spool_items(inputs, &objects, &layout, &mut spool)
        .map_err(|error| failed(format!("{error}; nothing was written")))?;
    spool
        .finish()
        .map_err(|error| failed(format!("spooling items: {error}")))?;
    let mut sink = TableSink {
        storage,
        target: &target,
        pace: Pace::new(Throughput::new(capacity.write, target.write_percent)),
        written: 0,
    };
    let spooled =
        std::fs::File::open(&spool_path).map_err(|error| failed(format!("{}: {error}", spool_path.display())))?;
    let mut batch = Vec::with_capacity(BATCH);
    for (index, line) in BufReader::new(spooled).lines().enumerate() {
        let line = line.map_err(|error| failed(format!("reading the spool: {error}")))?;
        batch.push(parse_export_line(&line, index as u64 + 1).map_err(|error| failed(error.to_string()))?);
        if batch.len() == BATCH {
            sink.write(std::mem::take(&mut batch))
                .await
                .map_err(|error| failed(format!("{error}, of {total}")))?;
        }
    }
    sink.write(batch)
        .await
        .map_err(|error| failed(format!("{error}, of {total}")))?;
    Ok(Moved {
        items: sink.written,
        waited: sink.pace.waited,
    })
}

/// RedshiftCopyActivity from a DynamoDB table: the items as rows of the table's columns,
/// through the staging table by `insertMode`.
pub(super) async fn table_to_redshift<St: Storage>(
    storage: &St,
    task: &Task,
    work: &Path,
    mode: InsertMode,
) -> Result<u64, String> {
    let failed = |error: String| format!("RedshiftCopyActivity \"{}\": {error}", task.object_id);
    let source = dynamodb_node(task, "input")?;
    let node = table_node(storage, task, "output").await?;
    let table_columns = node.columns().await.map_err(|error| failed(error.to_string()))?;
    // READRATIO in commandOptions is Redshift's own way to say the read share.
    let read_ratio = task.values("commandOptions").iter().find_map(|option| {
        let mut words = option.split_whitespace();
        words
            .next()
            .filter(|word| word.eq_ignore_ascii_case("READRATIO"))
            .and_then(|_| words.next())
            .and_then(|ratio| ratio.parse::<f64>().ok())
    });
    let percent = read_ratio.map_or(source.read_percent, |ratio| (ratio / 100.0).clamp(0.01, 1.0));
    let capacity = storage
        .table_capacity(&source.table)
        .await
        .map_err(|error| failed(error.to_string()))?;
    let mut pace = Pace::new(Throughput::new(capacity.read, percent));
    // Each table column takes the attribute of the same name, whatever its case.
    let layout = Layout::Columns {
        format: Format::Tsv {
            separator: "\t".to_owned(),
            record: "\n".to_owned(),
        },
        columns: table_columns
            .iter()
            .map(|name| Column {
                name: name.clone(),
                kind: ColumnKind::String,
            })
            .collect(),
    };
    let path = work.join("items.tsv");
    let mut sink = FileSink {
        out: OutputFile::create(&path, false).map_err(failed)?,
        layout: &layout,
        written: 0,
        buffer: Vec::new(),
    };
    let mut renamed = RenamedSink {
        inner: &mut sink,
        columns: &table_columns,
    };
    scan(storage, &source, &mut pace, &mut renamed).await.map_err(failed)?;
    sink.out
        .finish()
        .map_err(|error| failed(format!("writing {}: {error}", path.display())))?;
    let Layout::Columns { format, .. } = &layout else {
        return Err(failed("no columns to load".to_owned()));
    };
    let input: Box<dyn Read + Send> = Box::new(BufReader::new(
        std::fs::File::open(&path).map_err(|error| failed(format!("{}: {error}", path.display())))?,
    ));
    let load = MergeLoad {
        mode,
        transform: task.field("transformSql").map(str::to_owned),
        skip_records: 0,
    };
    node.merge(format, vec![input], &load)
        .await
        .map_err(|error| failed(format!("{error} (from DynamoDB table {})", source.table.name)))
}

/// Attribute names renamed to the table column they match ignoring case.
struct RenamedSink<'s, 'l> {
    inner: &'s mut FileSink<'l>,
    columns: &'s [String],
}

impl AsyncPageSink for &mut RenamedSink<'_, '_> {
    async fn take(&mut self, items: Vec<Item>) -> Result<(), String> {
        let renamed = items
            .into_iter()
            .map(|item| {
                item.into_iter()
                    .map(|(name, value)| {
                        let column = self
                            .columns
                            .iter()
                            .find(|column| column.eq_ignore_ascii_case(&name))
                            .cloned()
                            .unwrap_or(name);
                        (column, value)
                    })
                    .collect()
            })
            .collect();
        (&mut *self.inner).take(renamed).await
    }
}
