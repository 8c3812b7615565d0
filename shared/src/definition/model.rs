//! The definition as the service stores it: objects with ordered, possibly repeated
//! fields; parameter objects; parameter values. Both the file format and the API shape
//! convert to and from this without loss.

/// A field value: a string (which may hold `#{...}` expressions) or a reference to
/// another object by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    String(String),
    Ref(String),
}

impl FieldValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            Self::Ref(_) => None,
        }
    }

    pub fn as_ref_id(&self) -> Option<&str> {
        match self {
            Self::Ref(id) => Some(id),
            Self::String(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub key: String,
    pub value: FieldValue,
}

impl Field {
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: FieldValue::String(value.into()),
        }
    }

    pub fn reference(key: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: FieldValue::Ref(id.into()),
        }
    }
}

/// How a field's key marks it (reference §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `@status`: set by the service, read-only.
    Runtime,
    /// `*password`: encrypted, never shown.
    Secret,
    /// `myField` / `my_field`: the user's own.
    User,
    /// Everything else: a field the object's type defines.
    Standard,
}

impl FieldKind {
    pub fn of(key: &str) -> Self {
        if key.starts_with('@') {
            Self::Runtime
        } else if key.starts_with('*') {
            Self::Secret
        } else if is_user_name(key) {
            Self::User
        } else {
            Self::Standard
        }
    }
}

/// `my` followed by an uppercase letter or `_`, as user fields and parameters must be named.
pub fn is_user_name(name: &str) -> bool {
    name.strip_prefix("my")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|next| next.is_ascii_uppercase() || next == '_')
}

/// Whether a field or parameter is secret: its key or id starts with `*`.
pub fn is_secret(key: &str) -> bool {
    key.starts_with('*')
}

/// The mask printed in place of a secret value.
pub const SECRET_MASK: &str = "********";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PipelineObject {
    pub id: String,
    /// The CLI sets the name to the id when a definition file gives none.
    pub name: String,
    pub fields: Vec<Field>,
}

impl PipelineObject {
    pub fn new(id: impl Into<String>, fields: Vec<Field>) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            fields,
        }
    }

    /// Every value of `key`, in order (multi-valued fields repeat the key).
    pub fn values<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a FieldValue> + use<'a, 'k> {
        self.fields
            .iter()
            .filter(move |field| field.key == key)
            .map(|field| &field.value)
    }

    pub fn has(&self, key: &str) -> bool {
        self.fields.iter().any(|field| field.key == key)
    }

    /// The first string value of `key`.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.values(key).find_map(FieldValue::as_str)
    }

    /// The first reference of `key`.
    pub fn reference(&self, key: &str) -> Option<&str> {
        self.values(key).find_map(FieldValue::as_ref_id)
    }

    /// The object's `type`, if it has one.
    pub fn type_name(&self) -> Option<&str> {
        self.string("type")
    }

    /// The object this one inherits from.
    pub fn parent(&self) -> Option<&str> {
        self.reference("parent")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterAttribute {
    pub key: String,
    pub value: String,
}

/// A declared parameter: `id` and attributes (`type`, `default`, `allowedValues` ...),
/// kept as written; [`super::parameters`] reads them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterObject {
    pub id: String,
    pub attributes: Vec<ParameterAttribute>,
}

impl ParameterObject {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|attribute| attribute.key == key)
            .map(|attribute| attribute.value.as_str())
    }

    pub fn attributes<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.attributes
            .iter()
            .filter(move |attribute| attribute.key == key)
            .map(|attribute| attribute.value.as_str())
    }
}

/// One parameter value; a list value repeats the id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ParameterValue {
    pub id: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Definition {
    pub objects: Vec<PipelineObject>,
    pub parameters: Vec<ParameterObject>,
    pub values: Vec<ParameterValue>,
}

impl Definition {
    pub fn object(&self, id: &str) -> Option<&PipelineObject> {
        self.objects.iter().find(|object| object.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_kinds_follow_the_naming_conventions() {
        assert_eq!(FieldKind::of("@status"), FieldKind::Runtime);
        assert_eq!(FieldKind::of("*password"), FieldKind::Secret);
        assert_eq!(FieldKind::of("myCustomField"), FieldKind::User);
        assert_eq!(FieldKind::of("my_ref"), FieldKind::User);
        assert_eq!(FieldKind::of("mycomment"), FieldKind::Standard);
        assert_eq!(FieldKind::of("schedule"), FieldKind::Standard);
    }

    #[test]
    fn multi_valued_fields_keep_their_order() {
        let object = PipelineObject::new(
            "Emr",
            vec![
                Field::string("step", "a"),
                Field::reference("input", "In"),
                Field::string("step", "b"),
            ],
        );
        let steps: Vec<_> = object.values("step").filter_map(FieldValue::as_str).collect();
        assert_eq!(steps, ["a", "b"]);
        assert_eq!(object.reference("input"), Some("In"));
        assert_eq!(object.name, "Emr");
    }
}
