//! The `sluice` binary as users call it: `validate`, `eval` and `plan`, with exact exit
//! codes (0 success, 1 the input has errors, 2 bad usage or a file that cannot be read) and
//! checked output. Inputs are written to a fresh directory under the system's temporary
//! directory, which the command runs in and which is removed afterwards.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Running the binary.

/// A scratch directory for one test, removed when the test ends (passing or not).
struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    fn new(test: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "sluice-cli-test-{}-{}-{test}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&root).unwrap();
        Self { root }
    }

    /// Writes a file into the sandbox; returns its name, as commands in the sandbox see it.
    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.root.join(name), text).unwrap();
        name.to_owned()
    }

    /// Runs `sluice ARGS...` in the sandbox.
    fn sluice(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .current_dir(&self.root)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What one command printed and how it exited.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

impl Run {
    /// Asserts the exit code, showing everything the command printed when it differs.
    fn exits(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "sluice {:?}\n--- stdout\n{}--- stderr\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    fn stdout_has(&self, text: &str) -> &Self {
        assert!(self.stdout.contains(text), "{text:?} not in stdout:\n{}", self.stdout);
        self
    }

    fn stderr_has(&self, text: &str) -> &Self {
        assert!(self.stderr.contains(text), "{text:?} not in stderr:\n{}", self.stderr);
        self
    }

    /// The one line of stdout, without its newline.
    fn line(&self) -> &str {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line of stdout:\n{}", self.stdout);
        lines[0]
    }

    /// Every line of stdout parsed as JSON.
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
            .collect()
    }
}

fn examples() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", directory.display());
    files
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

/// `YYYY-MM-DDTHH:MM:SS`, exactly.
fn is_aws_datetime(text: &str) -> bool {
    text.len() == 19 && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").is_ok()
}

// ---------------------------------------------------------------------------------------
// Definitions the tests share.

/// Valid: an hourly cron schedule from 2026-01-01T00:00:00 and one activity.
const HOURLY: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "schedule": { "ref": "Hourly" }, "workerGroup": "runners" },
    { "id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": "2026-01-01T00:00:00" },
    { "id": "Touch", "type": "ShellCommandActivity", "command": "touch /tmp/#{format(@scheduledStartTime, 'HH')}" }
  ]
}
"#;

/// Valid with one warning: a period shorter than AWS's 15-minute minimum.
const FIVE_MINUTES: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "schedule": { "ref": "Often" }, "workerGroup": "runners" },
    { "id": "Often", "type": "Schedule", "period": "5 minutes", "startDateTime": "2026-01-01T00:00:00" },
    { "id": "Touch", "type": "ShellCommandActivity", "command": "touch /tmp/often" }
  ]
}
"#;

/// One error on line 4: a type that does not exist.
const UNKNOWN_TYPE: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "ondemand", "workerGroup": "runners" },
    { "id": "Copy", "type": "ShellComandActivity", "command": "true" }
  ]
}
"#;

/// A trailing comma on line 3, column 37.
const MALFORMED: &str = "{\n  \"objects\": [\n    { \"id\": \"Default\", \"name\": \"x\", }\n  ]\n}\n";

/// Parameters of every kind of source: the definition gives `red` and 1, and `myTable` is
/// required.
const PARAMETERS: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "ondemand", "workerGroup": "runners" },
    { "id": "Paint", "type": "ShellCommandActivity", "command": "paint #{myColour} #{myCount} #{myTable}" }
  ],
  "parameters": [
    { "id": "myColour", "type": "String", "allowedValues": ["red", "green", "blue"] },
    { "id": "myCount", "type": "Integer" },
    { "id": "myTable", "type": "String", "description": "the table to paint" }
  ],
  "values": { "myColour": "red", "myCount": "1" }
}
"#;

/// A secret field and a secret parameter, each with a value that must never be printed.
const SECRETS: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "schedule": { "ref": "Daily" }, "workerGroup": "runners" },
    { "id": "Daily", "type": "Schedule", "period": "1 day", "startDateTime": "2026-01-01T00:00:00" },
    { "id": "Db", "type": "JdbcDatabase", "connectionString": "jdbc:mysql://db.example.com:3306/shop",
      "jdbcDriverClass": "com.mysql.jdbc.Driver", "username": "shop", "*password": "hunter2" },
    { "id": "Export", "type": "SqlActivity", "database": { "ref": "Db" }, "script": "SELECT 1",
      "myConnection": "user=shop password=#{*myPassword}" }
  ],
  "parameters": [ { "id": "*myPassword", "type": "String", "description": "the database password" } ],
  "values": { "*myPassword": "s3cr3t-value" }
}
"#;

const SECRET_VALUES: [&str; 2] = ["hunter2", "s3cr3t-value"];

