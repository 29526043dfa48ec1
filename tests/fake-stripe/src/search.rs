//! Stripe's search query language, the subset the fake serves for `GET /v1/customers/search`:
//! clauses `field:'value'` (exact match; double quotes work too; `\'` and `\"` escape a quote),
//! `field~'value'` (substring, at least 3 characters) and `metadata['key']:'value'`, joined by
//! `AND` or by `OR` (one kind per query, as at Stripe), each clause optionally negated with `-`.
//! Searchable customer fields: `email`, `name`, `phone` and `metadata[...]`. A query it cannot
//! parse is Stripe's 400 `invalid_request_error` naming `query`.

use serde_json::Value;

use crate::error::ApiError;

/// One clause.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// `email`, `name`, `phone`, or `metadata` with its key.
    field: Field,
    /// `~` (substring) instead of `:` (exact).
    substring: bool,
    negated: bool,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Top(&'static str),
    Metadata(String),
}

/// A parsed query: its clauses and whether they are joined by OR (else AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    clauses: Vec<Clause>,
    any: bool,
}

const FIELDS: [&str; 3] = ["email", "name", "phone"];

fn bad(why: impl std::fmt::Display) -> ApiError {
    ApiError::param(
        None,
        "query",
        format!(
            "Invalid search query: {why}. See https://stripe.com/docs/search#search-query-language for the supported syntax."
        ),
    )
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn word(&mut self) -> &'a str {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn quoted(&mut self) -> Result<String, ApiError> {
        let quote = match self.rest.chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(bad("a value must be quoted")),
        };
        let mut out = String::new();
        let mut chars = self.rest[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => break,
                },
                c if c == quote => {
                    self.rest = &self.rest[1 + i + c.len_utf8()..];
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(bad("unterminated quoted value"))
    }
}

impl Query {
    /// Parses a query.
    pub(crate) fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut lx = Lexer { rest: raw };
        let mut clauses = Vec::new();
        let mut joiner: Option<&str> = None;
        loop {
            lx.skip_ws();
            let negated = lx.eat("-");
            let name = lx.word();
            let field = match name {
                "metadata" => {
                    if !lx.eat("[") {
                        return Err(bad("metadata needs a key: metadata['key']"));
                    }
                    let key = lx.quoted()?;
                    if !lx.eat("]") {
                        return Err(bad("expected ] after the metadata key"));
                    }
                    Field::Metadata(key)
                }
                "" => return Err(bad("expected a field name")),
                other => match FIELDS.iter().find(|f| **f == other) {
                    Some(f) => Field::Top(f),
                    None => return Err(bad(format!("{other} is not a searchable field"))),
                },
            };
            let substring = if lx.eat(":") {
                false
            } else if lx.eat("~") {
                true
            } else {
                return Err(bad(format!("expected : or ~ after {name}")));
            };
            let value = lx.quoted()?;
            if substring && value.chars().count() < 3 {
                return Err(bad("a substring (~) value needs at least 3 characters"));
            }
            if substring && matches!(field, Field::Metadata(_)) {
                return Err(bad("metadata supports exact matches (:) only"));
            }
            clauses.push(Clause {
                field,
                substring,
                negated,
                value,
            });
            lx.skip_ws();
            if lx.rest.is_empty() {
                break;
            }
            let word = lx.word();
            if word != "AND" && word != "OR" {
                return Err(bad(format!(
                    "expected AND or OR, found {:?}",
                    lx_peek(word, lx.rest)
                )));
            }
            if joiner.is_some_and(|j| j != word) {
                return Err(bad("AND and OR cannot be combined in one query"));
            }
            joiner = Some(word);
            if clauses.len() >= 10 {
                return Err(bad("at most 10 clauses"));
            }
        }
        Ok(Self {
            clauses,
            any: joiner == Some("OR"),
        })
    }

    /// Whether a customer object matches.
    pub(crate) fn matches(&self, customer: &Value) -> bool {
        let one = |c: &Clause| {
            let actual = match &c.field {
                Field::Top(name) => customer.get(*name),
                Field::Metadata(key) => customer.get("metadata").and_then(|m| m.get(key)),
            }
            .and_then(Value::as_str);
            let hit = actual.is_some_and(|a| {
                let (a, v) = (a.to_lowercase(), c.value.to_lowercase());
                if c.substring { a.contains(&v) } else { a == v }
            });
            hit != c.negated
        };
        if self.any {
            self.clauses.iter().any(one)
        } else {
            self.clauses.iter().all(one)
        }
    }
}

fn lx_peek(word: &str, rest: &str) -> String {
    if word.is_empty() {
        rest.chars().take(10).collect()
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn clauses_and_joiners() {
        let c = json!({"email": "Ann@Example.com", "name": "Ann Lee", "metadata": {"k": "v"}});
        for (q, hit) in [
            ("email:'ann@example.com'", true),
            ("name~'lee'", true),
            ("metadata['k']:'v'", true),
            ("metadata[\"k\"]:\"w\"", false),
            ("email:'x@y.z' OR name:'Ann Lee'", true),
            ("email:'x@y.z' AND name:'Ann Lee'", false),
            ("-name:'Bob'", true),
        ] {
            assert_eq!(Query::parse(q).unwrap().matches(&c), hit, "{q}");
        }
        for q in [
            "",
            "email",
            "email:ann",
            "email:'a' AND name:'b' OR phone:'c'",
            "address:'x'",
            "name~'ab'",
            "metadata:'x'",
            "email:'a' name:'b'",
            "email:'unterminated",
        ] {
            assert!(Query::parse(q).is_err(), "{q}");
        }
    }
}
