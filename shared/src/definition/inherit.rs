//! Field inheritance: an object's own fields, then its `parent` chain, then `Default`
//! (reference §1.1).
//!
//! A field set on an object hides every value of the same key further up the chain, so a
//! multi-valued field is inherited whole or not at all.

use std::collections::HashMap;

use super::{
    issue::Issue,
    model::{Definition, FieldValue, PipelineObject},
};

/// The id of the object that supplies fields to every object without a `parent`.
pub const DEFAULT_ID: &str = "Default";

/// Fields that belong to an object itself and are never inherited.
const NOT_INHERITED: [&str; 1] = ["parent"];

/// A definition with each object's inheritance chain worked out once.
#[derive(Debug, Clone)]
pub struct Inheritance<'d> {
    definition: &'d Definition,
    by_id: HashMap<&'d str, usize>,
    /// For each object: itself, its ancestors through `parent`, then `Default`.
    chains: Vec<Vec<usize>>,
}

impl<'d> Inheritance<'d> {
    /// Works out every chain. Problems (a parent that does not exist, a cycle) are returned
    /// as errors; the chain stops where the problem is.
    pub fn new(definition: &'d Definition) -> (Self, Vec<Issue>) {
        let mut by_id = HashMap::new();
        for (index, object) in definition.objects.iter().enumerate() {
            // The first of duplicate ids wins; validation reports the duplicates.
            by_id.entry(object.id.as_str()).or_insert(index);
        }
        let default = by_id.get(DEFAULT_ID).copied();
        let mut issues = Vec::new();
        let chains = definition
            .objects
            .iter()
            .enumerate()
            .map(|(index, object)| chain(definition, &by_id, default, index, object, &mut issues))
            .collect();
        (
            Self {
                definition,
                by_id,
                chains,
            },
            issues,
        )
    }

    pub fn definition(&self) -> &'d Definition {
        self.definition
    }

    /// The index of the object with this id.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn object(&self, index: usize) -> &'d PipelineObject {
        &self.definition.objects[index]
    }

    /// The object and its ancestors, nearest first.
    pub fn chain(&self, index: usize) -> impl Iterator<Item = &'d PipelineObject> + '_ {
        self.chains[index]
            .iter()
            .map(|&ancestor| &self.definition.objects[ancestor])
    }

    /// The effective values of `key` on an object: its own, or those of the nearest
    /// ancestor that sets the key. Empty when no one sets it.
    pub fn values(&self, index: usize, key: &str) -> Vec<&'d FieldValue> {
        self.source(index, key)
            .map(|object| object.values(key).collect())
            .unwrap_or_default()
    }

    /// The object whose value of `key` the object sees: itself or an ancestor.
    pub fn source(&self, index: usize, key: &str) -> Option<&'d PipelineObject> {
        let inheritable = !NOT_INHERITED.contains(&key);
        self.chains[index]
            .iter()
            .enumerate()
            .take_while(|&(depth, _)| depth == 0 || inheritable)
            .map(|(_, &ancestor)| &self.definition.objects[ancestor])
            .find(|object| object.has(key))
    }

    /// The first effective string value of `key`.
    pub fn string(&self, index: usize, key: &str) -> Option<&'d str> {
        self.source(index, key).and_then(|object| object.string(key))
    }

    /// The first effective reference of `key`.
    pub fn reference(&self, index: usize, key: &str) -> Option<&'d str> {
        self.source(index, key).and_then(|object| object.reference(key))
    }

    pub fn has(&self, index: usize, key: &str) -> bool {
        self.source(index, key).is_some()
    }

    /// The effective `type`.
    pub fn type_name(&self, index: usize) -> Option<&'d str> {
        self.string(index, "type")
    }

    /// Every key the object sees, each once, own keys first.
    pub fn keys(&self, index: usize) -> Vec<&'d str> {
        let mut keys: Vec<&'d str> = Vec::new();
        for (depth, &ancestor) in self.chains[index].iter().enumerate() {
            for field in &self.definition.objects[ancestor].fields {
                let inheritable = depth == 0 || !NOT_INHERITED.contains(&field.key.as_str());
                if inheritable && !keys.contains(&field.key.as_str()) {
                    keys.push(&field.key);
                }
            }
        }
        keys
    }
}

