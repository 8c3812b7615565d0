//! What AWS Data Pipeline allows in each object type: fields, slot types, required fields
//! and groups (reference Appendix A, §2). Validation reads these tables; nothing else
//! should hard-code a type's fields.
//!
//! `id`, `name`, `type` and `parent` are on every object and are handled by validation
//! itself, so no table lists them. User fields (`my...`) are not in the tables either.

/// The kind of a type, which decides what a reference may point at and how it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    DataNode,
    Activity,
    Resource,
    Precondition,
    Database,
    DataFormat,
    Action,
    Schedule,
    /// Helper objects: ShellScriptConfig, EmrConfiguration, Property, EbsConfiguration,
    /// EbsBlockDeviceConfig, VolumeSpecification, HttpProxy.
    Utility,
}

impl Category {
    /// The phrase used in messages: "a data node", "an activity".
    pub fn described(self) -> &'static str {
        match self {
            Self::DataNode => "a data node",
            Self::Activity => "an activity",
            Self::Resource => "a resource (Ec2Resource or EmrCluster)",
            Self::Precondition => "a precondition",
            Self::Database => "a database",
            Self::DataFormat => "a data format",
            Self::Action => "an action (SnsAlarm or Terminate)",
            Self::Schedule => "a Schedule",
            Self::Utility => "a helper object",
        }
    }

    /// Objects that get instances and run: activities, data nodes, resources.
    pub fn is_runnable(self) -> bool {
        matches!(self, Self::Activity | Self::DataNode | Self::Resource)
    }
}

/// What a reference field may point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefTarget {
    /// Any object of the category.
    Category(Category),
    /// An object of exactly this type.
    Type(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotType {
    String,
    Integer,
    Double,
    /// `true` or `false`, any case.
    Boolean,
    /// `15 minutes`, `1 day` ...
    Period,
    /// `YYYY-MM-DDTHH:MM:SS` in UTC.
    DateTime,
    /// One of the listed values; matched without regard to case, as AWS accepted
    /// `CASCADE` and `cascade`, `retryAll` and `retryall`.
    Enumeration(&'static [&'static str]),
    /// A `{"ref": id}` to an object matching any of the targets.
    Ref(&'static [RefTarget]),
}

/// One field a type accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub slot: SlotType,
    /// Whether the field may hold several values (a JSON array, repeated keys in the API).
    pub multi: bool,
}

impl FieldSpec {
    const fn one(name: &'static str, slot: SlotType) -> Self {
        Self {
            name,
            slot,
            multi: false,
        }
    }

    /// The same field, taking several values.
    const fn many(self) -> Self {
        Self { multi: true, ..self }
    }
}

/// A requirement on which fields are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The field must be present.
    Field(&'static str),
    /// Exactly one of these fields must be present.
    ExactlyOneOf(&'static [&'static str]),
    /// At least one of these fields must be present.
    AnyOf(&'static [&'static str]),
    /// The field must be present unless `stage` is `false`: Hive activities build their
    /// `${input1}` / `${output1}` tables from the input and output nodes only when staging,
    /// and AWS's own samples run unstaged Hive scripts without them.
    FieldWhenStaged(&'static str),
}

impl Requirement {
    /// The fields the requirement talks about.
    pub fn fields(&self) -> &[&'static str] {
        match self {
            Self::Field(name) | Self::FieldWhenStaged(name) => std::slice::from_ref(name),
            Self::ExactlyOneOf(names) | Self::AnyOf(names) => names,
        }
    }
}

/// Everything validation knows about one `type`.
///
/// A type's fields come in two parts: `shared`, groups of fields it has in common with
/// other types of its family (the common fields of §2.1, the fields every resource has ...),
/// and `own`. Use [`TypeSpec::fields`] and [`TypeSpec::field`] to see both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeSpec {
    pub name: &'static str,
    pub category: Category,
    /// Groups of fields shared with other types.
    pub shared: &'static [&'static [FieldSpec]],
    /// Fields listed for this type alone.
    pub own: &'static [FieldSpec],
    pub requirements: &'static [Requirement],
    /// Runtime (`@`) and runtime-written fields an expression may read on this type,
    /// beyond the system fields every object has ([`SYSTEM_FIELDS`]).
    pub runtime_fields: &'static [&'static str],
    /// AWS required exactly one of `runsOn` / `workerGroup` on this type (every activity).
    /// Sluice runs an activity that has neither inside a Lambda, so this is not a
    /// requirement: validation only warns that the definition relies on a Sluice extension.
    pub needs_runner: bool,
    /// AWS marks the type deprecated (MySqlDataNode); validation warns with this advice.
    pub deprecated: Option<&'static str>,
}

impl TypeSpec {
    /// Every field of the type: the shared groups, then its own fields.
    pub fn fields(&self) -> impl Iterator<Item = &'static FieldSpec> + use<> {
        let (shared, own) = (self.shared, self.own);
        shared.iter().flat_map(|group| group.iter()).chain(own)
    }

    /// The field called `name` (exact, case-sensitive, as AWS spells it).
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().find(|field| field.name == name)
    }

    /// Whether an expression may read `name` on an object of this type at run time:
    /// one of its runtime fields or a system field.
    pub fn has_runtime_field(&self, name: &str) -> bool {
        self.runtime_fields.contains(&name) || SYSTEM_FIELDS.contains(&name)
    }
}

/// Fields the service sets on every object.
pub const SYSTEM_FIELDS: &[&str] = &["@error", "@pipelineId", "@sphere", "@id"];

/// The spec of the type called `name`, exact and case-sensitive like AWS (`S3DataNode`, not
/// `s3datanode`).
pub fn type_spec(name: &str) -> Option<&'static TypeSpec> {
    TYPES.iter().find(|spec| spec.name == name)
}

/// The names of every type, in table order.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|spec| spec.name)
}

// ---------------------------------------------------------------------------------------
// Allowed values of enumerations (matched case-insensitively by validation).

pub const SCHEDULE_TYPES: &[&str] = &["cron", "timeseries", "ondemand"];
pub const FAILURE_AND_RERUN_MODES: &[&str] = &["cascade", "none"];
pub const COMPRESSIONS: &[&str] = &["none", "gzip"];
pub const S3_ENCRYPTION_TYPES: &[&str] = &["SERVER_SIDE_ENCRYPTION", "NONE"];
pub const INSERT_MODES: &[&str] = &["KEEP_EXISTING", "OVERWRITE_EXISTING", "TRUNCATE", "APPEND"];
pub const ACTIONS_ON_RESOURCE_FAILURE: &[&str] = &["retryall", "retrynone"];
pub const ACTIONS_ON_TASK_FAILURE: &[&str] = &["continue", "terminate"];
pub const HADOOP_SCHEDULER_TYPES: &[&str] = &[
    "PARALLEL_FAIR_SCHEDULING",
    "PARALLEL_CAPACITY_SCHEDULING",
    "DEFAULT_SCHEDULER",
];
pub const START_ATS: &[&str] = &["FIRST_ACTIVATION_DATE_TIME", "ONDEMAND_ACTIVATION_TIME"];

