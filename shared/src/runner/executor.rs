//! Runs one `ShellCommandActivity` or `ShellCommandPrecondition` task as a local process
//! (and hands `CopyActivity` to [`super::copy`]):
//! `command` with `bash -c` (`sh -c` without bash), `scriptArgument` values as `$1`, `$2`…,
//! or a `scriptUri` downloaded from S3; staging of S3 data nodes with `stage: true`;
//! stdout and stderr captured to files and uploaded where AWS puts them.
//!
//! A command's text and its arguments travel in environment variables, never on the
//! shell's command line, which every user of the machine can read (`ps`,
//! `/proc/<pid>/cmdline`); the environment only the runner's user can. Secret values are
//! masked ([`super::redact`]) in the outcome, its stderr tail and the logs before they
//! leave the runner.
//!
//! Exit 0 is FINISHED (a precondition: true); anything else FAILED (a precondition: FALSE)
//! with the exit status and the last lines of stderr as the error message. A stop (the
//! task canceled, or the runner shutting down) ends the process group with SIGTERM, then
//! SIGKILL after a grace period.

use std::{
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncSeekExt},
    process::{Child, Command},
    sync::watch,
};

use super::{
    Encryption, Storage, Task, TaskKind, TaskOutcome, TaskStatus,
    logs::{LogTargets, log_targets},
    redact::Secrets,
};

/// The error id of a command that exited with a non-zero status or was killed.
pub const COMMAND_FAILED: &str = "Sluice.CommandFailed";
/// The error id of a task that could not be started (definition, script, staging in).
pub const SETUP_FAILED: &str = "Sluice.SetupFailed";
/// The error id of a command that succeeded but whose staged output could not be uploaded.
pub const STAGING_FAILED: &str = "Sluice.StagingFailed";

/// The variable that carries a command's text (or a script's path) to the shell.
pub const COMMAND_VARIABLE: &str = "SLUICE_COMMAND";
/// `SLUICE_ARG_1`, `SLUICE_ARG_2`...: the `scriptArgument`s, on their way to `$1`, `$2`...
pub const ARGUMENT_VARIABLE: &str = "SLUICE_ARG_";

/// Why a running task was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// ReportTaskProgress said the task was canceled: stop and report nothing.
    Canceled,
    /// The runner is shutting down: stop and hand the task back.
    Shutdown,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It ran to the end (or could not start): report this.
    Outcome(TaskOutcome),
    /// It was stopped before its end.
    Stopped(Stop),
}

/// How a task ended, and what went wrong on the side (a log that could not be uploaded)
/// without changing its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub ended: Ended,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Where each task gets its own working folder (removed at its end).
    pub work_root: PathBuf,
    /// Between SIGTERM and SIGKILL when a task is stopped.
    pub grace: Duration,
    /// How many lines of stderr end up in a failure's error message.
    pub stderr_tail_lines: usize,
    /// The shell for `command`; `None` picks `/bin/bash`, else `/bin/sh`.
    pub shell: Option<PathBuf>,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            work_root: std::env::temp_dir(),
            grace: Duration::from_secs(10),
            stderr_tail_lines: 20,
            shell: None,
        }
    }
}

/// Runs tasks with its storage for scripts, staging and logs.
#[derive(Debug)]
pub struct Executor<'s, St> {
    storage: &'s St,
    settings: ExecutorSettings,
}

/// A staged output folder and where its files go after success.
struct StagedOutput {
    dir: PathBuf,
    uri: String,
    encryption: Encryption,
}

/// What to start, once the task's files are in place.
struct Prepared {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    outputs: Vec<StagedOutput>,
}

impl<'s, St: Storage> Executor<'s, St> {
    pub fn new(storage: &'s St, settings: ExecutorSettings) -> Self {
        Self { storage, settings }
    }

    pub fn settings(&self) -> &ExecutorSettings {
        &self.settings
    }

