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

/// Most page number of a page-numbered list (OpenMeter's `page`): deeper offsets are refused.
pub const MAX_PAGE_NUMBER: u64 = 100_000;

/// A page of a page-numbered list (OpenMeter's `page`/`pageSize` with its total count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    /// 1-based page number.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
}

impl Numbered {
    /// Parses a page number (absent: 1; 1..=MAX_PAGE_NUMBER) and a page size (absent: 100;
    /// 1..=MAX_PAGE_SIZE), naming `page_field` and `size_field`.
    pub fn parse(
        page_field: &str,
        page: Option<i64>,
        size_field: &str,
        page_size: Option<i64>,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE as i64);
        let max_page = MAX_PAGE_NUMBER as i64;
        if !(1..=max_page).contains(&page) {
            violations.push(FieldViolation::new(
                page_field,
                format!("must be between 1 and {MAX_PAGE_NUMBER}"),
            ));
        }
        if !(1..=MAX_PAGE_SIZE as i64).contains(&page_size) {
            violations.push(FieldViolation::new(
                size_field,
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        if violations.is_empty() {
            Ok(Self {
                page: page.unsigned_abs(),
                page_size: page_size.unsigned_abs(),
            })
        } else {
            Err(violations)
        }
    }

    /// Rows before this page.
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

/// One page of a page-numbered list and how many rows the whole list has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberedPage<T> {
    /// Rows of the whole list.
    pub total_count: u64,
    /// Which page this is.
    pub page: Numbered,
    /// Its rows.
    pub items: Vec<T>,
}

/// Most bytes of one page's items, as estimated by [`WireSize`]: safely below the 4 MiB a default
/// gRPC client accepts in one message, with room for the response's other fields.
pub const PAGE_BYTE_BUDGET: usize = 3 * 1024 * 1024;

/// A conservative estimate (never below the truth) of an item's encoded size in a list response:
/// every list page stops adding items before their sizes pass [`PAGE_BYTE_BUDGET`].
pub trait WireSize {
    /// Bytes this item takes in a response, at most.
    fn wire_size(&self) -> usize;
}

/// Building blocks of [`WireSize`] estimates. Protobuf spends at most 2 bytes on a tag and 5 on
/// a length (messages under 4 GiB), so a field costs its payload plus [`wire::FIELD`].
pub mod wire {
    /// Overhead of one field, or of one nested message (tag and length).
    pub const FIELD: usize = 8;
    /// An item in a repeated field, with slack for fields derived at encoding time.
    pub const ITEM: usize = 256;
    /// A number, bool or enum field.
    pub const SCALAR: usize = 12;
    /// A google.protobuf.Timestamp field.
    pub const TIMESTAMP: usize = 2 * FIELD + 2 * SCALAR;

    /// A string or bytes field.
    pub fn text(s: &str) -> usize {
        FIELD + s.len()
    }

    /// An optional string field.
    pub fn opt<T: AsRef<str>>(s: &Option<T>) -> usize {
        s.as_ref().map_or(0, |s| text(s.as_ref()))
    }

    /// A map<string, string> field.
    pub fn map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a String)>) -> usize {
        entries
            .into_iter()
            .map(|(k, v)| FIELD + text(k) + text(v))
            .sum()
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

/// What a list is ordered by, so that a page token of the right query but the wrong shape is
/// INVALID_ARGUMENT rather than a query the database refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKind {
    /// Ordered by id alone ([`SortValue::None`]).
    Id,
    /// A text column ([`SortValue::Text`]).
    Text,
    /// An integer column ([`SortValue::Int`]).
    Int,
}

/// Most bytes of a cursor's id or text value: ids are ULIDs or Stripe ids, texts at most 256
/// characters.
const MAX_CURSOR_TEXT: usize = 1024;

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
/// Tokens carry only what the list is ordered by; anything of another `kind`, or with text no
/// database could compare (NUL, too long), is INVALID_ARGUMENT as well.
pub fn decode_token(
    field: &str,
    raw: &str,
    query_fingerprint: &str,
    kind: SortKind,
) -> Result<Option<Cursor>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    let invalid = || FieldViolation::new(field, "is not a page token of this service");
    if raw.len() > 4 * MAX_CURSOR_TEXT {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.q != query_fingerprint {
        return Err(FieldViolation::new(
            field,
            "belongs to a query with other filters or order; repeat the filters of the first call",
        ));
    }
    let shape_ok = match (&token.v, kind) {
        (SortValue::None, SortKind::Id) | (SortValue::Int(_), SortKind::Int) => true,
        (SortValue::Text(text), SortKind::Text) => usable(text),
        _ => false,
    };
    if !shape_ok || token.i.is_empty() || !usable(&token.i) {
        return Err(invalid());
    }
    Ok(Some(Cursor {
        value: token.v,
        id: token.i,
    }))
}

fn usable(text: &str) -> bool {
    text.len() <= MAX_CURSOR_TEXT && !text.contains('\0')
}

/// How many of `rows` (in order) one page holds: at most `page_size`, and no more than fit in
/// [`PAGE_BYTE_BUDGET`], but always at least one.
pub fn fitting<T: WireSize>(rows: &[T], page_size: u64) -> usize {
    let size = usize::try_from(page_size).unwrap_or(usize::MAX);
    let mut bytes = 0usize;
    let mut keep = 0;
    for row in rows.iter().take(size) {
        bytes = bytes.saturating_add(row.wire_size());
        if keep > 0 && bytes > PAGE_BYTE_BUDGET {
            break;
        }
        keep += 1;
    }
    keep
}

/// The one page-finishing function of every list. `rows` were fetched with `page_size + 1` (or
/// are every row left): the page keeps at most `page_size` rows, no more than fit in
/// [`PAGE_BYTE_BUDGET`] (but at least one), and when rows are left over, the token of the next
/// page: the cursor right after the last row kept. `page_size` is thus a maximum.
pub fn finish<T: WireSize>(
    mut rows: Vec<T>,
    page_size: u64,
    query_fingerprint: &str,
    cursor_after: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let keep = fitting(&rows, page_size);
    if rows.len() <= keep {
        return (rows, None);
    }
    rows.truncate(keep);
    let token = rows
        .last()
        .map(|last| encode_token(query_fingerprint, &cursor_after(last)));
    (rows, token)
}

/// One page of a list: its items, in the list's order, and the token of the next page (`None`
/// on the last page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of the page.
    pub items: Vec<T>,
    /// The token of the next page, if there is one.
    pub next_page_token: Option<String>,
}