fn assert_no_secret(run: &Run) {
    for secret in SECRET_VALUES {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "sluice {:?} printed {secret:?}\n--- stdout\n{}--- stderr\n{}",
            run.args,
            run.stdout,
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// sluice validate

#[test]
fn validate_accepts_every_example_with_exit_0() {
    // Given the examples shipped with the repository
    let sandbox = Sandbox::new("examples-validate");
    let files: Vec<String> = examples().iter().map(|path| path.display().to_string()).collect();
    let args: Vec<&str> = ["validate"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    // When they are validated together
    let run = sandbox.sluice(&args);
    // Then every one is valid, each with its own summary line
    run.exits(0);
    for file in &files {
        run.stdout_has(&format!("{file}: valid (0 errors, "));
    }
    assert!(!run.stdout.contains("invalid"), "{}", run.stdout);
}

#[test]
fn validate_exits_0_for_a_valid_definition_and_says_so() {
    let sandbox = Sandbox::new("valid");
    let file = sandbox.write("hourly.json", HOURLY);
    let run = sandbox.sluice(&["validate", &file]);
    run.exits(0);
    assert_eq!(run.line(), "hourly.json: valid (0 errors, 0 warnings)");
    assert_eq!(run.stderr, "");
}

#[test]
fn validate_exits_0_when_a_definition_has_only_warnings() {
    // Given a definition whose only finding is a warning
    let sandbox = Sandbox::new("warnings");
    let file = sandbox.write("often.json", FIVE_MINUTES);
    // When it is validated
    let run = sandbox.sluice(&["validate", &file]);
    // Then the warning is shown with its place, and the exit code is still 0
    run.exits(0)
        .stdout_has("often.json:4:52: warning: object \"Often\", field \"period\": period \"5 minutes\" is shorter")
        .stdout_has("often.json: valid (0 errors, 1 warning)");
}

#[test]
fn validate_exits_1_and_names_object_field_line_and_column_of_an_error() {
    let sandbox = Sandbox::new("error");
    let file = sandbox.write("typo.json", UNKNOWN_TYPE);
    let run = sandbox.sluice(&["validate", &file]);
    run.exits(1)
        .stdout_has(
            "typo.json:4:29: error: object \"Copy\", field \"type\": \"ShellComandActivity\" is not an AWS Data Pipeline object type; did you mean \"ShellCommandActivity\"?",
        )
        .stdout_has("typo.json: invalid (1 error, 0 warnings)");
}

#[test]
fn validate_reports_malformed_json_with_line_and_column_and_exits_1() {
    let sandbox = Sandbox::new("malformed");
    let file = sandbox.write("broken.json", MALFORMED);
    // In text
    let run = sandbox.sluice(&["validate", &file]);
    run.exits(1)
        .stdout_has("broken.json:3:37: error: not valid JSON: a comma before '}' is not allowed in JSON")
        .stdout_has("broken.json: invalid (1 error, 0 warnings)");
    // And in JSON, where the place is a line and a column and the finding belongs to no object
    let run = sandbox.sluice(&["validate", "--format", "json", &file]);
    run.exits(1);
    let report = &run.json_lines()[0];
    let error = &report["errors"][0];
    assert_eq!(error["line"], 3, "{report}");
    assert_eq!(error["column"], 37, "{report}");
    assert!(error["id"].is_null() && error["field"].is_null(), "{report}");
    assert!(
        error["message"].as_str().unwrap().starts_with("not valid JSON"),
        "{report}"
    );
}

#[test]
fn validate_reports_a_file_cut_off_where_it_ends() {
    let sandbox = Sandbox::new("cut-off");
    let file = sandbox.write("cut.json", "{\"objects\": [\n  {\"id\": \"A\"");
    sandbox
        .sluice(&["validate", &file])
        .exits(1)
        .stdout_has("cut.json:2:13: error: not valid JSON: the file ends where");
}

#[test]
fn validate_counts_a_document_without_objects_as_an_error() {
    let sandbox = Sandbox::new("no-objects");
    let values = sandbox.write("values.json", r#"{"values": {"myColour": "red"}}"#);
    let list = sandbox.write("list.json", "[]");
    let run = sandbox.sluice(&["validate", &values, &list]);
    run.exits(1)
        .stdout_has("values.json: error: no \"objects\" list")
        .stdout_has("it looks like a values file: pass it with --values")
        .stdout_has("list.json: error: the document is an array")
        .stdout_has("values.json: invalid (1 error, 0 warnings)")
        .stdout_has("list.json: invalid (1 error, 0 warnings)");
}

#[test]
fn validate_reports_each_of_several_files_and_exits_with_the_worst_outcome() {
    // Given a valid file, a file with warnings and a file with an error
    let sandbox = Sandbox::new("several");
    let valid = sandbox.write("hourly.json", HOURLY);
    let warned = sandbox.write("often.json", FIVE_MINUTES);
    let invalid = sandbox.write("typo.json", UNKNOWN_TYPE);
    // When they are validated at once
    let run = sandbox.sluice(&["validate", &valid, &warned, &invalid]);
    // Then each is reported, in order, and the exit code is that of the error
    run.exits(1);
    let summaries: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.contains(": valid (") || line.contains(": invalid ("))
        .collect();
    assert_eq!(
        summaries,
        [
            "hourly.json: valid (0 errors, 0 warnings)",
            "often.json: valid (0 errors, 1 warning)",
            "typo.json: invalid (1 error, 0 warnings)",
        ]
    );
    // And in JSON there is one object per file, one per line, in the same order
    let run = sandbox.sluice(&["validate", "--format", "json", &valid, &warned, &invalid]);
    run.exits(1);
    let reports = run.json_lines();
    let files: Vec<&str> = reports.iter().map(|report| report["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["hourly.json", "often.json", "typo.json"]);
    let errored: Vec<bool> = reports
        .iter()
        .map(|report| report["errored"].as_bool().unwrap())
        .collect();
    assert_eq!(errored, [false, false, true]);
}

#[test]
fn validate_json_output_has_the_documented_keys_and_types() {
    // Given a definition with a field error, an object error and a warning
    let sandbox = Sandbox::new("json-keys");
    let file = sandbox.write(
        "mixed.json",
        r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "workerGroup": "runners" },
    { "id": "Copy", "type": "ShellComandActivity", "command": "true" },
    { "id": "Run", "type": "ShellCommandActivity", "command": "true" },
    { "id": "Often", "type": "Schedule", "period": "5 minutes", "startDateTime": "2026-01-01T00:00:00" }
  ]
}"#,
    );
    // When it is validated with --format json
    let run = sandbox.sluice(&["validate", "--format", "json", &file]);
    run.exits(1);
    let reports = run.json_lines();
    assert_eq!(reports.len(), 1);
    let report = reports[0].as_object().unwrap();
    // Then the report has exactly file, errored, errors and warnings
    let mut keys: Vec<&str> = report.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["errored", "errors", "file", "warnings"]);
    assert_eq!(report["file"], "mixed.json");
    assert_eq!(report["errored"], true);
    // And every finding has an id and a field (string or null), a message, and a place
    let errors = report["errors"].as_array().unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert!(!errors.is_empty() && !warnings.is_empty(), "{report:?}");
    for issue in errors.iter().chain(warnings) {
        assert!(issue["id"].is_string() || issue["id"].is_null(), "{issue}");
        assert!(issue["field"].is_string() || issue["field"].is_null(), "{issue}");
        assert!(
            issue["message"].as_str().is_some_and(|message| !message.is_empty()),
            "{issue}"
        );
        assert!(issue["line"].is_u64() || issue["line"].is_null(), "{issue}");
        assert!(issue["column"].is_u64() || issue["column"].is_null(), "{issue}");
    }
    // A field error names both
    let typo = errors.iter().find(|issue| issue["id"] == "Copy").unwrap();
    assert_eq!(typo["field"], "type");
    assert_eq!((typo["line"].as_u64(), typo["column"].as_u64()), (Some(4), Some(29)));
    // An object error has no field
    let unscheduled = errors.iter().find(|issue| issue["id"] == "Run").unwrap();
    assert!(unscheduled["field"].is_null(), "{unscheduled}");
    assert!(
        unscheduled["message"].as_str().unwrap().contains("has no schedule"),
        "{unscheduled}"
    );
    assert_eq!(unscheduled["line"], 5);
    // And a warning is shaped the same way
    let short = warnings.iter().find(|issue| issue["id"] == "Often").unwrap();
    assert_eq!(short["field"], "period");
}

#[test]
fn validate_exits_2_for_bad_usage() {
    let sandbox = Sandbox::new("usage");
    let file = sandbox.write("hourly.json", HOURLY);
    // No files
    sandbox.sluice(&["validate"]).exits(2).stderr_has("<FILES>");
    // An unknown flag
    sandbox
        .sluice(&["validate", "--strict", &file])
        .exits(2)
        .stderr_has("--strict");
    // --param without "="
    sandbox
        .sluice(&["validate", "--param", "myColour", &file])
        .exits(2)
        .stderr_has("\"myColour\" is not ID=VALUE");
    // --param with an empty id
    sandbox.sluice(&["validate", "--param", "=red", &file]).exits(2);
    // A format that does not exist
    sandbox
        .sluice(&["validate", "--format", "yaml", &file])
        .exits(2)
        .stderr_has("possible values: text, json");
    // No command at all
    sandbox.sluice(&[]).exits(2);
}

#[test]
fn validate_exits_2_for_a_file_that_does_not_exist_and_still_reports_the_others() {
    let sandbox = Sandbox::new("missing");
    let invalid = sandbox.write("typo.json", UNKNOWN_TYPE);
    let valid = sandbox.write("hourly.json", HOURLY);
    let run = sandbox.sluice(&["validate", &valid, "nowhere.json", &invalid]);
    run.exits(2)
        .stderr_has("error: nowhere.json: cannot read")
        .stdout_has("hourly.json: valid (0 errors, 0 warnings)")
        .stdout_has("typo.json: invalid (1 error, 0 warnings)");
    assert!(!run.stdout.contains("nowhere.json"), "{}", run.stdout);
    // And a values file that does not exist is bad usage too
    sandbox
        .sluice(&["validate", "--values", "none.json", &valid])
        .exits(2)
        .stderr_has("none.json: cannot read");
}

// ---------------------------------------------------------------------------------------
// Parameter values

#[test]
fn a_required_parameter_without_a_value_is_an_error_naming_it() {
    // Given a definition that declares myTable without a value or default
    let sandbox = Sandbox::new("required");
    let file = sandbox.write("params.json", PARAMETERS);
    // When it is validated without one
    let run = sandbox.sluice(&["validate", &file]);
    // Then the error names the parameter, where it is declared, and how to give a value
    run.exits(1).stdout_has(
        "params.json:9:5: error: object \"myTable\": the parameter is required and has no value: give one in \"values\", a values file (--values) or --param myTable=... (the table to paint)",
    );
    // And a value from the command line satisfies it
    sandbox
        .sluice(&["validate", "--param", "myTable=walls", &file])
        .exits(0)
        .stdout_has("params.json: valid (0 errors, 0 warnings)");
}

#[test]
fn a_values_file_overrides_the_definitions_values_and_param_overrides_both() {
    let sandbox = Sandbox::new("precedence");
    let file = sandbox.write("params.json", PARAMETERS);
    let purple = sandbox.write("purple.json", r#"{"values": {"myColour": "purple", "myCount": "2"}}"#);
    let table = "--param=myTable=walls";
    // The definition's own value, red, is allowed
    sandbox.sluice(&["validate", table, &file]).exits(0);
    // A values file's purple replaces it, and is not allowed
    sandbox
        .sluice(&["validate", table, "--values", &purple, &file])
        .exits(1)
        .stdout_has(
            "error: object \"myColour\": the value from values file purple.json \"purple\" is not one of the allowed values: red, green, blue",
        );
    // --param's blue replaces the values file's, and is allowed
    sandbox
        .sluice(&[
            "validate",
            table,
            "--values",
            &purple,
            "--param",
            "myColour=blue",
            &file,
        ])
        .exits(0)
        .stdout_has("params.json: valid (0 errors, 0 warnings)");
    // An Integer parameter shows which value won
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "#{myColour}/#{myCount + 1}",
            "--definition",
            &file,
            "--object",
            "Paint",
            table,
        ];
        args.extend_from_slice(extra);
        let run = sandbox.sluice(&args);
        run.exits(0);
        run.line().to_owned()
    };
    assert_eq!(eval(&[]), "red/2");
    assert_eq!(eval(&["--values", &purple]), "purple/3");
    assert_eq!(
        eval(&["--values", &purple, "--param", "myCount=41", "--param", "myColour=blue"]),
        "blue/42"
    );
}

