//! Stripe's form encoding: `application/x-www-form-urlencoded` with bracket notation.
//!
//! `metadata[k]=v` is a hash, `payment_method_types[0]=card` (or `payment_method_types[]=card`)
//! an array, and the two nest: `custom_text[submit][message]=Hi`. Keys and values are
//! percent-decoded with `+` as a space. Characters that a client leaves unencoded (`@ : / { }`)
//! are taken literally, and so is a `%` that does not start a valid escape.
//!
//! The result is a [`serde_json::Value`] whose leaves are all strings: the form encoding carries
//! no types, those come from the endpoint's allow-list (the crate's `params` module). A hash whose keys
//! are all array indices (`0`, `1`, ...) becomes an array ordered by index.

use serde_json::{Map, Value};

/// A form body or query string that cannot be decoded (invalid UTF-8, or one name used both as
/// a value and as a hash or array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    /// The parameter at fault, in bracket form.
    pub param: String,
    /// What is wrong, in Stripe's words where Stripe has some.
    pub message: String,
}

/// One step of a bracketed key: `[name]` (or a leading `name`) or `[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Name(String),
    Append,
}

/// The tree being built, before hashes with index keys are turned into arrays.
#[derive(Debug, Clone)]
enum Node {
    Leaf(String),
    Hash(Vec<(String, Node)>),
    List(Vec<Node>),
}

/// Parses one form body or query string into a JSON object.
///
/// # Errors
/// [`FormError`] for invalid UTF-8 after percent-decoding, or conflicting shapes for one name
/// (`a=1&a[b]=2`).
pub fn parse(input: &str) -> Result<Value, FormError> {
    parse_parts(&[input])
}

/// Parses several form strings (a query string and a body) into one JSON object, later parts
/// adding to (and, for the same scalar, overriding) earlier ones.
///
/// # Errors
/// As [`parse`].
pub fn parse_parts(parts: &[&str]) -> Result<Value, FormError> {
    let mut root: Vec<(String, Node)> = Vec::new();
    for part in parts {
        for pair in part.split('&') {
            if pair.is_empty() {
                continue;
            }
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(raw_key)?;
            let value = decode(raw_value)?;
            if key.is_empty() {
                continue;
            }
            let (base, segs) = split_key(&key);
            insert_in_hash(&mut root, &base, &segs, value, &key)?;
        }
    }
    Ok(to_value(Node::Hash(root)))
}

/// Percent-decodes one key or value, `+` being a space.
///
/// # Errors
/// [`FormError`] when the decoded bytes are not UTF-8.
pub fn decode(raw: &str) -> Result<String, FormError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex_value(*b)),
                bytes.get(i + 2).and_then(|b| hex_value(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError {
        param: raw.to_string(),
        message: "Invalid request: the form data is not valid UTF-8.".to_string(),
    })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits `a[b][0][]` into `a` and `[Name(b), Name(0), Append]`. A key whose brackets are not
/// well formed is taken literally, as one name (and so is reported as an unknown parameter).
fn split_key(key: &str) -> (String, Vec<Seg>) {
    let Some(open) = key.find('[') else {
        return (key.to_string(), Vec::new());
    };
    if open == 0 {
        return (key.to_string(), Vec::new());
    }
    let base = &key[..open];
    let mut rest = &key[open..];
    let mut segs = Vec::new();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return (key.to_string(), Vec::new());
        };
        let Some(close) = inner.find(']') else {
            return (key.to_string(), Vec::new());
        };
        let name = &inner[..close];
        if name.contains('[') {
            return (key.to_string(), Vec::new());
        }
        segs.push(if name.is_empty() {
            Seg::Append
        } else {
            Seg::Name(name.to_string())
        });
        rest = &inner[close + 1..];
    }
    (base.to_string(), segs)
}

fn conflict(key: &str) -> FormError {
    let base = key.split('[').next().unwrap_or(key);
    FormError {
        param: key.to_string(),
        message: format!(
            "Invalid request: the parameter `{base}` is sent with conflicting types (as a value \
             and as a hash or array): `{key}`."
        ),
    }
}

fn build(segs: &[Seg], value: String) -> Node {
    match segs.split_first() {
        None => Node::Leaf(value),
        Some((Seg::Name(name), rest)) => Node::Hash(vec![(name.clone(), build(rest, value))]),
        Some((Seg::Append, rest)) => Node::List(vec![build(rest, value)]),
    }
}