    /// Runs `task` to its end, or until `stop` says otherwise. The outcome and warnings
    /// come back with the task's secret values masked.
    pub async fn execute(&self, task: &Task, mut stop: watch::Receiver<Option<Stop>>) -> Execution {
        let secrets = Secrets::of_task(task);
        let mut warnings = Vec::new();
        let ended = match WorkDir::create(&self.settings.work_root, &task.task_id) {
            Ok(work) if task.type_name == "CopyActivity" => {
                Ended::Outcome(super::copy::copy_activity(self.storage, task, work.path()).await)
            }
            Ok(work) if task.type_name == "RedshiftCopyActivity" => {
                Ended::Outcome(super::copy::redshift_copy_activity(self.storage, task, work.path()).await)
            }
            Ok(work) if task.type_name == "SqlActivity" => {
                Ended::Outcome(super::sql::sql_activity(self.storage, task, work.path()).await)
            }
            Ok(work) => self.execute_in(task, &work, &secrets, &mut stop, &mut warnings).await,
            Err(message) => Ended::Outcome(failure(task, SETUP_FAILED, message)),
        };
        Execution {
            ended: match ended {
                Ended::Outcome(outcome) => Ended::Outcome(secrets.redact_outcome(outcome)),
                stopped => stopped,
            },
            warnings: warnings.iter().map(|warning| secrets.redact(warning)).collect(),
        }
    }

