//! Keyset pagination: page sizes and opaque page tokens bound to the query that made them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FieldViolation;

/// Page size when the caller gives 0.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page; larger requests are reduced to it.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Parses a page size: 0 -> 100, larger than 1000 -> 1000, negative -> INVALID_ARGUMENT.
pub fn page_size(field: &str, raw: i32) -> Result<u64, FieldViolation> {
    match raw {
        ..0 => Err(FieldViolation::new(field, "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(u64::from(n.unsigned_abs()).min(MAX_PAGE_SIZE)),
    }
}

/// The sort value of the last row of a page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    /// Ordered by id alone.
    None,
    /// A text column.
    Text(String),
    /// An integer column (timestamps).
    Int(i64),
}

/// Where the next page starts: after the row with this sort value and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The sort column's value of the last row returned.
    pub value: SortValue,
    /// The id of the last row returned (the tie-breaker).
    pub id: String,
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// Fingerprint of the query (filters and order) the token belongs to.
    q: String,
    /// Sort value.
    v: SortValue,
    /// Id.
    i: String,
}

/// A fingerprint of a query: the same filters and order give the same fingerprint.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes the cursor of the next page of the query with `query_fingerprint`.
pub fn encode_token(query_fingerprint: &str, cursor: &Cursor) -> String {
    let token = Token {
        q: query_fingerprint.to_owned(),
        v: cursor.value.clone(),
        i: cursor.id.clone(),
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a page token (empty means the first page). A token of another query, or one that is
/// not a token at all, is INVALID_ARGUMENT.
pub fn decode_token(
    field: &str,
    raw: &str,
    query_fingerprint: &str,
) -> Result<Option<Cursor>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    let invalid = || FieldViolation::new(field, "is not a page token of this service");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.q != query_fingerprint {
        return Err(FieldViolation::new(
            field,
            "belongs to a query with other filters or order; repeat the filters of the first call",
        ));
    }
    Ok(Some(Cursor {
        value: token.v,
        id: token.i,
    }))
}

/// Finishes a page from `rows` fetched with `page_size + 1`: keeps `page_size` rows and, when
/// there was one more, the token of the next page (the cursor after the last row kept).
pub fn finish<T>(
    mut rows: Vec<T>,
    page_size: u64,
    query_fingerprint: &str,
    cursor_after: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let size = usize::try_from(page_size).unwrap_or(usize::MAX);
    if rows.len() <= size {
        return (rows, None);
    }
    rows.truncate(size);
    let token = rows
        .last()
        .map(|last| encode_token(query_fingerprint, &cursor_after(last)));
    (rows, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_cap_and_reject_negative() {
        assert_eq!(page_size("p", 0), Ok(100));
        assert_eq!(page_size("p", 7), Ok(7));
        assert_eq!(page_size("p", 5000), Ok(1000));
        assert!(page_size("p", -1).is_err());
    }

    #[test]
    fn finish_keeps_the_page_and_points_after_its_last_row() {
        let cursor = |n: &i64| Cursor {
            value: SortValue::Int(*n),
            id: n.to_string(),
        };
        let (rows, token) = finish(vec![1, 2, 3], 2, "q", cursor);
        assert_eq!(rows, [1, 2]);
        let after = decode_token("t", &token.expect("more rows"), "q").unwrap();
        assert_eq!(after, Some(cursor(&2)));
        assert_eq!(finish(vec![1, 2], 2, "q", cursor), (vec![1, 2], None));
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let cursor = Cursor {
            value: SortValue::Text("ACME".into()),
            id: "01J".into(),
        };
        let q = fingerprint(&["name", "asc"]);
        let token = encode_token(&q, &cursor);
        assert_eq!(decode_token("t", &token, &q), Ok(Some(cursor)));
        let other = fingerprint(&["name", "desc"]);
        assert!(decode_token("t", &token, &other).is_err());
        assert!(decode_token("t", "garbage!", &q).is_err());
        assert_eq!(decode_token("t", "", &q), Ok(None));
        let int = Cursor {
            value: SortValue::Int(42),
            id: "x".into(),
        };
        assert_eq!(
            decode_token("t", &encode_token(&q, &int), &q),
            Ok(Some(int))
        );
    }
}