#[test]
fn an_integer_parameter_given_text_is_an_error_quoting_the_value_and_its_source() {
    let sandbox = Sandbox::new("integer");
    let file = sandbox.write("params.json", PARAMETERS);
    sandbox
        .sluice(&["validate", "--param", "myTable=walls", "--param", "myCount=many", &file])
        .exits(1)
        .stdout_has("params.json:8:5: error: object \"myCount\": the value from --param \"many\" is not an Integer");
}

// ---------------------------------------------------------------------------------------
// Secrets

#[test]
fn secrets_are_never_printed_by_validate() {
    let sandbox = Sandbox::new("secret-validate");
    let file = sandbox.write("secrets.json", SECRETS);
    for format in ["text", "json"] {
        let run = sandbox.sluice(&["validate", "--format", format, &file]);
        run.exits(0);
        assert_no_secret(&run);
    }
}

#[test]
fn secrets_are_never_printed_in_errors_about_them() {
    // Given the secret parameter declared as an Integer, so its value is wrong
    let sandbox = Sandbox::new("secret-errors");
    let integer = sandbox.write(
        "secrets.json",
        &SECRETS.replace(
            r#""id": "*myPassword", "type": "String""#,
            r#""id": "*myPassword", "type": "Integer""#,
        ),
    );
    let from_file = sandbox.write("values.json", r#"{"values": {"*myPassword": "s3cr3t-value"}}"#);
    // When the wrong value comes from the definition, a values file or the command line
    for extra in [
        &[][..],
        &["--values", &from_file][..],
        &["--param", "*myPassword=s3cr3t-value"][..],
    ] {
        for format in ["text", "json"] {
            let mut args = vec!["validate", "--format", format, &integer];
            args.extend_from_slice(extra);
            let run = sandbox.sluice(&args);
            // Then the error says what is wrong without the value
            run.exits(1).stdout_has("(secret) is not an Integer");
            assert_no_secret(&run);
        }
    }
    // And neither plan, which refuses the definition, nor eval, which warns, prints it
    let run = sandbox.sluice(&[
        "plan",
        &integer,
        "--activated-at",
        "2026-01-01T00:00:00",
        "--until",
        "2026-01-02",
    ]);
    run.exits(1).stderr_has("(secret) is not an Integer");
    assert_no_secret(&run);
    let run = sandbox.sluice(&["eval", "#{*myPassword}", "--definition", &integer, "--object", "Export"]);
    run.exits(0).stderr_has("(secret) is not an Integer");
    assert_no_secret(&run);
    // Nor when an allowedValues check fails
    let allowed = sandbox.write(
        "allowed.json",
        &SECRETS.replace(
            r#""type": "String","#,
            r#""type": "String", "allowedValues": ["a", "b"],"#,
        ),
    );
    let run = sandbox.sluice(&["validate", &allowed]);
    run.exits(1).stdout_has("(secret) is not one of the allowed values");
    assert_no_secret(&run);
}

#[test]
fn eval_masks_secret_fields_and_parameters() {
    let sandbox = Sandbox::new("secret-eval");
    let file = sandbox.write("secrets.json", SECRETS);
    for (expression, object, expected) in [
        ("#{*password}", "Db", "********"),
        ("#{*myPassword}", "Export", "********"),
        ("#{myPassword}", "Export", "********"),
        ("#{myConnection}", "Export", "user=shop password=********"),
        ("[#{*myPassword + 1}]", "Export", "[********1]"),
    ] {
        let run = sandbox.sluice(&["eval", expression, "--definition", &file, "--object", object]);
        run.exits(0);
        assert_eq!(run.line(), expected, "{expression}");
        assert_no_secret(&run);
    }
    // A secret given only on the command line is masked too
    let run = sandbox.sluice(&["eval", "#{*myToken}", "--param", "*myToken=s3cr3t-value"]);
    run.exits(0);
    assert_eq!(run.line(), "********");
    assert_no_secret(&run);
    // And so is a secret in an error message about it
    let run = sandbox.sluice(&[
        "eval",
        "#{format(*myToken, 'YYYY')}",
        "--param",
        "*myToken=s3cr3t-value",
    ]);
    run.exits(1).stderr_has("\"********\"");
    assert_no_secret(&run);
}

#[test]
fn plan_never_prints_secrets() {
    let sandbox = Sandbox::new("secret-plan");
    let file = sandbox.write("secrets.json", SECRETS);
    for format in ["text", "json"] {
        let run = sandbox.sluice(&[
            "plan",
            &file,
            "--activated-at",
            "2026-01-01T00:00:00",
            "--until",
            "2026-01-03T00:00:00",
            "--format",
            format,
        ]);
        run.exits(0);
        assert_no_secret(&run);
    }
}

// ---------------------------------------------------------------------------------------
// sluice eval

#[test]
fn eval_prints_literal_text_unchanged() {
    let sandbox = Sandbox::new("eval-literal");
    let run = sandbox.sluice(&["eval", "s3://bucket/plain path/"]);
    run.exits(0);
    assert_eq!(run.stdout, "s3://bucket/plain path/\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn eval_formats_the_scheduled_start_time_given_with_at() {
    let sandbox = Sandbox::new("eval-format");
    let run = sandbox.sluice(&[
        "eval",
        "#{format(@scheduledStartTime,'YYYY-MM-dd HH:mm')}",
        "--at",
        "2026-03-01T02:00:00",
    ]);
    run.exits(0);
    assert_eq!(run.stdout, "2026-03-01 02:00\n");
    // And functions compose, with Joda patterns
    let run = sandbox.sluice(&[
        "eval",
        "s3://archive/#{format(minusDays(@scheduledStartTime, 1), 'YYYY-MM-dd')}/",
        "--at",
        "2026-03-01T02:00:00",
    ]);
    run.exits(0);
    assert_eq!(run.line(), "s3://archive/2026-02-28/");
}

#[test]
fn eval_takes_the_scheduled_end_time_from_the_objects_schedule() {
    let sandbox = Sandbox::new("eval-end");
    let file = sandbox.write("hourly.json", HOURLY);
    // An hourly schedule ends an hour after --at
    let run = sandbox.sluice(&[
        "eval",
        "#{@scheduledStartTime}..#{@scheduledEndTime}",
        "--definition",
        &file,
        "--object",
        "Touch",
        "--at",
        "2026-01-05T07:00:00",
    ]);
    run.exits(0);
    assert_eq!(run.line(), "2026-01-05T07:00:00..2026-01-05T08:00:00");
    // And the example's nightly schedule (a parameter's default of "1 day") a day after
    let run = sandbox.sluice(&[
        "eval",
        "#{@scheduledEndTime}",
        "--definition",
        &example("parameterised-export.json"),
        "--object",
        "Orders",
        "--at",
        "2026-01-01T00:00:00",
    ]);
    run.exits(0);
    assert_eq!(run.line(), "2026-01-02T00:00:00");
}

#[test]
fn eval_evaluates_a_field_of_the_object_in_its_context() {
    let sandbox = Sandbox::new("eval-field");
    let file = sandbox.write("hourly.json", HOURLY);
    let run = sandbox.sluice(&[
        "eval",
        "#{command}",
        "--definition",
        &file,
        "--object",
        "Touch",
        "--at",
        "2026-01-05T07:00:00",
    ]);
    run.exits(0);
    assert_eq!(run.line(), "touch /tmp/07");
}

#[test]
fn eval_reads_a_parameter_given_with_param() {
    let sandbox = Sandbox::new("eval-param");
    let run = sandbox.sluice(&["eval", "s3://#{myBucket}/in", "--param", "myBucket=logs"]);
    run.exits(0);
    assert_eq!(run.line(), "s3://logs/in");
    // A parameter repeated is a list, and the value is one line per element
    let run = sandbox.sluice(&["eval", "d=#{myDay}", "--param", "myDay=mon", "--param", "myDay=tue"]);
    run.exits(0);
    assert_eq!(run.stdout, "d=mon\nd=tue\n");
}

#[test]
fn eval_errors_name_the_column_in_the_string_and_exit_1() {
    let sandbox = Sandbox::new("eval-errors");
    // A function that does not exist, at column 7
    let run = sandbox.sluice(&[
        "eval",
        "abc #{formatt(@scheduledStartTime,'YYYY')}",
        "--at",
        "2026-03-01T02:00:00",
    ]);
    run.exits(1)
        .stderr_has("error: at column 7: unknown function \"formatt\": did you mean \"format\"?")
        .stderr_has("  abc #{formatt(@scheduledStartTime,'YYYY')}\n        ^\n");
    assert_eq!(run.stdout, "");
    // A syntax error, at column 6
    sandbox.sluice(&["eval", "#{1 +}"]).exits(1).stderr_has("at column 6:");
    // An expression never closed, at column 3
    sandbox
        .sluice(&["eval", "x #{'a'"])
        .exits(1)
        .stderr_has("at column 3: this #{ is never closed");
    // A runtime field with no value, at column 3, with the advice to pass --at
    sandbox
        .sluice(&["eval", "#{@scheduledStartTime}"])
        .exits(1)
        .stderr_has("at column 3: @scheduledStartTime has no value here")
        .stderr_has("--at");
    // Columns count characters, not bytes
    sandbox
        .sluice(&["eval", "ééé #{nope}"])
        .exits(1)
        .stderr_has("at column 7:");
}

#[test]
fn eval_exits_2_for_an_object_the_definition_does_not_have() {
    let sandbox = Sandbox::new("eval-object");
    let file = sandbox.write("hourly.json", HOURLY);
    let run = sandbox.sluice(&["eval", "#{id}", "--definition", &file, "--object", "Tuoch"]);
    run.exits(2)
        .stderr_has("hourly.json has no object \"Tuoch\"; did you mean \"Touch\"?");
    assert_eq!(run.stdout, "");
}

#[test]
fn eval_exits_2_for_object_without_definition_and_the_reverse() {
    let sandbox = Sandbox::new("eval-usage");
    let file = sandbox.write("hourly.json", HOURLY);
    sandbox
        .sluice(&["eval", "#{id}", "--object", "Touch"])
        .exits(2)
        .stderr_has("--definition");
    sandbox
        .sluice(&["eval", "#{id}", "--definition", &file])
        .exits(2)
        .stderr_has("--object");
    sandbox
        .sluice(&["eval", "#{id}", "--definition", "nowhere.json", "--object", "Touch"])
        .exits(2)
        .stderr_has("nowhere.json: cannot read");
    sandbox
        .sluice(&["eval", "x", "--at", "tomorrow"])
        .exits(2)
        .stderr_has("\"tomorrow\" is not a date-time");
    sandbox.sluice(&["eval"]).exits(2);
}

#[test]
fn eval_exits_1_for_a_definition_that_is_not_json() {
    let sandbox = Sandbox::new("eval-malformed");
    let file = sandbox.write("broken.json", MALFORMED);
    sandbox
        .sluice(&["eval", "#{id}", "--definition", &file, "--object", "Default"])
        .exits(1)
        .stderr_has("broken.json:3:37: error: not valid JSON");
}

// ---------------------------------------------------------------------------------------
// sluice plan

const PLAN_KEYS: [&str; 6] = [
    "id",
    "component",
    "type",
    "scheduledStartTime",
    "scheduledEndTime",
    "runsAt",
];

fn plan_json(sandbox: &Sandbox, file: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["plan", file, "--format", "json"];
    args.extend_from_slice(extra);
    let run = sandbox.sluice(&args);
    run.exits(0);
    run.json_lines()
}

fn field<'a>(instance: &'a Value, key: &str) -> &'a str {
    instance[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {instance}"))
}

#[test]
fn plan_json_lines_name_each_instance_with_aws_date_times() {
    let sandbox = Sandbox::new("plan-json");
    let file = sandbox.write("hourly.json", HOURLY);
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-01T00:00:00",
            "--until",
            "2026-01-01T03:00:00",
        ],
    );
    assert_eq!(instances.len(), 3);
    for instance in &instances {
        for key in PLAN_KEYS {
            assert!(instance[key].is_string(), "{key} missing in {instance}");
        }
        for key in ["scheduledStartTime", "scheduledEndTime", "runsAt"] {
            assert!(is_aws_datetime(field(instance, key)), "{key} in {instance}");
        }
        assert_eq!(
            field(instance, "id"),
            format!(
                "@{}_{}",
                field(instance, "component"),
                field(instance, "scheduledStartTime")
            )
        );
    }
    assert_eq!(
        instances[0],
        serde_json::json!({
            "id": "@Touch_2026-01-01T00:00:00",
            "component": "Touch",
            "type": "ShellCommandActivity",
            "scheduledStartTime": "2026-01-01T00:00:00",
            "scheduledEndTime": "2026-01-01T01:00:00",
            "runsAt": "2026-01-01T00:00:00",
            "status": "WAITING_ON_DEPENDENCIES",
        })
    );
    let starts: Vec<&str> = instances
        .iter()
        .map(|instance| field(instance, "scheduledStartTime"))
        .collect();
    assert_eq!(
        starts,
        ["2026-01-01T00:00:00", "2026-01-01T01:00:00", "2026-01-01T02:00:00"]
    );
}