fn chain(
    definition: &Definition,
    by_id: &HashMap<&str, usize>,
    default: Option<usize>,
    index: usize,
    object: &PipelineObject,
    issues: &mut Vec<Issue>,
) -> Vec<usize> {
    let mut chain = vec![index];
    let mut current = object;
    loop {
        let parents: Vec<_> = current.values("parent").collect();
        let parent = match parents.as_slice() {
            [] => break,
            [FieldValue::Ref(parent), ..] => parent,
            [FieldValue::String(text), ..] => {
                if current.id == object.id {
                    issues.push(Issue::field(
                        &object.id,
                        "parent",
                        format!("\"{text}\" is a string; a parent is a reference: write {{\"ref\": \"{text}\"}}"),
                    ));
                }
                break;
            }
        };
        if parents.len() > 1 && current.id == object.id {
            issues.push(Issue::field(
                &object.id,
                "parent",
                "an object has one parent; the first is used",
            ));
        }
        let Some(&next) = by_id.get(parent.as_str()) else {
            if current.id == object.id {
                issues.push(Issue::field(
                    &object.id,
                    "parent",
                    format!("refers to \"{parent}\", which does not exist"),
                ));
            }
            break;
        };
        if chain.contains(&next) {
            if next == index {
                let mut path: Vec<&str> = chain.iter().map(|&step| definition.objects[step].id.as_str()).collect();
                path.push(&definition.objects[next].id);
                issues.push(Issue::field(
                    &object.id,
                    "parent",
                    format!(
                        "parent cycle {}: an object cannot inherit from itself",
                        path.join(" → ")
                    ),
                ));
            }
            break;
        }
        chain.push(next);
        current = &definition.objects[next];
    }
    // Default supplies what the whole chain leaves unset.
    if let Some(default) = default.filter(|default| !chain.contains(default)) {
        chain.push(default);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::model::Field;

    fn object(id: &str, fields: Vec<Field>) -> PipelineObject {
        PipelineObject::new(id, fields)
    }

    #[test]
    fn fields_come_from_self_then_parents_then_default() {
        // Given Default, a grandparent, a parent and a child
        let definition = Definition {
            objects: vec![
                object(
                    "Default",
                    vec![
                        Field::string("role", "DefaultRole"),
                        Field::string("maximumRetries", "1"),
                    ],
                ),
                object(
                    "Base",
                    vec![Field::string("maximumRetries", "2"), Field::string("step", "a")],
                ),
                object(
                    "Middle",
                    vec![Field::reference("parent", "Base"), Field::string("step", "b")],
                ),
                object(
                    "Child",
                    vec![
                        Field::reference("parent", "Middle"),
                        Field::string("type", "EmrActivity"),
                    ],
                ),
            ],
            ..Definition::default()
        };
        let (inheritance, issues) = Inheritance::new(&definition);
        assert!(issues.is_empty(), "{issues:?}");
        let child = inheritance.index("Child").unwrap();
        // Then the nearest value wins and Default fills the rest
        assert_eq!(inheritance.string(child, "maximumRetries"), Some("2"));
        assert_eq!(inheritance.string(child, "role"), Some("DefaultRole"));
        assert_eq!(inheritance.string(child, "step"), Some("b"));
        assert_eq!(inheritance.type_name(child), Some("EmrActivity"));
        assert_eq!(
            inheritance.reference(child, "parent"),
            Some("Middle"),
            "parent is the object's own"
        );
        let chain: Vec<_> = inheritance.chain(child).map(|object| object.id.as_str()).collect();
        assert_eq!(chain, ["Child", "Middle", "Base", "Default"]);
        assert_eq!(
            inheritance.keys(child),
            ["parent", "type", "step", "maximumRetries", "role"]
        );
    }

    #[test]
    fn a_multi_valued_field_is_inherited_whole_or_not_at_all() {
        let definition = Definition {
            objects: vec![
                object("Base", vec![Field::string("step", "a"), Field::string("step", "b")]),
                object("Child", vec![Field::reference("parent", "Base")]),
                object(
                    "Override",
                    vec![Field::reference("parent", "Base"), Field::string("step", "c")],
                ),
            ],
            ..Definition::default()
        };
        let (inheritance, _) = Inheritance::new(&definition);
        let steps = |id| inheritance.values(inheritance.index(id).unwrap(), "step").len();
        assert_eq!(steps("Child"), 2);
        assert_eq!(steps("Override"), 1);
    }

    #[test]
    fn a_parent_cycle_is_an_error_naming_the_cycle() {
        let definition = Definition {
            objects: vec![
                object("A", vec![Field::reference("parent", "B")]),
                object("B", vec![Field::reference("parent", "C")]),
                object("C", vec![Field::reference("parent", "A")]),
                object("D", vec![Field::reference("parent", "A")]),
            ],
            ..Definition::default()
        };
        let (inheritance, issues) = Inheritance::new(&definition);
        let messages: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 3, "one per object on the cycle: {messages:?}");
        assert!(messages[0].contains("A → B → C → A"), "{messages:?}");
        // And resolution still terminates
        assert_eq!(inheritance.string(inheritance.index("D").unwrap(), "missing"), None);
    }

    #[test]
    fn a_missing_or_string_parent_is_an_error() {
        let definition = Definition {
            objects: vec![
                object("A", vec![Field::reference("parent", "Nowhere")]),
                object("B", vec![Field::string("parent", "A")]),
            ],
            ..Definition::default()
        };
        let (_, issues) = Inheritance::new(&definition);
        let messages: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert!(
            messages[0].contains("\"Nowhere\", which does not exist"),
            "{messages:?}"
        );
        assert!(messages[1].contains("{\"ref\": \"A\"}"), "{messages:?}");
    }
}