fn insert_in_hash(
    entries: &mut Vec<(String, Node)>,
    name: &str,
    rest: &[Seg],
    value: String,
    key: &str,
) -> Result<(), FormError> {
    match entries.iter_mut().find(|(k, _)| k == name) {
        Some((_, node)) => merge(node, rest, value, key),
        None => {
            entries.push((name.to_string(), build(rest, value)));
            Ok(())
        }
    }
}

/// Whether `node` already holds the path of names at the start of `segs` (Rack's rule for
/// deciding whether `a[][x]=` starts a new array element or fills the last one).
fn has_path(node: &Node, segs: &[Seg]) -> bool {
    match (node, segs.split_first()) {
        (_, None) => true,
        (Node::Hash(entries), Some((Seg::Name(name), rest))) => entries
            .iter()
            .find(|(k, _)| k == name)
            .is_some_and(|(_, child)| has_path(child, rest)),
        _ => false,
    }
}

fn merge(node: &mut Node, segs: &[Seg], value: String, key: &str) -> Result<(), FormError> {
    match (node, segs.split_first()) {
        (node @ Node::Leaf(_), None) => {
            // The same scalar twice: the last one wins, as with Rack.
            *node = Node::Leaf(value);
            Ok(())
        }
        (_, None) => Err(conflict(key)),
        (Node::Hash(entries), Some((Seg::Name(name), rest))) => {
            insert_in_hash(entries, name, rest, value, key)
        }
        (Node::List(items), Some((Seg::Append, rest))) => {
            let fill_last = matches!(rest.first(), Some(Seg::Name(_)))
                && matches!(items.last(), Some(last @ Node::Hash(_)) if !has_path(last, rest));
            match items.last_mut() {
                Some(last) if fill_last => merge(last, rest, value, key),
                _ => {
                    items.push(build(rest, value));
                    Ok(())
                }
            }
        }
        _ => Err(conflict(key)),
    }
}

/// An array index as Stripe's clients write it: `0`, `1`, ... (no sign, no leading zero).
fn index_of(key: &str) -> Option<usize> {
    if key.is_empty() || key.len() > 9 || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok()
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Leaf(s) => Value::String(s),
        Node::List(items) => Value::Array(items.into_iter().map(to_value).collect()),
        Node::Hash(entries) => {
            let all_indices =
                !entries.is_empty() && entries.iter().all(|(k, _)| index_of(k).is_some());
            if all_indices {
                let mut indexed: Vec<(usize, Node)> = entries
                    .into_iter()
                    .map(|(k, v)| (index_of(&k).unwrap_or(usize::MAX), v))
                    .collect();
                indexed.sort_by_key(|(i, _)| *i);
                Value::Array(indexed.into_iter().map(|(_, v)| to_value(v)).collect())
            } else {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k, to_value(v));
                }
                Value::Object(map)
            }
        }
    }
}

/// Splits a bracketed parameter path (`custom_text[submit][message]`) into its names
/// (`custom_text`, `submit`, `message`). `[]` steps are dropped.
pub fn path_names(path: &str) -> Vec<String> {
    let (base, segs) = split_key(path);
    std::iter::once(base)
        .chain(segs.into_iter().filter_map(|s| match s {
            Seg::Name(n) => Some(n),
            Seg::Append => None,
        }))
        .collect()
}

