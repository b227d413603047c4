//! Typed reading of a Pangea request body: every read is checked against the
//! expected JSON type, every problem becomes a `ValidationError` entry with a
//! JSON-pointer source, and keys nobody read are `UnexpectedProperty`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::envelope::{Failure, FieldError};

/// A request body being read.
pub struct Body {
    map: Map<String, Value>,
    read: BTreeSet<String>,
    errors: Vec<FieldError>,
}

fn kind_code(expected: &str) -> &'static str {
    match expected {
        "string" => "InvalidString",
        "integer" => "InvalidInteger",
        "boolean" => "InvalidBool",
        "array" => "InvalidArray",
        _ => "InvalidObject",
    }
}

impl Body {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            read: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    /// A value as sent, without reading it (it must still be read to count as known).
    pub fn peek(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Records a problem.
    pub fn error(
        &mut self,
        code: &'static str,
        source: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.errors.push(FieldError::new(code, source, detail));
    }

    fn take(&mut self, key: &str, required: bool) -> Option<Value> {
        self.read.insert(key.to_owned());
        match self.map.get(key) {
            None => {
                if required {
                    self.error(
                        "FieldRequired",
                        format!("/{key}"),
                        format!("'{key}' is a required property"),
                    );
                }
                None
            }
            Some(v) => Some(v.clone()),
        }
    }

    fn typed<T>(
        &mut self,
        key: &str,
        required: bool,
        expected: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let v = self.take(key, required)?;
        if v.is_null() && !required {
            return None;
        }
        match f(&v) {
            Some(t) => Some(t),
            None => {
                self.error(
                    kind_code(expected),
                    format!("/{key}"),
                    format!("'{key}' must be a {expected}"),
                );
                None
            }
        }
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        self.typed(key, false, "string", |v| v.as_str().map(str::to_owned))
    }
    pub fn req_string(&mut self, key: &str) -> Option<String> {
        self.typed(key, true, "string", |v| v.as_str().map(str::to_owned))
    }
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        self.typed(key, false, "boolean", Value::as_bool)
    }
    pub fn integer(&mut self, key: &str) -> Option<i64> {
        self.typed(key, false, "integer", Value::as_i64)
    }
    pub fn object(&mut self, key: &str, required: bool) -> Option<Map<String, Value>> {
        self.typed(key, required, "object", |v| v.as_object().cloned())
    }
    pub fn array(&mut self, key: &str, required: bool) -> Option<Vec<Value>> {
        self.typed(key, required, "array", |v| v.as_array().cloned())
    }

    /// Checks a string against a pattern predicate.
    pub fn pattern(&mut self, key: &str, value: &Option<String>, ok: impl Fn(&str) -> bool) {
        if let Some(v) = value {
            if !ok(v) {
                self.error(
                    "DoesNotMatchPattern",
                    format!("/{key}"),
                    format!("'{key}' does not match the expected pattern"),
                );
            }
        }
    }

    /// Ends reading: unread keys (but `config_id`) are unexpected.
    pub fn finish(mut self) -> Result<(), Failure> {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.read.contains(*k) && k.as_str() != "config_id")
            .cloned()
            .collect();
        for k in unknown {
            self.error(
                "UnexpectedProperty",
                format!("/{k}"),
                format!("'{k}' is not an allowed property"),
            );
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Failure::Validation(self.errors))
        }
    }

    /// Errors so far, without ending.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// A map of string → string (profiles, attributes); other value types are
/// `InvalidString` at `/<key>/<name>`.
pub fn string_map(
    body: &mut Body,
    key: &str,
    value: Map<String, Value>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in value {
        match v {
            Value::String(s) => {
                out.insert(k, s);
            }
            _ => body.error(
                "InvalidString",
                format!("/{key}/{k}"),
                format!("'{k}' must be a string"),
            ),
        }
    }
    out
}

/// Declares the OpenAPI schema of a request body as [`Body`] reads it: the
/// listed fields, the `config_id` every endpoint ignores (spec §1.2), and
/// nothing else (`additionalProperties: false`, as [`Body::finish`] refuses
/// unread keys). Optional fields may be `null` (read as absent). Documentation
/// only: handlers read their JSON through [`Body`], with the dialect's error codes.
macro_rules! request_schema {
    (
        $(#[$meta:meta])*
        $name:ident as $schema:ident {
            $($(#[$field_meta:meta])* $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        #[schema(as = $schema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        pub struct $name {
            $($(#[$field_meta])* $field: $ty,)*
            /// Accepted and ignored (spec §1.2).
            config_id: Option<String>,
        }
    };
}
pub(crate) use request_schema;

/// A profile as it is set: at most 64 string values of at most 1024 characters,
/// keys `^[A-Za-z0-9_.-]{1,64}$` (spec §3.7).
pub fn profile_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(64))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_.-]{1,64}$")),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(1024)),
        ))
        .build()
}

/// Profile edits: a string sets a key, `null` deletes it (spec §4.5).
pub fn profile_edits_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_.-]{1,64}$")),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .max_length(Some(1024)),
        ))
        .build()
}

/// A map of string values (group attributes).
pub fn string_map_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}