/// An hourly pipeline with one cron and one timeseries activity.
const CRON_AND_TIMESERIES: &str = r#"{
  "objects": [
    { "id": "Default", "scheduleType": "cron", "schedule": { "ref": "Hourly" }, "workerGroup": "runners" },
    { "id": "Hourly", "type": "Schedule", "period": "1 hour", "startDateTime": "2026-01-01T00:00:00" },
    { "id": "AtStart", "type": "ShellCommandActivity", "command": "echo start" },
    { "id": "AtEnd", "type": "ShellCommandActivity", "command": "echo end", "scheduleType": "timeseries" }
  ]
}"#;

#[test]
fn plan_orders_instances_by_start_then_by_object_and_places_cron_and_timeseries_runs() {
    let sandbox = Sandbox::new("plan-order");
    let file = sandbox.write("mixed.json", CRON_AND_TIMESERIES);
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-01T00:00:00",
            "--until",
            "2026-01-01T03:00:00",
        ],
    );
    // In order: by scheduled start, then in the definition's order of objects
    let order: Vec<(&str, &str)> = instances
        .iter()
        .map(|instance| (field(instance, "scheduledStartTime"), field(instance, "component")))
        .collect();
    assert_eq!(
        order,
        [
            ("2026-01-01T00:00:00", "AtStart"),
            ("2026-01-01T00:00:00", "AtEnd"),
            ("2026-01-01T01:00:00", "AtStart"),
            ("2026-01-01T01:00:00", "AtEnd"),
            ("2026-01-01T02:00:00", "AtStart"),
            ("2026-01-01T02:00:00", "AtEnd"),
        ]
    );
    // A cron instance runs at the start of its interval, a timeseries one at its end
    for instance in &instances {
        let expected = match field(instance, "component") {
            "AtStart" => "scheduledStartTime",
            _ => "scheduledEndTime",
        };
        assert_eq!(field(instance, "runsAt"), field(instance, expected), "{instance}");
    }
}