impl<T: WireSize> Page<T> {
    /// The page made of `rows` (read with one row more than `page_size`): see [`finish`].
    pub fn from_rows(
        rows: Vec<T>,
        page_size: u64,
        query_fingerprint: &str,
        cursor_after: impl Fn(&T) -> Cursor,
    ) -> Self {
        let (items, next_page_token) = finish(rows, page_size, query_fingerprint, cursor_after);
        Self {
            items,
            next_page_token,
        }
    }
}

impl<T> Page<T> {
    /// The same page with every item mapped by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A row of `.1` bytes with sort value `.0`.
    #[derive(Clone, Debug, PartialEq)]
    struct Row(i64, usize);

    impl WireSize for Row {
        fn wire_size(&self) -> usize {
            self.1
        }
    }

    fn cursor(row: &Row) -> Cursor {
        Cursor {
            value: SortValue::Int(row.0),
            id: row.0.to_string(),
        }
    }

    fn rows(n: i64, size: usize) -> Vec<Row> {
        (1..=n).map(|i| Row(i, size)).collect()
    }

    #[test]
    fn page_sizes_default_cap_and_reject_negative() {
        assert_eq!(page_size("p", 0), Ok(100));
        assert_eq!(page_size("p", 7), Ok(7));
        assert_eq!(page_size("p", 5000), Ok(1000));
        assert!(page_size("p", -1).is_err());
    }

    #[test]
    fn finish_keeps_the_page_and_points_after_its_last_row() {
        let (kept, token) = finish(rows(3, 10), 2, "q", cursor);
        assert_eq!(kept, rows(2, 10));
        let after = decode_token("t", &token.expect("more rows"), "q", SortKind::Int).unwrap();
        assert_eq!(after, Some(cursor(&Row(2, 10))));
        assert_eq!(finish(rows(2, 10), 2, "q", cursor), (rows(2, 10), None));
    }

