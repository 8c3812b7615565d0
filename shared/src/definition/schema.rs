//! What AWS Data Pipeline allows in each object type: fields, slot types, required fields
//! and groups (reference Appendix A, §2). Validation reads these tables; nothing else
//! should hard-code a type's fields.

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

/// A requirement on which fields are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The field must be present.
    Field(&'static str),
    /// Exactly one of these fields must be present.
    ExactlyOneOf(&'static [&'static str]),
    /// At least one of these fields must be present.
    AnyOf(&'static [&'static str]),
}

/// Everything validation knows about one `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeSpec {
    pub name: &'static str,
    pub category: Category,
    pub fields: &'static [FieldSpec],
    pub requirements: &'static [Requirement],
    /// Runtime (`@`) and runtime-written fields an expression may read on this type,
    /// beyond the system fields every object has.
    pub runtime_fields: &'static [&'static str],
    /// AWS marks the type deprecated (MySqlDataNode); validation warns.
    pub deprecated: Option<&'static str>,
}

impl TypeSpec {
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }
}