    async fn execute_in(
        &self,
        task: &Task,
        work: &WorkDir,
        secrets: &Secrets,
        stop: &mut watch::Receiver<Option<Stop>>,
        warnings: &mut Vec<String>,
    ) -> Ended {
        let prepared = match self.prepare(task, work.path(), secrets).await {
            Ok(prepared) => prepared,
            Err(message) => return Ended::Outcome(failure(task, SETUP_FAILED, message)),
        };
        if let Some(reason) = *stop.borrow_and_update() {
            return Ended::Stopped(reason);
        }
        let stdout_path = work.path().join("stdout");
        let stderr_path = work.path().join("stderr");
        let mut child = match spawn(&prepared, work.path(), &stdout_path, &stderr_path) {
            Ok(child) => child,
            Err(message) => return Ended::Outcome(failure(task, SETUP_FAILED, message)),
        };
        let waited = tokio::select! {
            status = child.wait() => Ok(status),
            reason = stopped(stop) => Err(reason),
        };
        let status = match waited {
            Ok(status) => status,
            Err(reason) => {
                self.kill(&mut child).await;
                self.upload_logs(&log_targets(task), work.path(), secrets, warnings)
                    .await;
                return Ended::Stopped(reason);
            }
        };
        self.upload_logs(&log_targets(task), work.path(), secrets, warnings)
            .await;
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                return Ended::Outcome(failure(
                    task,
                    COMMAND_FAILED,
                    format!("could not wait for the command: {error}"),
                ));
            }
        };
        if !status.success() {
            let tail = stderr_tail(&stderr_path, self.settings.stderr_tail_lines, secrets.longest()).await;
            return Ended::Outcome(failure(task, COMMAND_FAILED, exit_message(status, &tail)));
        }
        for output in &prepared.outputs {
            if let Err(message) = self.upload_dir(&output.dir, &output.uri, output.encryption).await {
                return Ended::Outcome(failure(
                    task,
                    STAGING_FAILED,
                    format!("the command succeeded but its staged output could not be uploaded: {message}"),
                ));
            }
        }
        Ended::Outcome(TaskOutcome::finished())
    }

    /// The program, its arguments and environment, with script and staged inputs in place.
    async fn prepare(&self, task: &Task, work: &Path, secrets: &Secrets) -> Result<Prepared, String> {
        let supported = matches!(
            task.type_name.as_str(),
            "ShellCommandActivity" | "ShellCommandPrecondition"
        );
        if !supported {
            return Err(format!(
                "object \"{}\" is a {}; sluice runner runs ShellCommandActivity, ShellCommandPrecondition and \
                 CopyActivity between S3DataNodes",
                task.object_id,
                if task.type_name.is_empty() {
                    "object without a type"
                } else {
                    &task.type_name
                }
            ));
        }
        let arguments: Vec<String> = task.values("scriptArgument").into_iter().map(str::to_owned).collect();
        let shell = self.shell();
        let (program, args, mut env) = match (task.field("command"), task.field("scriptUri")) {
            (Some(command), _) => {
                let (args, env) = through_environment(command, "eval", &task.object_id, &arguments);
                (shell, args, env)
            }
            (None, Some(uri)) => {
                let script = work.join("script");
                self.storage
                    .download(uri, &script)
                    .await
                    .map_err(|error| format!("object \"{}\", field \"scriptUri\": {error}", task.object_id))?;
                make_executable(&script)?;
                // AWS passes no arguments to a scriptUri; passing scriptArgument anyway
                // changes nothing for a definition AWS accepted.
                if starts_with_shebang(&script).await {
                    // Its interpreter takes the arguments on its command line: no secret
                    // may be among them.
                    if let Some(n) = arguments.iter().position(|argument| secrets.found_in(argument)) {
                        return Err(format!(
                            "object \"{}\": scriptArgument {} holds a secret value, and a script that starts with \
                             #! takes its arguments on its command line, which every user of the machine can read \
                             (ps, /proc/<pid>/cmdline): remove the #! line so that Sluice runs the script with the \
                             shell, which gets its arguments from the environment, or have the script read the \
                             secret itself",
                            task.object_id,
                            n + 1
                        ));
                    }
                    (script, arguments, Vec::new())
                } else {
                    let path = script.display().to_string();
                    let (args, env) = through_environment(&path, ".", &path, &arguments);
                    (shell, args, env)
                }
            }
            (None, None) => {
                return Err(format!(
                    "object \"{}\" has neither \"command\" nor \"scriptUri\": give it one of them",
                    task.object_id
                ));
            }
        };
        let mut outputs = Vec::new();
        if task.kind == TaskKind::Activity && task.field("stage") == Some("true") {
            self.stage_inputs(task, work, &mut env).await?;
            outputs = stage_outputs(task, work, &mut env)?;
        }
        Ok(Prepared {
            program,
            args,
            env,
            outputs,
        })
    }

    fn shell(&self) -> PathBuf {
        self.settings.shell.clone().unwrap_or_else(|| {
            let bash = PathBuf::from("/bin/bash");
            if bash.exists() { bash } else { PathBuf::from("/bin/sh") }
        })
    }

    /// Downloads each S3DataNode input into `inputN`, named by `${INPUTn_STAGING_DIR}`.
    async fn stage_inputs(&self, task: &Task, work: &Path, env: &mut Vec<(String, String)>) -> Result<(), String> {
        for (index, id) in task.values("input").into_iter().enumerate() {
            let n = index.saturating_add(1);
            let node = task
                .referenced(id)
                .ok_or_else(|| format!("input {n} \"{id}\": its fields were not handed out with the task"))?;
            if node.field("type") != Some("S3DataNode") {
                continue;
            }
            let dir = work.join(format!("input{n}"));
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|error| format!("{}: {error}", dir.display()))?;
            if let Some(prefix) = node.field("directoryPath") {
                self.storage
                    .download_prefix(prefix, &dir)
                    .await
                    .map_err(|error| format!("staging input {n} \"{id}\": {error}"))?;
            } else if let Some(file) = node.field("filePath") {
                let name = file.rsplit('/').find(|part| !part.is_empty()).unwrap_or("input");
                self.storage
                    .download(file, &dir.join(name))
                    .await
                    .map_err(|error| format!("staging input {n} \"{id}\": {error}"))?;
            } else {
                return Err(format!(
                    "staging input {n} \"{id}\": an S3DataNode needs a directoryPath or a filePath"
                ));
            }
            env.push((format!("INPUT{n}_STAGING_DIR"), dir.display().to_string()));
        }
        Ok(())
    }

    /// Uploads every file below `dir` under the prefix `uri`, keeping relative paths.
    async fn upload_dir(&self, dir: &Path, uri: &str, encryption: Encryption) -> Result<(), String> {
        let base = uri.trim_end_matches('/');
        for (path, relative) in files_below(dir).await? {
            self.storage
                .upload(&path, &format!("{base}/{relative}"), encryption)
                .await
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// SIGTERM to the process group, then SIGKILL after the grace period.
    async fn kill(&self, child: &mut Child) {
        if let Some(pid) = child.id() {
            signal_group(pid, "TERM").await;
            let exited = tokio::time::timeout(self.settings.grace, child.wait()).await.is_ok();
            // Whatever the leader did, nothing of the group outlives the task.
            signal_group(pid, "KILL").await;
            if exited {
                return;
            }
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }

    /// Uploads (or copies) the task's stdout and stderr from `work`, secret values masked.
    async fn upload_logs(&self, targets: &LogTargets, work: &Path, secrets: &Secrets, warnings: &mut Vec<String>) {
        for (target, name) in [(&targets.stdout, "stdout"), (&targets.stderr, "stderr")] {
            let Some(target) = target else { continue };
            let path = work.join(name);
            let result = match redacted_copy(&path, secrets).await {
                Ok(redacted) if target.starts_with("s3://") => self
                    .storage
                    .upload(&redacted, target, Encryption::ServerSide)
                    .await
                    .map_err(|error| error.to_string()),
                Ok(redacted) => copy_local(&redacted, Path::new(target)).await,
                Err(message) => Err(message),
            };
            if let Err(message) = result {
                warnings.push(format!("log {} not written to {target}: {message}", path.display()));
            }
        }
    }
}

/// The argv and environment of a shell that runs `what` (a command's text, or a script's
/// path) with `verb` (`eval`, or `.`) and `arguments` as `$1`, `$2`...: both travel in
/// variables, so the command line holds only their names, and the variables are unset
/// before the command runs, so its own children do not inherit them. `name` is `$0`.
fn through_environment(
    what: &str,
    verb: &str,
    name: &str,
    arguments: &[String],
) -> (Vec<String>, Vec<(String, String)>) {
    let variables: Vec<String> = (1..=arguments.len())
        .map(|n| format!("{ARGUMENT_VARIABLE}{n}"))
        .collect();
    let positional: Vec<String> = variables.iter().map(|variable| format!("\"${variable}\"")).collect();
    let launcher = format!(
        "__sluice_run=${COMMAND_VARIABLE}; set -- {}; unset {COMMAND_VARIABLE} {}; {verb} \"$__sluice_run\"",
        positional.join(" "),
        variables.join(" ")
    );
    let mut env = vec![(COMMAND_VARIABLE.to_owned(), what.to_owned())];
    env.extend(variables.into_iter().zip(arguments.iter().cloned()));
    (vec!["-c".to_owned(), launcher, name.to_owned()], env)
}

/// The log at `path` with its secret values masked: itself when there are none, else a
/// masked copy beside it.
async fn redacted_copy(path: &Path, secrets: &Secrets) -> Result<PathBuf, String> {
    if secrets.is_empty() {
        return Ok(path.to_path_buf());
    }
    let from = path.to_path_buf();
    let to = path.with_extension("redacted");
    let secrets = secrets.clone();
    let target = to.clone();
    tokio::task::spawn_blocking(move || {
        let reader = std::fs::File::open(&from).map_err(|error| format!("{}: {error}", from.display()))?;
        let writer = std::fs::File::create(&target).map_err(|error| format!("{}: {error}", target.display()))?;
        secrets
            .redact_stream(std::io::BufReader::new(reader), std::io::BufWriter::new(writer))
            .map_err(|error| format!("masking secrets in {}: {error}", from.display()))
    })
    .await
    .map_err(|error| format!("masking secrets in {}: {error}", path.display()))??;
    Ok(to)
}

/// A task's own folder, removed when dropped (also when the task's future is dropped).
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(root: &Path, task_id: &str) -> Result<Self, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let safe: String = task_id.chars().filter(|c| c.is_ascii_alphanumeric()).take(40).collect();
        let path = root.join(format!(
            "sluice-task-{safe}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).map_err(|error| {
            format!(
                "cannot create the task's working folder {}: {error}; check that the folder is writable",
                path.display()
            )
        })?;
        Ok(Self { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn failure(task: &Task, error_id: &str, message: String) -> TaskOutcome {
    let status = match task.kind {
        TaskKind::Activity => TaskStatus::Failed,
        TaskKind::Precondition => TaskStatus::False,
    };
    TaskOutcome::failed(status, error_id, message)
}

/// Creates `outputN` for each S3DataNode output, named by `${OUTPUTn_STAGING_DIR}`.
fn stage_outputs(task: &Task, work: &Path, env: &mut Vec<(String, String)>) -> Result<Vec<StagedOutput>, String> {
    let mut outputs = Vec::new();
    for (index, id) in task.values("output").into_iter().enumerate() {
        let n = index.saturating_add(1);
        let node = task
            .referenced(id)
            .ok_or_else(|| format!("output {n} \"{id}\": its fields were not handed out with the task"))?;
        if node.field("type") != Some("S3DataNode") {
            continue;
        }
        let uri = node.field("directoryPath").ok_or_else(|| {
            format!("staging output {n} \"{id}\": output staging needs a directoryPath on the S3DataNode")
        })?;
        let encryption = Encryption::parse(node.field("s3EncryptionType"))
            .map_err(|error| format!("staging output {n} \"{id}\": {error}"))?;
        let dir = work.join(format!("output{n}"));
        std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        env.push((format!("OUTPUT{n}_STAGING_DIR"), dir.display().to_string()));
        outputs.push(StagedOutput {
            dir,
            uri: uri.to_owned(),
            encryption,
        });
    }
    Ok(outputs)
}

fn spawn(prepared: &Prepared, work: &Path, stdout: &Path, stderr: &Path) -> Result<Child, String> {
    let open =
        |path: &Path| std::fs::File::create(path).map_err(|error| format!("cannot create {}: {error}", path.display()));
    let mut command = Command::new(&prepared.program);
    command
        .args(&prepared.args)
        .envs(prepared.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::from(open(stdout)?))
        .stderr(Stdio::from(open(stderr)?))
        .process_group(0)
        .kill_on_drop(true);
    command
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", prepared.program.display()))
}

/// Resolves when a stop is asked for; never when the sender is gone without asking.
async fn stopped(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
    loop {
        if let Some(reason) = *stop.borrow_and_update() {
            return reason;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Signals a whole process group through kill(1), so that a shell's children stop too.
async fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|error| format!("cannot make {} executable: {error}", path.display()))
}

async fn starts_with_shebang(path: &Path) -> bool {
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return false;
    };
    let mut start = [0u8; 2];
    file.read_exact(&mut start).await.is_ok() && &start == b"#!"
}

async fn copy_local(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|error| format!("{}: {error}", parent.display()))?;
    }
    tokio::fs::copy(from, to)
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// Every file below `dir` with its `/`-separated path relative to `dir`.
async fn files_below(dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&folder)
            .await
            .map_err(|error| format!("{}: {error}", folder.display()))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|error| format!("{}: {error}", folder.display()))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry
                .file_type()
                .await
                .map_err(|error| format!("{}: {error}", entry.path().display()))?;
            if kind.is_dir() {
                pending.push((entry.path(), relative));
            } else if kind.is_file() {
                files.push((entry.path(), relative));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// The last `lines` lines of the file (read from its last 16 KiB). Where the window
/// starts inside the file, the line it cuts is left out: it may begin with the end of a
/// secret value, which no longer reads as one. A single line longer than the window loses
/// its first `longest_secret` bytes instead.
async fn stderr_tail(path: &Path, lines: usize, longest_secret: usize) -> String {
    const WINDOW: u64 = 16 * 1024;
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return String::new();
    };
    let length = file.metadata().await.map(|meta| meta.len()).unwrap_or(0);
    let start = length.saturating_sub(WINDOW);
    if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).await.is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    if start == 0 {
        return tail_lines(&text, lines);
    }
    match text.split_once('\n') {
        Some((_, rest)) => tail_lines(rest, lines),
        None => {
            let mut from = longest_secret.min(text.len());
            while !text.is_char_boundary(from) {
                from += 1;
            }
            format!("...{}", &text[from..])
        }
    }
}

fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let keep = all.len().saturating_sub(lines);
    all.get(keep..).unwrap_or_default().join("\n")
}