// ---------------------------------------------------------------------------------------
// Reference targets.

const TO_SCHEDULE: &[RefTarget] = &[RefTarget::Type("Schedule")];
const TO_RESOURCE: &[RefTarget] = &[RefTarget::Category(Category::Resource)];
const TO_DATA_NODE: &[RefTarget] = &[RefTarget::Category(Category::DataNode)];
const TO_PRECONDITION: &[RefTarget] = &[RefTarget::Category(Category::Precondition)];
const TO_ACTION: &[RefTarget] = &[RefTarget::Category(Category::Action)];
const TO_DATABASE: &[RefTarget] = &[RefTarget::Category(Category::Database)];
const TO_DATA_FORMAT: &[RefTarget] = &[RefTarget::Category(Category::DataFormat)];
/// `dependsOn`: the DG describes it as a dependency on "another runnable object" (§2.1).
const TO_RUNNABLE: &[RefTarget] = &[
    RefTarget::Category(Category::Activity),
    RefTarget::Category(Category::DataNode),
    RefTarget::Category(Category::Resource),
];
const TO_HTTP_PROXY: &[RefTarget] = &[RefTarget::Type("HttpProxy")];
const TO_EMR_CONFIGURATION: &[RefTarget] = &[RefTarget::Type("EmrConfiguration")];
const TO_PROPERTY: &[RefTarget] = &[RefTarget::Type("Property")];
const TO_SHELL_SCRIPT_CONFIG: &[RefTarget] = &[RefTarget::Type("ShellScriptConfig")];
const TO_EBS_CONFIGURATION: &[RefTarget] = &[RefTarget::Type("EbsConfiguration")];
const TO_EBS_BLOCK_DEVICE_CONFIG: &[RefTarget] = &[RefTarget::Type("EbsBlockDeviceConfig")];
const TO_VOLUME_SPECIFICATION: &[RefTarget] = &[RefTarget::Type("VolumeSpecification")];

// ---------------------------------------------------------------------------------------
// Field constructors.

const fn string(name: &'static str) -> FieldSpec {
    FieldSpec::one(name, SlotType::String)
}

const fn integer(name: &'static str) -> FieldSpec {
    FieldSpec::one(name, SlotType::Integer)
}

const fn double(name: &'static str) -> FieldSpec {
    FieldSpec::one(name, SlotType::Double)
}

const fn boolean(name: &'static str) -> FieldSpec {
    FieldSpec::one(name, SlotType::Boolean)
}

const fn period(name: &'static str) -> FieldSpec {
    FieldSpec::one(name, SlotType::Period)
}

const fn date_time(name: &'static str) -> FieldSpec {
    FieldSpec::one(name, SlotType::DateTime)
}