#[test]
fn plan_runs_a_resource_at_the_start_of_its_interval_even_in_a_timeseries_pipeline() {
    // Given a timeseries pipeline of three half-hour runs on an Ec2Resource
    let sandbox = Sandbox::new("plan-resource");
    let file = sandbox.write(
        "resource.json",
        r#"{
  "objects": [
    { "id": "Default", "scheduleType": "timeseries", "schedule": { "ref": "HalfHourly" },
      "role": "DataPipelineDefaultRole", "resourceRole": "DataPipelineDefaultResourceRole" },
    { "id": "HalfHourly", "type": "Schedule", "period": "30 minutes", "startDateTime": "2026-01-01T22:00:00",
      "occurrences": "3" },
    { "id": "Box", "type": "Ec2Resource", "terminateAfter": "1 hour" },
    { "id": "Run", "type": "ShellCommandActivity", "command": "true", "runsOn": { "ref": "Box" } }
  ]
}"#,
    );
    // When it is planned well past its end
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-01T22:00:00",
            "--until",
            "2026-01-03T00:00:00",
        ],
    );
    // Then there are three intervals; the resource is up at each start, the activity runs at each end
    let runs: Vec<(&str, &str, &str)> = instances
        .iter()
        .map(|instance| {
            (
                field(instance, "component"),
                field(instance, "type"),
                field(instance, "runsAt"),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("Box", "Ec2Resource", "2026-01-01T22:00:00"),
            ("Run", "ShellCommandActivity", "2026-01-01T22:30:00"),
            ("Box", "Ec2Resource", "2026-01-01T22:30:00"),
            ("Run", "ShellCommandActivity", "2026-01-01T23:00:00"),
            ("Box", "Ec2Resource", "2026-01-01T23:00:00"),
            ("Run", "ShellCommandActivity", "2026-01-01T23:30:00"),
        ]
    );
}