/// Looks up a bracketed parameter path (`setup_intent_data[metadata][k]`, `expand[0]`) in a
/// parsed form.
pub fn lookup<'a>(params: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = params;
    for name in path_names(path) {
        cur = match cur {
            Value::Object(map) => map.get(&name)?,
            Value::Array(items) => items.get(index_of(&name)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_and_nested_hashes() {
        let v =
            parse("name=Jane+Doe&address[line1]=1%20Main%20St&address[city]=Paris&metadata[k]=v")
                .unwrap();
        assert_eq!(
            v,
            json!({
                "name": "Jane Doe",
                "address": {"line1": "1 Main St", "city": "Paris"},
                "metadata": {"k": "v"}
            })
        );
    }

    #[test]
    fn deep_nesting() {
        let v = parse(
            "custom_text[submit][message]=Hi&setup_intent_data[metadata][patron_app_id]=01H&\
             consent_collection[payment_method_reuse_agreement][position]=auto",
        )
        .unwrap();
        assert_eq!(v["custom_text"]["submit"]["message"], "Hi");
        assert_eq!(v["setup_intent_data"]["metadata"]["patron_app_id"], "01H");
        assert_eq!(
            v["consent_collection"]["payment_method_reuse_agreement"]["position"],
            "auto"
        );
    }

    #[test]
    fn indexed_arrays_in_index_order() {
        let v = parse("payment_method_types[1]=sepa_debit&payment_method_types[0]=card").unwrap();
        assert_eq!(v, json!({"payment_method_types": ["card", "sepa_debit"]}));
        let v = parse("enabled_events[0]=a&enabled_events[1]=b&enabled_events[2]=c").unwrap();
        assert_eq!(v["enabled_events"], json!(["a", "b", "c"]));
    }

    #[test]
    fn appended_arrays() {
        let v = parse("expand[]=customer&expand[]=setup_intent").unwrap();
        assert_eq!(v, json!({"expand": ["customer", "setup_intent"]}));
        let v = parse("items[][price]=p1&items[][quantity]=1&items[][price]=p2").unwrap();
        assert_eq!(
            v["items"],
            json!([{"price": "p1", "quantity": "1"}, {"price": "p2"}])
        );
    }

    #[test]
    fn arrays_of_hashes_by_index() {
        let v = parse("line_items[0][price]=p1&line_items[0][quantity]=2&line_items[1][price]=p2")
            .unwrap();
        assert_eq!(
            v["line_items"],
            json!([{"price": "p1", "quantity": "2"}, {"price": "p2"}])
        );
    }

    #[test]
    fn percent_decoding_and_plus() {
        let v = parse("a=%E2%82%AC+%2B1%21&b%5Bc%5D=d&e=100%25&f=%zz").unwrap();
        assert_eq!(v["a"], "€ +1!");
        assert_eq!(v["b"]["c"], "d");
        assert_eq!(v["e"], "100%");
        assert_eq!(v["f"], "%zz");
    }

    #[test]
    fn unencoded_reserved_characters() {
        let v = parse(
            "email=jane@example.com&success_url=https://example.com/ok?session={CHECKOUT_SESSION_ID}&x=a:b",
        )
        .unwrap();
        assert_eq!(v["email"], "jane@example.com");
        // `?` inside a value is literal; only `&` and `=` split.
        assert_eq!(
            v["success_url"],
            "https://example.com/ok?session={CHECKOUT_SESSION_ID}"
        );
        assert_eq!(v["x"], "a:b");
    }

    #[test]
    fn values_with_equals_and_empty_values() {
        let v = parse("a=b=c&metadata=&flag&&").unwrap();
        assert_eq!(v, json!({"a": "b=c", "metadata": "", "flag": ""}));
    }

    #[test]
    fn empty_input_is_empty_object() {
        assert_eq!(parse("").unwrap(), json!({}));
        assert_eq!(parse_parts(&["", ""]).unwrap(), json!({}));
    }

    #[test]
    fn query_and_body_merge() {
        let v = parse_parts(&["expand[0]=customer", "name=x"]).unwrap();
        assert_eq!(v, json!({"expand": ["customer"], "name": "x"}));
    }

    #[test]
    fn conflicting_shapes_are_rejected() {
        let err = parse("address=x&address[line1]=y").unwrap_err();
        assert_eq!(err.param, "address[line1]");
        assert!(parse("a[b]=1&a=2").is_err());
    }

    #[test]
    fn malformed_brackets_stay_literal() {
        let v = parse("a[b=1&c]d=2").unwrap();
        assert_eq!(v, json!({"a[b": "1", "c]d": "2"}));
    }

    #[test]
    fn metadata_keys_that_look_like_indices_in_a_mixed_hash() {
        let v = parse("metadata[0]=x&metadata[name]=y").unwrap();
        assert_eq!(v["metadata"], json!({"0": "x", "name": "y"}));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(parse("a=%FF").is_err());
    }

    #[test]
    fn lookup_by_bracket_path() {
        let v = parse("setup_intent_data[metadata][k]=v&expand[0]=customer").unwrap();
        assert_eq!(
            lookup(&v, "setup_intent_data[metadata][k]"),
            Some(&json!("v"))
        );
        assert_eq!(lookup(&v, "expand[0]"), Some(&json!("customer")));
        assert_eq!(lookup(&v, "nope[x]"), None);
    }
}