/// `exit status 3; the last lines of stderr:\n…`: never empty, so alarms never say null.
fn exit_message(status: ExitStatus, stderr_tail: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("the command exited with status {code}"),
        (None, Some(signal)) => format!("the command was killed by signal {signal}"),
        (None, None) => "the command ended without an exit status".to_owned(),
    };
    if stderr_tail.trim().is_empty() {
        format!("{how}; stderr was empty")
    } else {
        format!("{how}; the last lines of stderr:\n{stderr_tail}")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_failure_message_names_the_exit_status_and_the_end_of_stderr() {
        let message = exit_message(ExitStatus::from_raw(3 << 8), "one\ntwo");
        assert_eq!(
            message,
            "the command exited with status 3; the last lines of stderr:\none\ntwo"
        );
    }

    #[test]
    fn a_killed_command_says_which_signal() {
        assert_eq!(
            exit_message(ExitStatus::from_raw(9), ""),
            "the command was killed by signal 9; stderr was empty"
        );
    }

    #[test]
    fn a_command_and_its_arguments_travel_in_the_environment_not_on_the_command_line() {
        // Given a command and arguments holding a value that must not be on a command line
        let command = "printf '%s|' \"$0\" \"$#\" \"$1\" \"$2\" \"${SLUICE_COMMAND-unset}\"; echo s3cret";
        let arguments = ["a b 's3cret'".to_owned(), "$HOME \"x\"".to_owned()];
        let (args, env) = through_environment(command, "eval", "Work", &arguments);
        // Then the command line holds none of them
        assert!(
            args.iter()
                .all(|arg| !arg.contains("s3cret") && !arg.contains("printf")),
            "{args:?}"
        );
        assert_eq!(env[0], (COMMAND_VARIABLE.to_owned(), command.to_owned()));
        // And a POSIX shell runs the command with $0 and the arguments as given
        let output = std::process::Command::new("/bin/sh")
            .args(&args)
            .env_clear()
            .envs(env)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "Work|2|a b 's3cret'|$HOME \"x\"|unset|s3cret\n"
        );
    }

    #[tokio::test]
    async fn a_tail_that_starts_inside_a_secret_leaves_that_line_out() {
        // Given a stderr whose last 16 KiB begin 13 bytes into a secret value
        let secret = "0123456789-s3cr3t-value";
        let path = std::env::temp_dir().join(format!("sluice-tail-{}", std::process::id()));
        let rest = format!("{}last.", "filler line\n".repeat(1364));
        std::fs::write(&path, format!("yyyy{secret}\n{rest}")).unwrap();
        // When its tail is read
        let tail = stderr_tail(&path, 2000, secret.len()).await;
        // Then no piece of the secret is in it, and the whole lines after it are
        assert!(
            tail.starts_with("filler line\n") && tail.ends_with("last."),
            "{}",
            &tail[..40]
        );
        assert!(!tail.contains("value"));
        // A single line longer than the window loses its first bytes instead
        std::fs::write(&path, format!("{secret}{}", "w".repeat(16 * 1024 - 10))).unwrap();
        let tail = stderr_tail(&path, 20, secret.len()).await;
        assert!(tail.starts_with("...www") && !tail.contains("value"), "{}", &tail[..40]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_tail_keeps_only_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\nd\n", 2), "c\nd");
        assert_eq!(tail_lines("a", 5), "a");
        assert_eq!(tail_lines("", 5), "");
    }

    proptest! {
        #[test]
        fn tailing_any_text_never_panics(text in ".{0,200}", lines in 0usize..10) {
            let tail = tail_lines(&text, lines);
            prop_assert!(tail.lines().count() <= lines);
        }
    }
}