#[test]
fn validate_and_plan_read_a_definition_in_the_api_shape() {
    let sandbox = Sandbox::new("api-shape");
    let file = sandbox.write(
        "api.json",
        r#"{
  "pipelineObjects": [
    { "id": "Default", "name": "Default", "fields": [
      { "key": "scheduleType", "stringValue": "cron" },
      { "key": "schedule", "refValue": "Hourly" },
      { "key": "workerGroup", "stringValue": "runners" } ] },
    { "id": "Hourly", "name": "Hourly", "fields": [
      { "key": "type", "stringValue": "Schedule" },
      { "key": "period", "stringValue": "1 hour" },
      { "key": "startDateTime", "stringValue": "2026-01-01T00:00:00" } ] },
    { "id": "Touch", "name": "Touch", "fields": [
      { "key": "type", "stringValue": "ShellCommandActivity" },
      { "key": "command", "stringValue": "touch /tmp/#{myName}" } ] }
  ],
  "parameterObjects": [ { "id": "myName", "attributes": [ { "key": "type", "stringValue": "String" } ] } ],
  "parameterValues": [ { "id": "myName", "stringValue": "marker" } ]
}"#,
    );
    sandbox
        .sluice(&["validate", &file])
        .exits(0)
        .stdout_has("api.json: valid (0 errors, 0 warnings)");
    let run = sandbox.sluice(&["eval", "#{command}", "--definition", &file, "--object", "Touch"]);
    run.exits(0);
    assert_eq!(run.line(), "touch /tmp/marker");
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-01T00:00:00",
            "--until",
            "2026-01-01T02:00:00",
        ],
    );
    assert_eq!(instances.len(), 2);
}

