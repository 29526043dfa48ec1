//! Reading JSON request bodies the way OpenMeter's server does: object field names match
//! case-insensitively (`successURL`, `successUrl` and `successurl` are one field), absent and
//! `null` are the same, and every type mismatch is a violation naming the field's JSON path.
//! Values are taken as given; the rules about them live in `domain`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::FieldViolation;
use crate::domain::error::Violations;

/// `path.name`, or `name` at the root.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A JSON object read with case-insensitive field names; `path` names it in errors.
#[derive(Clone, Debug)]
pub struct Object<'a> {
    path: String,
    fields: BTreeMap<String, &'a Value>,
}

impl<'a> Object<'a> {
    /// The object `value` is, or a violation naming `path` ("must be an object"). Two fields
    /// whose names differ only in case are a violation too.
    pub fn new(path: &str, value: &'a Value) -> Result<Self, Vec<FieldViolation>> {
        let Value::Object(map) = value else {
            let name = if path.is_empty() { "body" } else { path };
            return Err(vec![FieldViolation::new(name, "must be a JSON object")]);
        };
        Self::of_map(path, map)
    }

    fn of_map(path: &str, map: &'a Map<String, Value>) -> Result<Self, Vec<FieldViolation>> {
        let mut fields = BTreeMap::new();
        let mut violations = Vec::new();
        for (name, value) in map {
            if fields.insert(name.to_lowercase(), value).is_some() {
                violations.push(FieldViolation::new(
                    join(path, name),
                    "is given twice (field names match case-insensitively)",
                ));
            }
        }
        if violations.is_empty() {
            Ok(Self {
                path: path.to_owned(),
                fields,
            })
        } else {
            Err(violations)
        }
    }

    /// The path of the field `name` (as the API spells it).
    pub fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The value of `name` (any case; `null` reads as absent).
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields
            .get(&name.to_lowercase())
            .copied()
            .filter(|v| !v.is_null())
    }

    /// The first of `names` that is present.
    pub fn get_any(&self, names: &[&str]) -> Option<(&'a Value, String)> {
        names
            .iter()
            .find_map(|n| self.get(n).map(|v| (v, self.path(n))))
    }

    /// A string field; absent is `None`, another type a violation.
    pub fn string(&self, v: &mut Violations, name: &str) -> Option<&'a str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            _ => {
                v.add(self.path(name), "must be a string");
                None
            }
        }
    }

    /// A string field, empty when absent (patron's "empty means none").
    pub fn text(&self, v: &mut Violations, name: &str) -> &'a str {
        self.string(v, name).unwrap_or_default()
    }

    /// The string field `name` (empty when absent) parsed by a domain rule, given the field's
    /// path; a violation is recorded.
    pub fn parse<T>(
        &self,
        v: &mut Violations,
        name: &str,
        rule: impl FnOnce(&str, &str) -> Result<T, FieldViolation>,
    ) -> Option<T> {
        let raw = match self.get(name) {
            None => "",
            Some(Value::String(s)) => s,
            Some(_) => {
                v.add(self.path(name), "must be a string");
                return None;
            }
        };
        v.check(rule(&self.path(name), raw))
    }

    /// A boolean field.
    pub fn boolean(&self, v: &mut Violations, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                v.add(self.path(name), "must be true or false");
                None
            }
        }
    }

    /// An integer field.
    pub fn integer(&self, v: &mut Violations, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            _ => {
                v.add(self.path(name), "must be an integer");
                None
            }
        }
    }

    /// A nested object field.
    pub fn object(&self, v: &mut Violations, name: &str) -> Option<Object<'a>> {
        let value = self.get(name)?;
        match Object::new(&self.path(name), value) {
            Ok(object) => Some(object),
            Err(errors) => {
                v.extend(errors);
                None
            }
        }
    }

    /// An array of strings (`path[i]` names a bad item).
    pub fn strings(&self, v: &mut Violations, name: &str) -> Option<Vec<String>> {
        self.get(name)
            .and_then(|value| strings_at(v, &self.path(name), value))
    }

    /// A map of strings to strings (OpenMeter's `Metadata`); its keys are data, kept as given.
    pub fn string_map(
        &self,
        v: &mut Violations,
        name: &str,
    ) -> Option<std::collections::HashMap<String, String>> {
        let path = self.path(name);
        let Value::Object(map) = self.get(name)? else {
            v.add(path, "must be an object of strings");
            return None;
        };
        let mut out = std::collections::HashMap::with_capacity(map.len());
        for (key, value) in map {
            match value {
                Value::String(s) => {
                    out.insert(key.clone(), s.clone());
                }
                _ => v.add(format!("{path}.{key}"), "must be a string"),
            }
        }
        Some(out)
    }
}

/// An array of strings at `path`.
pub fn strings_at(v: &mut Violations, path: &str, value: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        v.add(path, "must be an array of strings");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.clone()),
            _ => v.add(format!("{path}[{i}]"), "must be a string"),
        }
    }
    Some(out)
}

/// The items of an array at `path` (the body of a batch request).
pub fn array<'a>(path: &str, value: &'a Value) -> Result<&'a [Value], FieldViolation> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(FieldViolation::new(
            if path.is_empty() { "body" } else { path },
            "must be a JSON array",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_match_in_any_case_and_paths_keep_the_api_spelling() {
        let body = json!({"successUrl": "a", "Options": {"CANCELURL": 3}, "gone": null});
        let o = Object::new("", &body).unwrap();
        let mut v = Violations::new();
        assert_eq!(o.string(&mut v, "successURL"), Some("a"));
        assert_eq!(o.get("gone"), None);
        let options = o.object(&mut v, "options").unwrap();
        assert_eq!(options.string(&mut v, "cancelURL"), None);
        let err = v.finish().unwrap_err().to_string();
        assert!(err.contains("options.cancelURL: must be a string"), "{err}");
    }

    #[test]
    fn fields_differing_only_in_case_are_refused() {
        let body = json!({"name": "a", "NAME": "b"});
        let err = Object::new("", &body).unwrap_err();
        assert_eq!(err.len(), 1);
    }
}