const fn enumeration(name: &'static str, values: &'static [&'static str]) -> FieldSpec {
    FieldSpec::one(name, SlotType::Enumeration(values))
}

const fn reference(name: &'static str, targets: &'static [RefTarget]) -> FieldSpec {
    FieldSpec::one(name, SlotType::Ref(targets))
}

// ---------------------------------------------------------------------------------------
// Fields several types have, defined once.

const ROLE: FieldSpec = string("role");
const REGION: FieldSpec = string("region"); // AWS says Enumeration, but any region name is fine.
const TABLE_NAME: FieldSpec = string("tableName");
const DATA_FORMAT: FieldSpec = reference("dataFormat", TO_DATA_FORMAT);
const DATABASE: FieldSpec = reference("database", TO_DATABASE);
const CREATE_TABLE_SQL: FieldSpec = string("createTableSql");
const SCHEMA_NAME: FieldSpec = string("schemaName");
const COMMAND: FieldSpec = string("command");
const SCRIPT: FieldSpec = string("script");
const SCRIPT_URI: FieldSpec = string("scriptUri");
const SCRIPT_ARGUMENT: FieldSpec = string("scriptArgument").many();
const SCRIPT_VARIABLE: FieldSpec = string("scriptVariable").many();
const STAGE: FieldSpec = boolean("stage");
const STDOUT: FieldSpec = string("stdout");
const STDERR: FieldSpec = string("stderr");
const QUEUE: FieldSpec = string("queue");
const HADOOP_QUEUE: FieldSpec = string("hadoopQueue");
const PRE_ACTIVITY_TASK_CONFIG: FieldSpec = reference("preActivityTaskConfig", TO_SHELL_SCRIPT_CONFIG);
const POST_ACTIVITY_TASK_CONFIG: FieldSpec = reference("postActivityTaskConfig", TO_SHELL_SCRIPT_CONFIG);
const RESIZE_CLUSTER_BEFORE_RUNNING: FieldSpec = boolean("resizeClusterBeforeRunning");
const RESIZE_CLUSTER_MAX_INSTANCES: FieldSpec = integer("resizeClusterMaxInstances");
/// Not in the current DG tables, but an older DG page (HiveCopyActivity) and the samples
/// (PigActivity) use it: where the evaluated Hive/Pig script is saved for troubleshooting.
const GENERATED_SCRIPTS_PATH: FieldSpec = string("generatedScriptsPath");
const USERNAME: FieldSpec = string("username");
const PASSWORD: FieldSpec = string("*password");
const CONNECTION_STRING: FieldSpec = string("connectionString");
const DATABASE_NAME: FieldSpec = string("databaseName");
const JDBC_DRIVER_JAR_URI: FieldSpec = string("jdbcDriverJarUri");
const JDBC_PROPERTIES: FieldSpec = string("jdbcProperties").many();
const COLUMN: FieldSpec = string("column").many();
const COLUMN_SEPARATOR: FieldSpec = string("columnSeparator");
const RECORD_SEPARATOR: FieldSpec = string("recordSeparator");
const ESCAPE_CHAR: FieldSpec = string("escapeChar");
const EMR_CONFIGURATIONS: FieldSpec = reference("configuration", TO_EMR_CONFIGURATION).many();

// ---------------------------------------------------------------------------------------
// Groups of fields shared by a family of types.

/// Retry, timeout and action fields of runnable objects and preconditions (§2.1, §2.6).
const ATTEMPT_FIELDS: &[FieldSpec] = &[
    string("attemptStatus"),
    period("attemptTimeout"),
    enumeration("failureAndRerunMode", FAILURE_AND_RERUN_MODES),
    period("lateAfterTimeout"),
    integer("maximumRetries"),
    reference("onFail", TO_ACTION).many(),
    reference("onLateAction", TO_ACTION).many(),
    reference("onSuccess", TO_ACTION).many(),
    period("reportProgressTimeout"),
    period("retryDelay"),
    // Sluice extensions (AWS retried at a fixed delay): each retry waits
    // `retryBackoffMultiplier` times the one before, at most `retryMaximumDelay`, plus up to
    // `retryJitter` (a fraction) of it at random.
    double("retryBackoffMultiplier"),
    period("retryMaximumDelay"),
    double("retryJitter"),
];

/// Fields that put a runnable object on a schedule (§2.1).
const SCHEDULING_FIELDS: &[FieldSpec] = &[
    reference("schedule", TO_SCHEDULE),
    enumeration("scheduleType", SCHEDULE_TYPES),
    integer("maxActiveInstances"),
    string("pipelineLogUri"),
];

/// What must be done or true before a data node or an activity can run (§2.1). Resources
/// do not have these in their tables.
const GATE_FIELDS: &[FieldSpec] = &[
    reference("dependsOn", TO_RUNNABLE).many(),
    reference("precondition", TO_PRECONDITION).many(),
];

/// Where the work of a data node (its user-managed preconditions) or an activity runs
/// (§2.1). AWS's tables list them on resources too, but say they are not allowed there.
const RUNNER_FIELDS: &[FieldSpec] = &[reference("runsOn", TO_RESOURCE), string("workerGroup")];

/// An activity's data (§2.1, §2.4).
const DATA_FLOW_FIELDS: &[FieldSpec] = &[
    reference("input", TO_DATA_NODE).many(),
    reference("output", TO_DATA_NODE).many(),
];

/// Fields both Ec2Resource and EmrCluster have (§2.5).
const RESOURCE_FIELDS: &[FieldSpec] = &[
    enumeration("actionOnResourceFailure", ACTIONS_ON_RESOURCE_FAILURE),
    enumeration("actionOnTaskFailure", ACTIONS_ON_TASK_FAILURE),
    string("availabilityZone"),
    reference("httpProxy", TO_HTTP_PROXY),
    period("initTimeout"),
    string("keyPair"),
    REGION,
    string("resourceRole"),
    ROLE,
    string("subnetId"),
    // AWS's EmrCluster table says Integer (hours), but every example writes a period
    // ("2 Hours"), as Ec2Resource's table does.
    period("terminateAfter"),
    boolean("useOnDemandOnLastAttempt"),
];

/// `preconditionTimeout`, only on preconditions (§2.1).
const PRECONDITION_FIELDS: &[FieldSpec] = &[period("preconditionTimeout")];

const SQL_DATA_NODE_FIELDS: &[FieldSpec] = &[
    CREATE_TABLE_SQL,
    DATABASE,
    string("insertQuery"),
    SCHEMA_NAME,
    string("selectQuery"),
    string("table"),
];

const DATA_NODE: &[&[FieldSpec]] = &[ATTEMPT_FIELDS, SCHEDULING_FIELDS, GATE_FIELDS, RUNNER_FIELDS];
const ACTIVITY: &[&[FieldSpec]] = &[
    ATTEMPT_FIELDS,
    SCHEDULING_FIELDS,
    GATE_FIELDS,
    RUNNER_FIELDS,
    DATA_FLOW_FIELDS,
];
const RESOURCE: &[&[FieldSpec]] = &[ATTEMPT_FIELDS, SCHEDULING_FIELDS, RESOURCE_FIELDS];
const PRECONDITION: &[&[FieldSpec]] = &[ATTEMPT_FIELDS, PRECONDITION_FIELDS];
const NONE: &[&[FieldSpec]] = &[];

// ---------------------------------------------------------------------------------------
// Runtime fields (Appendix A).

/// The standard runtime set R of runnable objects, plus any extra fields given.
macro_rules! runnable_runtime_fields {
    ($($extra:literal),* $(,)?) => {
        &[
            "@activeInstances",
            "@actualEndTime",
            "@actualStartTime",
            "@cascadeFailedOn",
            "@finishedTime",
            "@healthStatus",
            "@healthStatusFromInstanceId",
            "@healthStatusUpdatedTime",
            "@lastDeactivatedTime",
            "@latestCompletedRunTime",
            "@latestRunTime",
            "@nextRunTime",
            "@scheduledEndTime",
            "@scheduledStartTime",
            "@status",
            "@version",
            "@waitingOn",
            "cancellationReason",
            "emrStepLog",
            "errorId",
            "errorMessage",
            "errorStackTrace",
            "hadoopJobLog",
            "hostname",
            "reportProgressTime",
            $($extra,)*
        ]
    };
}

/// The runtime fields every precondition table lists, plus any extra fields given.
macro_rules! precondition_runtime_fields {
    ($($extra:literal),* $(,)?) => {
        &[
            "@activeInstances",
            "@actualEndTime",
            "@actualStartTime",
            "@cascadeFailedOn",
            "@scheduledEndTime",
            "@scheduledStartTime",
            "@status",
            "@version",
            "@waitingOn",
            "cancellationReason",
            "emrStepLog",
            "errorId",
            "errorMessage",
            "errorStackTrace",
            "hadoopJobLog",
            "hostname",
            "node",
            "reportProgressTime",
            $($extra,)*
        ]
    };
}

const RUNNABLE_RUNTIME: &[&str] = runnable_runtime_fields!();
/// `@resourceStatus` is not in the tables but the DG names it as an example runtime field.
const RESOURCE_RUNTIME: &[&str] = runnable_runtime_fields!("@failureReason", "@resourceStatus");
/// System-managed preconditions also count their retries.
const CHECKED_PRECONDITION_RUNTIME: &[&str] = precondition_runtime_fields!("currentRetryCount", "lastRetryTime");
/// Exists and ShellCommandPrecondition: AWS's tables list no retry counters.
const PRECONDITION_RUNTIME: &[&str] = precondition_runtime_fields!();
const ACTION_RUNTIME: &[&str] = &["node", "@version"];
const VERSION_ONLY: &[&str] = &["@version"];
const SCHEDULE_RUNTIME: &[&str] = &["@version", "@firstActivationTime"];

// ---------------------------------------------------------------------------------------
// Requirements used by several types.

const SHELL_COMMAND: Requirement = Requirement::ExactlyOneOf(&["command", "scriptUri"]);
const SQL_OR_PIG_SCRIPT: Requirement = Requirement::ExactlyOneOf(&["script", "scriptUri"]);

// ---------------------------------------------------------------------------------------
// The types.

/// Every object type AWS Data Pipeline accepts (reference §2, Appendix A), plus the EMR
/// EBS helper types.
pub static TYPES: &[TypeSpec] = &[
    // Data nodes (§2.3).
    TypeSpec {
        name: "S3DataNode",
        category: Category::DataNode,
        shared: DATA_NODE,
        own: &[
            enumeration("compression", COMPRESSIONS),
            DATA_FORMAT,
            string("directoryPath"),
            string("filePath"),
            string("manifestFilePath"),
            enumeration("s3EncryptionType", S3_ENCRYPTION_TYPES),
        ],
        // AWS's table has no required field, but a node without a location names no data
        // and AWS's validator refused it.
        requirements: &[Requirement::AnyOf(&["filePath", "directoryPath", "manifestFilePath"])],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "DynamoDBDataNode",
        category: Category::DataNode,
        shared: DATA_NODE,
        own: &[
            DATA_FORMAT,
            double("readThroughputPercent"),
            REGION,
            TABLE_NAME,
            double("writeThroughputPercent"),
        ],
        requirements: &[Requirement::Field("tableName")],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "SqlDataNode",
        category: Category::DataNode,
        shared: DATA_NODE,
        own: SQL_DATA_NODE_FIELDS,
        requirements: &[Requirement::Field("table")],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "MySqlDataNode",
        category: Category::DataNode,
        shared: &[
            ATTEMPT_FIELDS,
            SCHEDULING_FIELDS,
            GATE_FIELDS,
            RUNNER_FIELDS,
            SQL_DATA_NODE_FIELDS,
        ],
        // Legacy definitions (and the samples) put the connection on the node itself.
        own: &[CONNECTION_STRING, PASSWORD, USERNAME],
        requirements: &[Requirement::Field("table")],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: false,
        deprecated: Some(
            "MySqlDataNode is deprecated: use an SqlDataNode whose database refers to an RdsDatabase or JdbcDatabase",
        ),
    },
    TypeSpec {
        name: "RedshiftDataNode",
        category: Category::DataNode,
        shared: DATA_NODE,
        own: &[
            CREATE_TABLE_SQL,
            DATABASE,
            // A JSON list in the samples ("primaryKeys": ["a", "b"]).
            string("primaryKeys").many(),
            SCHEMA_NAME,
            TABLE_NAME,
        ],
        requirements: &[Requirement::Field("database"), Requirement::Field("tableName")],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    // Activities (§2.4).
    TypeSpec {
        name: "CopyActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[],
        requirements: &[],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "EmrActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[
            string("postStepCommand").many(),
            string("preStepCommand").many(),
            RESIZE_CLUSTER_BEFORE_RUNNING,
            RESIZE_CLUSTER_MAX_INSTANCES,
            string("step").many(),
        ],
        requirements: &[],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "HadoopActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[
            string("argument").many(),
            HADOOP_QUEUE,
            string("jarUri"),
            string("mainClass"),
            POST_ACTIVITY_TASK_CONFIG,
            PRE_ACTIVITY_TASK_CONFIG,
        ],
        requirements: &[Requirement::Field("jarUri")],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "HiveActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[
            HADOOP_QUEUE,
            string("hiveScript"),
            POST_ACTIVITY_TASK_CONFIG,
            PRE_ACTIVITY_TASK_CONFIG,
            RESIZE_CLUSTER_BEFORE_RUNNING,
            RESIZE_CLUSTER_MAX_INSTANCES,
            SCRIPT_URI,
            SCRIPT_VARIABLE,
            STAGE,
        ],
        // AWS's odd "Required Group: runsOn, workerGroup, input, output": input and output
        // are required; the runner part is `needs_runner`.
        requirements: &[
            Requirement::ExactlyOneOf(&["hiveScript", "scriptUri"]),
            Requirement::FieldWhenStaged("input"),
            Requirement::FieldWhenStaged("output"),
        ],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "HiveCopyActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[
            string("filterSql"),
            GENERATED_SCRIPTS_PATH,
            POST_ACTIVITY_TASK_CONFIG,
            PRE_ACTIVITY_TASK_CONFIG,
            RESIZE_CLUSTER_BEFORE_RUNNING,
            RESIZE_CLUSTER_MAX_INSTANCES,
        ],
        requirements: &[],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "PigActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[
            GENERATED_SCRIPTS_PATH,
            POST_ACTIVITY_TASK_CONFIG,
            PRE_ACTIVITY_TASK_CONFIG,
            RESIZE_CLUSTER_BEFORE_RUNNING,
            RESIZE_CLUSTER_MAX_INSTANCES,
            SCRIPT,
            SCRIPT_URI,
            SCRIPT_VARIABLE,
            STAGE,
        ],
        requirements: &[SQL_OR_PIG_SCRIPT],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "RedshiftCopyActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[
            string("commandOptions").many(),
            enumeration("insertMode", INSERT_MODES),
            QUEUE,
            string("transformSql"),
        ],
        requirements: &[Requirement::Field("insertMode")],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "ShellCommandActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[COMMAND, SCRIPT_ARGUMENT, SCRIPT_URI, STAGE, STDERR, STDOUT],
        requirements: &[SHELL_COMMAND],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    TypeSpec {
        name: "SqlActivity",
        category: Category::Activity,
        shared: ACTIVITY,
        own: &[DATABASE, QUEUE, SCRIPT, SCRIPT_ARGUMENT, SCRIPT_URI],
        requirements: &[Requirement::Field("database"), SQL_OR_PIG_SCRIPT],
        runtime_fields: RUNNABLE_RUNTIME,
        needs_runner: true,
        deprecated: None,
    },
    // Resources (§2.5).
    TypeSpec {
        name: "Ec2Resource",
        category: Category::Resource,
        shared: RESOURCE,
        own: &[
            boolean("associatePublicIpAddress"),
            string("imageId"),
            integer("instanceCount"), // deprecated by AWS, still accepted
            string("instanceType"),
            integer("minInstanceCount"), // deprecated by AWS, still accepted
            string("runAsUser"),
            string("securityGroupIds").many(),
            string("securityGroups").many(),
            string("spotBidPrice"),
            // Sluice extensions: `marketType` "spot" asks for spot capacity without a price
            // cap (EC2 then pays at most the on-demand price); after
            // `onDemandAfterSpotFailures` spot launches failed, the next is on demand.
            string("marketType"),
            integer("onDemandAfterSpotFailures"),
        ],
        requirements: &[Requirement::Field("resourceRole"), Requirement::Field("role")],
        runtime_fields: RESOURCE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "EmrCluster",
        category: Category::Resource,
        shared: RESOURCE,
        own: &[
            string("additionalMasterSecurityGroupIds").many(),
            string("additionalSlaveSecurityGroupIds").many(),
            string("amiVersion"),
            string("applications").many(),
            string("bootstrapAction").many(),
            // A JSON list in the samples, like EMR's own Configurations.
            EMR_CONFIGURATIONS,
            string("coreInstanceBidPrice"),
            integer("coreInstanceCount"),
            string("coreInstanceType"),
            // EMR takes a list of Configurations per instance group too.
            reference("coreGroupConfiguration", TO_EMR_CONFIGURATION).many(),
            reference("coreEbsConfiguration", TO_EBS_CONFIGURATION),
            // Named by the guide's logging page (reference §3.10), absent from its field table.
            string("emrLogUri"),
            string("emrManagedMasterSecurityGroupId"),
            string("emrManagedSlaveSecurityGroupId"),
            string("enableDebugging"),
            enumeration("hadoopSchedulerType", HADOOP_SCHEDULER_TYPES),
            string("masterInstanceBidPrice"),
            string("masterInstanceType"),
            reference("masterGroupConfiguration", TO_EMR_CONFIGURATION).many(),
            reference("masterEbsConfiguration", TO_EBS_CONFIGURATION),
            string("releaseLabel"),
            string("serviceAccessSecurityGroupId"),
            string("supportedProducts"),
            string("taskInstanceBidPrice"),
            integer("taskInstanceCount"),
            string("taskInstanceType"),
            reference("taskGroupConfiguration", TO_EMR_CONFIGURATION).many(),
            reference("taskEbsConfiguration", TO_EBS_CONFIGURATION),
        ],
        requirements: &[],
        runtime_fields: RESOURCE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    // Preconditions (§2.6).
    TypeSpec {
        name: "DynamoDBDataExists",
        category: Category::Precondition,
        shared: PRECONDITION,
        own: &[ROLE, TABLE_NAME],
        requirements: &[Requirement::Field("role"), Requirement::Field("tableName")],
        runtime_fields: CHECKED_PRECONDITION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "DynamoDBTableExists",
        category: Category::Precondition,
        shared: PRECONDITION,
        own: &[ROLE, TABLE_NAME],
        requirements: &[Requirement::Field("role"), Requirement::Field("tableName")],
        runtime_fields: CHECKED_PRECONDITION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "Exists",
        category: Category::Precondition,
        shared: PRECONDITION,
        own: &[],
        requirements: &[],
        runtime_fields: PRECONDITION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "S3KeyExists",
        category: Category::Precondition,
        shared: PRECONDITION,
        own: &[ROLE, string("s3Key")],
        requirements: &[Requirement::Field("role"), Requirement::Field("s3Key")],
        runtime_fields: CHECKED_PRECONDITION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "S3PrefixNotEmpty",
        category: Category::Precondition,
        shared: PRECONDITION,
        own: &[ROLE, string("s3Prefix")],
        requirements: &[Requirement::Field("role"), Requirement::Field("s3Prefix")],
        runtime_fields: CHECKED_PRECONDITION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "ShellCommandPrecondition",
        category: Category::Precondition,
        shared: PRECONDITION,
        own: &[COMMAND, SCRIPT_ARGUMENT, SCRIPT_URI, STDERR, STDOUT],
        requirements: &[SHELL_COMMAND],
        runtime_fields: PRECONDITION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    // Databases (§2.7).
    TypeSpec {
        name: "JdbcDatabase",
        category: Category::Database,
        shared: NONE,
        own: &[
            CONNECTION_STRING,
            DATABASE_NAME,
            string("jdbcDriverClass"),
            JDBC_DRIVER_JAR_URI,
            JDBC_PROPERTIES,
            PASSWORD,
            USERNAME,
        ],
        requirements: &[
            Requirement::Field("connectionString"),
            Requirement::Field("jdbcDriverClass"),
            Requirement::Field("*password"),
            Requirement::Field("username"),
        ],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "RdsDatabase",
        category: Category::Database,
        shared: NONE,
        own: &[
            DATABASE_NAME,
            JDBC_DRIVER_JAR_URI,
            JDBC_PROPERTIES,
            PASSWORD,
            string("rdsInstanceId"),
            REGION,
            USERNAME,
        ],
        requirements: &[
            Requirement::Field("*password"),
            Requirement::Field("rdsInstanceId"),
            Requirement::Field("username"),
        ],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "RedshiftDatabase",
        category: Category::Database,
        shared: NONE,
        own: &[
            string("clusterId"),
            CONNECTION_STRING,
            DATABASE_NAME,
            JDBC_PROPERTIES,
            PASSWORD,
            REGION,
            USERNAME,
        ],
        requirements: &[
            Requirement::Field("*password"),
            Requirement::Field("username"),
            Requirement::ExactlyOneOf(&["clusterId", "connectionString"]),
        ],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    // Data formats (§2.8).
    TypeSpec {
        name: "CSV",
        category: Category::DataFormat,
        shared: NONE,
        own: &[COLUMN, ESCAPE_CHAR],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "TSV",
        category: Category::DataFormat,
        shared: NONE,
        own: &[COLUMN, COLUMN_SEPARATOR, ESCAPE_CHAR, RECORD_SEPARATOR],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "Custom",
        category: Category::DataFormat,
        shared: NONE,
        own: &[COLUMN, COLUMN_SEPARATOR, RECORD_SEPARATOR],
        requirements: &[Requirement::Field("columnSeparator")],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "RegEx",
        category: Category::DataFormat,
        shared: NONE,
        own: &[COLUMN, string("inputRegEx"), string("outputFormat")],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "DynamoDBDataFormat",
        category: Category::DataFormat,
        shared: NONE,
        own: &[COLUMN],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "DynamoDBExportDataFormat",
        category: Category::DataFormat,
        shared: NONE,
        own: &[COLUMN],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    // Actions (§2.9).
    TypeSpec {
        name: "SnsAlarm",
        category: Category::Action,
        shared: NONE,
        own: &[string("message"), ROLE, string("subject"), string("topicArn")],
        requirements: &[
            Requirement::Field("message"),
            Requirement::Field("role"),
            Requirement::Field("subject"),
            Requirement::Field("topicArn"),
        ],
        runtime_fields: ACTION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "Terminate",
        category: Category::Action,
        shared: NONE,
        own: &[],
        requirements: &[],
        runtime_fields: ACTION_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    // Schedule (§2.2).
    TypeSpec {
        name: "Schedule",
        category: Category::Schedule,
        shared: NONE,
        own: &[
            date_time("endDateTime"),
            integer("occurrences"),
            // A period, or `ONDEMAND_PERIOD` for on-demand schedules: validation parses it.
            string("period"),
            enumeration("startAt", START_ATS),
            date_time("startDateTime"),
        ],
        requirements: &[
            Requirement::Field("period"),
            Requirement::ExactlyOneOf(&["startAt", "startDateTime"]),
        ],
        runtime_fields: SCHEDULE_RUNTIME,
        needs_runner: false,
        deprecated: None,
    },
    // Utilities and resource helpers (§2, §2.5).
    TypeSpec {
        name: "ShellScriptConfig",
        category: Category::Utility,
        shared: NONE,
        own: &[SCRIPT_ARGUMENT, SCRIPT_URI],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "EmrConfiguration",
        category: Category::Utility,
        shared: NONE,
        own: &[
            string("classification"),
            EMR_CONFIGURATIONS,
            reference("property", TO_PROPERTY).many(),
        ],
        requirements: &[Requirement::Field("classification")],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "Property",
        category: Category::Utility,
        shared: NONE,
        own: &[string("key"), string("value")],
        requirements: &[Requirement::Field("key"), Requirement::Field("value")],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "HttpProxy",
        category: Category::Utility,
        shared: NONE,
        own: &[
            string("hostname"),
            PASSWORD,
            string("port"),
            boolean("s3NoProxy"),
            USERNAME,
            string("windowsDomain"),
            string("windowsWorkgroup"),
        ],
        requirements: &[Requirement::Field("hostname"), Requirement::Field("port")],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "EbsConfiguration",
        category: Category::Utility,
        shared: NONE,
        own: &[
            boolean("ebsOptimized"),
            reference("ebsBlockDeviceConfig", TO_EBS_BLOCK_DEVICE_CONFIG).many(),
        ],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "EbsBlockDeviceConfig",
        category: Category::Utility,
        shared: NONE,
        own: &[
            integer("volumesPerInstance"),
            reference("volumeSpecification", TO_VOLUME_SPECIFICATION),
        ],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
    TypeSpec {
        name: "VolumeSpecification",
        category: Category::Utility,
        shared: NONE,
        own: &[string("volumeType"), integer("sizeInGB"), integer("iops")],
        requirements: &[],
        runtime_fields: VERSION_ONLY,
        needs_runner: false,
        deprecated: None,
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    /// Appendix A's types with their §2 category, then the EMR EBS helpers.
    const EXPECTED_TYPES: &[(&str, Category)] = &[
        ("S3DataNode", Category::DataNode),
        ("DynamoDBDataNode", Category::DataNode),
        ("SqlDataNode", Category::DataNode),
        ("MySqlDataNode", Category::DataNode),
        ("RedshiftDataNode", Category::DataNode),
        ("CopyActivity", Category::Activity),
        ("EmrActivity", Category::Activity),
        ("HadoopActivity", Category::Activity),
        ("HiveActivity", Category::Activity),
        ("HiveCopyActivity", Category::Activity),
        ("PigActivity", Category::Activity),
        ("RedshiftCopyActivity", Category::Activity),
        ("ShellCommandActivity", Category::Activity),
        ("SqlActivity", Category::Activity),
        ("Ec2Resource", Category::Resource),
        ("EmrCluster", Category::Resource),
        ("HttpProxy", Category::Utility),
        ("DynamoDBDataExists", Category::Precondition),
        ("DynamoDBTableExists", Category::Precondition),
        ("Exists", Category::Precondition),
        ("S3KeyExists", Category::Precondition),
        ("S3PrefixNotEmpty", Category::Precondition),
        ("ShellCommandPrecondition", Category::Precondition),
        ("JdbcDatabase", Category::Database),
        ("RdsDatabase", Category::Database),
        ("RedshiftDatabase", Category::Database),
        ("CSV", Category::DataFormat),
        ("TSV", Category::DataFormat),
        ("Custom", Category::DataFormat),
        ("RegEx", Category::DataFormat),
        ("DynamoDBDataFormat", Category::DataFormat),
        ("DynamoDBExportDataFormat", Category::DataFormat),
        ("SnsAlarm", Category::Action),
        ("Terminate", Category::Action),
        ("Schedule", Category::Schedule),
        ("ShellScriptConfig", Category::Utility),
        ("EmrConfiguration", Category::Utility),
        ("Property", Category::Utility),
        ("EbsConfiguration", Category::Utility),
        ("EbsBlockDeviceConfig", Category::Utility),
        ("VolumeSpecification", Category::Utility),
    ];

    /// Fields that take several values wherever a type has them.
    const MULTI_VALUED: &[&str] = &[
        "input",
        "output",
        "dependsOn",
        "precondition",
        "onFail",
        "onSuccess",
        "onLateAction",
        "step",
        "preStepCommand",
        "postStepCommand",
        "bootstrapAction",
        "scriptArgument",
        "scriptVariable",
        "argument",
        "commandOptions",
        "column",
        "jdbcProperties",
        "applications",
        "securityGroups",
        "securityGroupIds",
        "additionalMasterSecurityGroupIds",
        "additionalSlaveSecurityGroupIds",
        "property",
        "configuration",
        "ebsBlockDeviceConfig",
        "primaryKeys",
    ];

    fn spec(name: &str) -> &'static TypeSpec {
        type_spec(name).unwrap_or_else(|| panic!("{name} is missing from TYPES"))
    }

    fn field(type_name: &str, field_name: &str) -> &'static FieldSpec {
        spec(type_name)
            .field(field_name)
            .unwrap_or_else(|| panic!("{type_name} has no field {field_name}"))
    }

    #[test]
    fn every_appendix_a_type_and_ebs_helper_is_in_the_table_with_its_category() {
        for &(name, category) in EXPECTED_TYPES {
            assert_eq!(spec(name).category, category, "{name}");
        }
        assert_eq!(
            TYPES.len(),
            EXPECTED_TYPES.len(),
            "TYPES has types the reference does not list"
        );
    }

    #[test]
    fn type_names_are_unique_and_listed_in_table_order() {
        let names: Vec<&str> = type_names().collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names, TYPES.iter().map(|spec| spec.name).collect::<Vec<_>>());
    }

    #[test]
    fn type_spec_is_case_sensitive_like_aws() {
        assert_eq!(spec("S3DataNode").name, "S3DataNode");
        for wrong in [
            "s3datanode",
            "S3DATANODE",
            "s3DataNode",
            "csv",
            "schedule",
            " Schedule",
            "Schedule ",
        ] {
            assert!(type_spec(wrong).is_none(), "{wrong:?} should not be a type");
        }
    }

    #[test]
    fn no_type_lists_a_field_twice() {
        for spec in TYPES {
            let mut seen = HashSet::new();
            for field in spec.fields() {
                assert!(seen.insert(field.name), "{} lists {} twice", spec.name, field.name);
            }
        }
    }

    #[test]
    fn no_type_lists_fields_that_validation_handles_on_every_object() {
        for spec in TYPES {
            for field in spec.fields() {
                assert!(
                    !["id", "name", "type", "parent"].contains(&field.name),
                    "{} lists {}",
                    spec.name,
                    field.name
                );
                assert!(
                    !field.name.starts_with('@'),
                    "{} lists runtime field {}",
                    spec.name,
                    field.name
                );
                assert!(
                    !field.name.starts_with("my"),
                    "{} lists user field {}",
                    spec.name,
                    field.name
                );
            }
        }
    }

    #[test]
    fn field_finds_shared_and_own_fields_and_nothing_else() {
        let activity = spec("ShellCommandActivity");
        assert_eq!(
            activity.field("retryDelay").map(|field| field.slot),
            Some(SlotType::Period)
        );
        assert_eq!(
            activity.field("command").map(|field| field.slot),
            Some(SlotType::String)
        );
        assert!(activity.field("Command").is_none());
        assert!(activity.field("tableName").is_none());
        assert_eq!(
            activity.fields().count(),
            activity.shared.iter().map(|group| group.len()).sum::<usize>() + 6
        );
    }

    #[test]
    fn every_requirement_names_fields_the_type_has() {
        for spec in TYPES {
            for requirement in spec.requirements {
                if let Requirement::ExactlyOneOf(names) | Requirement::AnyOf(names) = requirement {
                    assert!(
                        names.len() >= 2,
                        "{}: a group of one field is a Field requirement",
                        spec.name
                    );
                }
                for name in requirement.fields() {
                    assert!(
                        spec.field(name).is_some(),
                        "{} requires {name}, which it does not have",
                        spec.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_reference_target_names_a_type_that_exists() {
        for spec in TYPES {
            for field in spec.fields() {
                let SlotType::Ref(targets) = field.slot else { continue };
                assert!(!targets.is_empty(), "{}.{} refers to nothing", spec.name, field.name);
                for target in targets {
                    match *target {
                        RefTarget::Type(name) => {
                            assert!(
                                type_spec(name).is_some(),
                                "{}.{} refers to unknown {name}",
                                spec.name,
                                field.name
                            )
                        }
                        RefTarget::Category(category) => assert!(
                            TYPES.iter().any(|other| other.category == category),
                            "{}.{} refers to {category:?}, which has no types",
                            spec.name,
                            field.name
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn every_enumeration_is_non_empty_with_values_distinct_in_any_case() {
        for spec in TYPES {
            for field in spec.fields() {
                let SlotType::Enumeration(values) = field.slot else {
                    continue;
                };
                assert!(!values.is_empty(), "{}.{}", spec.name, field.name);
                let lowered: HashSet<String> = values.iter().map(|value| value.to_ascii_lowercase()).collect();
                assert_eq!(lowered.len(), values.len(), "{}.{}", spec.name, field.name);
            }
        }
    }

    #[test]
    fn list_fields_take_several_values_wherever_they_appear() {
        let mut found = HashSet::new();
        for spec in TYPES {
            for field in spec.fields() {
                if MULTI_VALUED.contains(&field.name) {
                    assert!(field.multi, "{}.{} should be multi-valued", spec.name, field.name);
                    found.insert(field.name);
                }
            }
        }
        for name in MULTI_VALUED {
            assert!(found.contains(name), "no type has {name}");
        }
    }

    #[test]
    fn runnable_types_carry_the_common_fields_and_preconditions_their_subset() {
        // Given the §2.1 fields every runnable object and every precondition has
        let everywhere = [
            "attemptTimeout",
            "maximumRetries",
            "retryDelay",
            "onFail",
            "failureAndRerunMode",
        ];
        let runnable_only = ["schedule", "scheduleType", "maxActiveInstances", "pipelineLogUri"];
        for spec in TYPES {
            // When the type is runnable or a precondition
            let runnable = spec.category.is_runnable();
            let precondition = spec.category == Category::Precondition;
            // Then it has exactly the common fields of its kind
            for name in everywhere {
                assert_eq!(
                    spec.field(name).is_some(),
                    runnable || precondition,
                    "{}.{name}",
                    spec.name
                );
            }
            for name in runnable_only {
                assert_eq!(spec.field(name).is_some(), runnable, "{}.{name}", spec.name);
            }
            assert_eq!(
                spec.field("preconditionTimeout").is_some(),
                precondition,
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn activities_and_data_nodes_may_say_where_they_run_but_resources_may_not() {
        for spec in TYPES {
            let expected = matches!(spec.category, Category::Activity | Category::DataNode);
            for name in ["runsOn", "workerGroup", "dependsOn", "precondition"] {
                assert_eq!(spec.field(name).is_some(), expected, "{}.{name}", spec.name);
            }
            let has_data = spec.field("input").is_some() && spec.field("output").is_some();
            assert_eq!(has_data, spec.category == Category::Activity, "{}", spec.name);
        }
    }

    #[test]
    fn only_activities_need_a_runner_and_no_requirement_demands_one() {
        for spec in TYPES {
            assert_eq!(spec.needs_runner, spec.category == Category::Activity, "{}", spec.name);
            for requirement in spec.requirements {
                for name in requirement.fields() {
                    assert!(
                        !["runsOn", "workerGroup", "schedule"].contains(name),
                        "{} requires {name}",
                        spec.name
                    );
                }
            }
        }
    }

    #[test]
    fn required_fields_and_groups_follow_aws() {
        let cases: &[(&str, &[Requirement])] = &[
            (
                "S3DataNode",
                &[Requirement::AnyOf(&["filePath", "directoryPath", "manifestFilePath"])],
            ),
            (
                "RedshiftDataNode",
                &[Requirement::Field("database"), Requirement::Field("tableName")],
            ),
            (
                "HiveActivity",
                &[
                    Requirement::ExactlyOneOf(&["hiveScript", "scriptUri"]),
                    Requirement::FieldWhenStaged("input"),
                    Requirement::FieldWhenStaged("output"),
                ],
            ),
            (
                "ShellCommandActivity",
                &[Requirement::ExactlyOneOf(&["command", "scriptUri"])],
            ),
            (
                "SqlActivity",
                &[
                    Requirement::Field("database"),
                    Requirement::ExactlyOneOf(&["script", "scriptUri"]),
                ],
            ),
            (
                "Ec2Resource",
                &[Requirement::Field("resourceRole"), Requirement::Field("role")],
            ),
            ("EmrCluster", &[]),
            (
                "Schedule",
                &[
                    Requirement::Field("period"),
                    Requirement::ExactlyOneOf(&["startAt", "startDateTime"]),
                ],
            ),
            (
                "RedshiftDatabase",
                &[
                    Requirement::Field("*password"),
                    Requirement::Field("username"),
                    Requirement::ExactlyOneOf(&["clusterId", "connectionString"]),
                ],
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(spec(name).requirements, *expected, "{name}");
        }
    }

    #[test]
    fn slot_types_follow_the_reference_and_its_documented_exceptions() {
        // Schedule.period also takes ONDEMAND_PERIOD, so validation parses it itself.
        assert_eq!(field("Schedule", "period").slot, SlotType::String);
        assert_eq!(field("Schedule", "startDateTime").slot, SlotType::DateTime);
        // Every EmrCluster example writes terminateAfter as a period.
        assert_eq!(field("EmrCluster", "terminateAfter").slot, SlotType::Period);
        assert_eq!(field("Ec2Resource", "terminateAfter").slot, SlotType::Period);
        // Any region name is fine.
        assert_eq!(field("Ec2Resource", "region").slot, SlotType::String);
        assert_eq!(
            field("Ec2Resource", "actionOnResourceFailure").slot,
            SlotType::Enumeration(ACTIONS_ON_RESOURCE_FAILURE)
        );
        assert_eq!(
            field("DynamoDBDataNode", "readThroughputPercent").slot,
            SlotType::Double
        );
        assert_eq!(field("ShellCommandActivity", "stage").slot, SlotType::Boolean);
        assert_eq!(field("S3DataNode", "maxActiveInstances").slot, SlotType::Integer);
        assert_eq!(
            field("SqlActivity", "runsOn").slot,
            SlotType::Ref(&[RefTarget::Category(Category::Resource)])
        );
        assert_eq!(
            field("CopyActivity", "schedule").slot,
            SlotType::Ref(&[RefTarget::Type("Schedule")])
        );
    }

    #[test]
    fn runtime_fields_follow_appendix_a() {
        for spec in TYPES {
            let unique: HashSet<&str> = spec.runtime_fields.iter().copied().collect();
            assert_eq!(
                unique.len(),
                spec.runtime_fields.len(),
                "{} repeats a runtime field",
                spec.name
            );
            assert!(spec.has_runtime_field("@version"), "{}", spec.name);
            for system in SYSTEM_FIELDS {
                assert!(
                    !spec.runtime_fields.contains(system),
                    "{} repeats system field {system}",
                    spec.name
                );
                assert!(spec.has_runtime_field(system), "{}", spec.name);
            }
            let runnable = spec.category.is_runnable();
            assert_eq!(
                spec.has_runtime_field("@scheduledStartTime"),
                runnable || spec.category == Category::Precondition,
                "{}",
                spec.name
            );
            assert_eq!(spec.has_runtime_field("@latestRunTime"), runnable, "{}", spec.name);
            assert_eq!(
                spec.has_runtime_field("@failureReason"),
                spec.category == Category::Resource,
                "{}",
                spec.name
            );
            assert_eq!(
                spec.has_runtime_field("node"),
                matches!(spec.category, Category::Precondition | Category::Action),
                "{}",
                spec.name
            );
        }
        assert!(spec("S3KeyExists").has_runtime_field("currentRetryCount"));
        assert!(spec("DynamoDBDataExists").has_runtime_field("lastRetryTime"));
        assert!(!spec("Exists").has_runtime_field("currentRetryCount"));
        assert!(spec("Schedule").has_runtime_field("@firstActivationTime"));
        assert!(!spec("S3DataNode").has_runtime_field("@firstActivationTime"));
    }

    #[test]
    fn only_my_sql_data_node_is_deprecated_and_it_says_what_to_use() {
        for spec in TYPES {
            match spec.deprecated {
                Some(advice) => {
                    assert_eq!(spec.name, "MySqlDataNode");
                    assert!(advice.contains("SqlDataNode"));
                }
                None => assert_ne!(spec.name, "MySqlDataNode"),
            }
        }
    }

    #[test]
    fn requirement_fields_lists_every_field_of_the_requirement() {
        assert_eq!(Requirement::Field("role").fields(), ["role"]);
        assert_eq!(Requirement::ExactlyOneOf(&["a", "b"]).fields(), ["a", "b"]);
        assert_eq!(Requirement::AnyOf(&["c", "d"]).fields(), ["c", "d"]);
    }

    /// Arbitrary text, or a name the tables use (so that lookups also succeed).
    fn any_name() -> impl Strategy<Value = String> {
        let mut known: Vec<String> = type_names().map(str::to_owned).collect();
        for spec in TYPES {
            known.extend(spec.fields().map(|field| field.name.to_owned()));
            known.extend(spec.runtime_fields.iter().map(|name| (*name).to_owned()));
        }
        prop_oneof![".{0,40}", prop::sample::select(known)]
    }

    proptest! {
        #[test]
        fn looking_up_any_type_or_field_name_never_panics_and_finds_only_listed_names(name in any_name()) {
            let listed = type_names().any(|listed| listed == name);
            prop_assert_eq!(type_spec(&name).is_some(), listed);
            for spec in TYPES {
                let found = spec.field(&name);
                prop_assert_eq!(found.is_some(), spec.fields().any(|field| field.name == name));
                prop_assert_eq!(
                    spec.has_runtime_field(&name),
                    spec.runtime_fields.contains(&name.as_str()) || SYSTEM_FIELDS.contains(&name.as_str())
                );
            }
        }
    }
}