#[test]
fn plan_marks_intervals_before_from_as_skipped() {
    let sandbox = Sandbox::new("plan-from");
    let file = sandbox.write("hourly.json", HOURLY);
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-01T00:00:00",
            "--from",
            "2026-01-01T02:00:00",
            "--until",
            "2026-01-01T04:00:00",
        ],
    );
    let statuses: Vec<(&str, &str)> = instances
        .iter()
        .map(|instance| (field(instance, "scheduledStartTime"), field(instance, "status")))
        .collect();
    assert_eq!(
        statuses,
        [
            ("2026-01-01T00:00:00", "SKIPPED"),
            ("2026-01-01T01:00:00", "SKIPPED"),
            ("2026-01-01T02:00:00", "WAITING_ON_DEPENDENCIES"),
            ("2026-01-01T03:00:00", "WAITING_ON_DEPENDENCIES"),
        ]
    );
}

#[test]
fn plan_refuses_to_backfill_more_than_a_day_unless_allowed() {
    // Given a schedule that started two days before the activation
    let sandbox = Sandbox::new("plan-backfill");
    let file = sandbox.write("hourly.json", HOURLY);
    let late = [
        "--activated-at",
        "2026-01-03T00:00:00",
        "--until",
        "2026-01-01T02:00:00",
    ];
    // When it is planned, the guard refuses and names the object
    let run = sandbox.sluice(&[&["plan", &file][..], &late[..]].concat());
    run.exits(1)
        .stderr_has("object \"Touch\": its first instance would be scheduled at 2026-01-01T00:00:00, more than one day before the activation at 2026-01-03T00:00:00")
        .stderr_has("--allow-backfill");
    assert_eq!(run.stdout, "");
    // Exactly one day before is still allowed
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-02T00:00:00",
            "--until",
            "2026-01-01T02:00:00",
        ],
    );
    assert_eq!(instances.len(), 2);
    // And --allow-backfill lifts the guard: the missed intervals are planned
    let instances = plan_json(&sandbox, &file, &[&late[..], &["--allow-backfill"][..]].concat());
    let starts: Vec<&str> = instances
        .iter()
        .map(|instance| field(instance, "scheduledStartTime"))
        .collect();
    assert_eq!(starts, ["2026-01-01T00:00:00", "2026-01-01T01:00:00"]);
    // As does a start timestamp within the day, which skips what came before
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-03T00:00:00",
            "--from",
            "2026-01-02T23:00:00",
            "--until",
            "2026-01-03T01:00:00",
        ],
    );
    let skipped = instances
        .iter()
        .filter(|instance| instance["status"] == "SKIPPED")
        .count();
    assert_eq!((instances.len(), skipped), (49, 47));
}

#[test]
fn plan_refuses_a_definition_with_errors() {
    let sandbox = Sandbox::new("plan-errors");
    let file = sandbox.write("params.json", PARAMETERS);
    let run = sandbox.sluice(&["plan", &file, "--until", "2026-01-02T00:00:00"]);
    run.exits(1)
        .stderr_has("params.json:9:5: error: object \"myTable\": the parameter is required")
        .stderr_has("params.json: the definition has errors, so it cannot be activated; fix them and plan again");
    assert_eq!(run.stdout, "");
    // Malformed JSON too
    let broken = sandbox.write("broken.json", MALFORMED);
    sandbox
        .sluice(&["plan", &broken, "--until", "2026-01-02T00:00:00"])
        .exits(1)
        .stderr_has("broken.json:3:37: error: not valid JSON");
    // And the same definition plans once the value is given
    let instances = plan_json(
        &sandbox,
        &file,
        &[
            "--activated-at",
            "2026-01-01T00:00:00",
            "--until",
            "2026-01-02T00:00:00",
            "--param",
            "myTable=walls",
        ],
    );
    assert_eq!(instances.len(), 1, "an on-demand pipeline runs once per activation");
    assert_eq!(field(&instances[0], "scheduledStartTime"), "2026-01-01T00:00:00");
}