    #[test]
    fn finish_stops_at_the_byte_budget_but_keeps_at_least_one_row() {
        let mib = 1024 * 1024;
        // Twelve rows of 900 KiB: three fit in 3 MiB.
        let (kept, token) = finish(rows(12, 900 * 1024), 100, "q", cursor);
        assert_eq!(kept.len(), 3);
        let after = decode_token("t", &token.expect("more rows"), "q", SortKind::Int).unwrap();
        assert_eq!(after, Some(cursor(&Row(3, 0))));
        // The last rows of a query, cut by bytes, still get a token.
        let (kept, token) = finish(rows(4, mib), 100, "q", cursor);
        assert_eq!(kept.len(), 3);
        assert!(token.is_some());
        // One row larger than the budget still makes a page.
        let (kept, token) = finish(rows(2, 5 * mib), 100, "q", cursor);
        assert_eq!(kept.len(), 1);
        assert!(token.is_some());
        assert_eq!(finish(rows(1, 5 * mib), 100, "q", cursor).1, None);
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query_and_shape() {
        let cursor = Cursor {
            value: SortValue::Text("ACME".into()),
            id: "01J".into(),
        };
        let q = fingerprint(&["name", "asc"]);
        let token = encode_token(&q, &cursor);
        assert_eq!(
            decode_token("t", &token, &q, SortKind::Text),
            Ok(Some(cursor.clone()))
        );
        assert!(decode_token("t", &token, &q, SortKind::Int).is_err());
        assert!(decode_token("t", &token, &q, SortKind::Id).is_err());
        let other = fingerprint(&["name", "desc"]);
        assert!(decode_token("t", &token, &other, SortKind::Text).is_err());
        assert!(decode_token("t", "garbage!", &q, SortKind::Text).is_err());
        assert_eq!(decode_token("t", "", &q, SortKind::Text), Ok(None));
        let int = Cursor {
            value: SortValue::Int(42),
            id: "x".into(),
        };
        assert_eq!(
            decode_token("t", &encode_token(&q, &int), &q, SortKind::Int),
            Ok(Some(int))
        );
        let none = Cursor {
            value: SortValue::None,
            id: "x".into(),
        };
        assert_eq!(
            decode_token("t", &encode_token(&q, &none), &q, SortKind::Id),
            Ok(Some(none))
        );
        let nul = Cursor {
            value: SortValue::Text("a\0b".into()),
            id: "x".into(),
        };
        assert!(decode_token("t", &encode_token(&q, &nul), &q, SortKind::Text).is_err());
        let nul_id = Cursor {
            value: SortValue::Int(1),
            id: "x\0".into(),
        };
        assert!(decode_token("t", &encode_token(&q, &nul_id), &q, SortKind::Int).is_err());
    }

    fn kind() -> impl Strategy<Value = SortKind> {
        prop_oneof![
            Just(SortKind::Id),
            Just(SortKind::Text),
            Just(SortKind::Int)
        ]
    }

    fn sort_value() -> impl Strategy<Value = SortValue> {
        prop_oneof![
            Just(SortValue::None),
            any::<String>().prop_map(SortValue::Text),
            any::<i64>().prop_map(SortValue::Int),
        ]
    }

    fn assert_named(result: &Result<Option<Cursor>, FieldViolation>) {
        if let Err(violation) = result {
            assert_eq!(violation.field, "page_token");
        }
    }

    proptest! {
        /// Any string as a page token: no panic; the first page, a cursor, or a violation of
        /// page_token.
        #[test]
        fn arbitrary_strings_never_panic(raw in any::<String>(), kind in kind()) {
            assert_named(&decode_token("page_token", &raw, "q", kind));
        }

        /// Any bytes behind valid base64: no panic, only page_token violations.
        #[test]
        fn arbitrary_token_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), kind in kind()) {
            let raw = URL_SAFE_NO_PAD.encode(bytes);
            assert_named(&decode_token("page_token", &raw, "q", kind));
        }

        /// Tokens of this query with any cursor inside: no panic; what decodes has the shape the
        /// list asked for and text every database can compare.
        #[test]
        fn crafted_tokens_decode_only_to_usable_cursors(
            value in sort_value(),
            id in any::<String>(),
            kind in kind(),
        ) {
            let raw = encode_token("q", &Cursor { value, id });
            let result = decode_token("page_token", &raw, "q", kind);
            assert_named(&result);
            if let Ok(Some(cursor)) = result {
                prop_assert!(!cursor.id.contains('\0') && !cursor.id.is_empty());
                match (cursor.value, kind) {
                    (SortValue::Text(t), SortKind::Text) => prop_assert!(!t.contains('\0')),
                    (SortValue::Int(_), SortKind::Int) | (SortValue::None, SortKind::Id) => {}
                    (other, kind) => prop_assert!(false, "{other:?} decoded for {kind:?}"),
                }
            }
        }

        /// A page never passes the budget unless it is one row, holds at most page_size rows,
        /// and continues right after its last row.
        #[test]
        fn pages_fit_the_budget(
            sizes in proptest::collection::vec(0usize..2 * 1024 * 1024, 0..40),
            page_size in 1u64..50,
        ) {
            let all: Vec<Row> = sizes.iter().enumerate().map(|(i, s)| Row(i as i64, *s)).collect();
            let fetched: Vec<Row> = all.iter().take(page_size as usize + 1).cloned().collect();
            let (kept, token) = finish(fetched, page_size, "q", cursor);
            prop_assert!(kept.len() as u64 <= page_size);
            prop_assert_eq!(all.is_empty(), kept.is_empty());
            let bytes: usize = kept.iter().map(WireSize::wire_size).sum();
            prop_assert!(kept.len() == 1 || bytes <= PAGE_BYTE_BUDGET);
            prop_assert_eq!(token.is_some(), kept.len() < all.len());
            if let Some(token) = token {
                let after = decode_token("t", &token, "q", SortKind::Int).unwrap().unwrap();
                prop_assert_eq!(after, cursor(kept.last().unwrap()));
            }
        }
    }
}