#[test]
fn plan_text_has_a_header_a_row_per_instance_and_a_summary() {
    let sandbox = Sandbox::new("plan-text");
    let file = sandbox.write("hourly.json", HOURLY);
    let run = sandbox.sluice(&[
        "plan",
        &file,
        "--activated-at",
        "2026-01-01T00:00:00",
        "--until",
        "2026-01-01T02:00:00",
    ]);
    run.exits(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "SCHEDULED START      SCHEDULED END        RUNS AT              STATUS                   OBJECT  TYPE",
            "2026-01-01T00:00:00  2026-01-01T01:00:00  2026-01-01T00:00:00  WAITING_ON_DEPENDENCIES  Touch   ShellCommandActivity",
            "2026-01-01T01:00:00  2026-01-01T02:00:00  2026-01-01T01:00:00  WAITING_ON_DEPENDENCIES  Touch   ShellCommandActivity",
            "hourly.json: 2 instances of 1 object before 2026-01-01T02:00:00",
        ]
    );
    // With nothing to plan, the header and the summary remain
    let run = sandbox.sluice(&[
        "plan",
        &file,
        "--activated-at",
        "2026-01-01T00:00:00",
        "--until",
        "2026-01-01",
    ]);
    run.exits(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("SCHEDULED START"));
    assert_eq!(
        lines[1],
        "hourly.json: 0 instances of 1 object before 2026-01-01T00:00:00"
    );
}

#[test]
fn plan_exits_2_for_bad_usage() {
    let sandbox = Sandbox::new("plan-usage");
    let file = sandbox.write("hourly.json", HOURLY);
    sandbox.sluice(&["plan", &file]).exits(2).stderr_has("--until");
    sandbox
        .sluice(&["plan", &file, "--until", "soon"])
        .exits(2)
        .stderr_has("\"soon\" is not a date-time");
    sandbox
        .sluice(&["plan", "nowhere.json", "--until", "2026-01-02"])
        .exits(2)
        .stderr_has("nowhere.json: cannot read");
    sandbox
        .sluice(&["plan", &file, "--until", "2026-01-02", "--format", "csv"])
        .exits(2);
}

#[test]
fn every_example_plans() {
    let sandbox = Sandbox::new("examples-plan");
    for example in examples() {
        let file = example.display().to_string();
        let instances = plan_json(
            &sandbox,
            &file,
            &[
                "--activated-at",
                "2026-01-01T00:00:00",
                "--until",
                "2026-01-03T00:00:00",
            ],
        );
        assert!(!instances.is_empty(), "{file} planned no instances");
        for pair in instances.windows(2) {
            assert!(
                field(&pair[0], "scheduledStartTime") <= field(&pair[1], "scheduledStartTime"),
                "{file}: out of order: {pair:?}"
            );
        }
        for instance in &instances {
            for key in PLAN_KEYS {
                assert!(instance[key].is_string(), "{file}: {key} missing in {instance}");
            }
        }
        // And in text, with the summary naming the file
        let run = sandbox.sluice(&[
            "plan",
            &file,
            "--activated-at",
            "2026-01-01T00:00:00",
            "--until",
            "2026-01-03T00:00:00",
        ]);
        run.exits(0)
            .stdout_has(&format!("{file}: {} instance", instances.len()));
    }
}

// ---------------------------------------------------------------------------------------
// Values files are files too, and readers may stop early.

#[test]
fn problems_in_a_values_file_are_reported_once_under_its_own_name() {
    // Given a values file with a null value, and two definitions
    let sandbox = Sandbox::new("bad-values");
    let values = sandbox.write("badvals.json", "{\"values\": {\n  \"myColour\": null\n}}\n");
    let first = sandbox.write("first.json", HOURLY);
    let second = sandbox.write("second.json", HOURLY);

    // When validating with it, the values file gets its own report and makes the run fail
    let run = sandbox.sluice(&["validate", &first, &second, "--values", &values]);
    run.exits(1)
        .stdout_has("badvals.json:2:15: error: object \"myColour\", field \"myColour\": the value is null");
    assert_eq!(run.stdout.matches("the value is null").count(), 1, "{}", run.stdout);
    assert!(!run.stdout.contains("first.json:2:15"), "{}", run.stdout);
    let run = sandbox.sluice(&["validate", &first, "--values", &values, "--format", "json"]);
    let lines = run.exits(1).json_lines();
    assert_eq!(lines[0]["file"], "badvals.json");
    assert_eq!(lines[0]["errored"], true);
    assert_eq!(lines[1]["file"], "first.json");

    // And plan and eval refuse it too
    sandbox
        .sluice(&[
            "plan",
            &first,
            "--until",
            "2026-01-01T02:00:00",
            "--activated-at",
            "2026-01-01T00:00:00",
            "--values",
            &values,
        ])
        .exits(1)
        .stderr_has("badvals.json:2:15: error");
    sandbox
        .sluice(&["eval", "x", "--values", &values])
        .exits(1)
        .stderr_has("badvals.json:2:15: error");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // Given a definition with thousands of findings, read by something that takes one line
    let sandbox = Sandbox::new("broken-pipe");
    let objects: Vec<String> = (0..20_000)
        .map(|index| format!("{{\"id\": \"O{index}\", \"type\": \"Nope\"}}"))
        .collect();
    let many = sandbox.write("many.json", &format!("{{\"objects\": [{}]}}", objects.join(",")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["validate", &many])
        .current_dir(&sandbox.root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // When the reader closes the pipe after the first line
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0_u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();

    // Then sluice stops quietly with the outcome of what it checked: no panic
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
}

#[test]
fn the_demo_says_what_is_missing_before_it_starts_anything() {
    let sandbox = Sandbox::new("demo-missing");
    let demo = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("demo")
            .args(args)
            .current_dir(&sandbox.root)
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stderr).unwrap())
    };
    // A folder without definitions
    std::fs::create_dir_all(sandbox.root.join("empty")).unwrap();
    let (code, stderr) = demo(&["--examples", "empty"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("empty holds no pipeline definitions"), "{stderr}");
    // A running sluice dev named without the emulator it uses
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo");
    let (code, stderr) = demo(&["--endpoint", "http://127.0.0.1:9", "--examples", examples]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("set AWS_ENDPOINT_URL"), "{stderr}");
}
