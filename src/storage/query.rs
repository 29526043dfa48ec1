//! Query pieces every repository shares: keyset pagination and prefix ranges.

use sea_orm::DbErr;
use sea_orm::sea_query::{Expr, ExprTrait};

use super::{StoreError, StoreResult};
use crate::domain::page::{Cursor, SortValue};

/// `(a, b) > (x, y)` (or `<` when descending): a row comparison both databases serve from the
/// (sort column, id) index.
pub(super) fn keyset(columns: Vec<Expr>, values: Vec<Expr>, descending: bool) -> Expr {
    let (left, right) = if columns.len() == 1 {
        (columns.into_iter().next(), values.into_iter().next())
    } else {
        (Some(Expr::tuple(columns)), Some(Expr::tuple(values)))
    };
    let (Some(left), Some(right)) = (left, right) else {
        return Expr::val(true);
    };
    if descending {
        left.lt(right)
    } else {
        left.gt(right)
    }
}

/// What a list is ordered by before its id (the tie-breaker).
pub(super) enum Sort {
    /// The id alone.
    Id,
    /// A text column.
    Text(Expr),
    /// An integer column (timestamps).
    Int(Expr),
}

/// The rows after `cursor` in (`sort`, `id`) order, ascending or `descending`. The page token
/// parser only lets through cursors of the list's sort kind; another is a storage error.
pub(super) fn after(cursor: &Cursor, sort: Sort, id: Expr, descending: bool) -> StoreResult<Expr> {
    let last_id = Expr::val(cursor.id.clone());
    let (columns, values) = match (sort, &cursor.value) {
        (Sort::Id, SortValue::None) => (vec![id], vec![last_id]),
        (Sort::Text(column), SortValue::Text(value)) => {
            (vec![column, id], vec![Expr::val(value.clone()), last_id])
        }
        (Sort::Int(column), SortValue::Int(value)) => {
            (vec![column, id], vec![Expr::val(*value), last_id])
        }
        (_, value) => {
            return Err(StoreError::Db(DbErr::Custom(format!(
                "a page cursor with sort value {value:?} does not fit the list's order"
            ))));
        }
    };
    Ok(keyset(columns, values, descending))
}

/// The smallest string greater than every string that starts with `prefix`, if there is one.
pub(super) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_end_after_every_extension() {
        assert_eq!(prefix_end("acme").as_deref(), Some("acmf"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        // The surrogate gap is skipped.
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn a_cursor_of_another_sort_kind_is_refused() {
        let cursor = |value| Cursor {
            value,
            id: "01".to_owned(),
        };
        let col = || Expr::cust("sort_col");
        let id = || Expr::cust("id");
        assert!(after(&cursor(SortValue::Int(1)), Sort::Int(col()), id(), false).is_ok());
        assert!(
            after(
                &cursor(SortValue::Text("a".into())),
                Sort::Text(col()),
                id(),
                true
            )
            .is_ok()
        );
        assert!(after(&cursor(SortValue::None), Sort::Id, id(), false).is_ok());
        assert!(
            after(
                &cursor(SortValue::Text("a".into())),
                Sort::Int(col()),
                id(),
                false
            )
            .is_err()
        );
        assert!(after(&cursor(SortValue::Int(1)), Sort::Id, id(), false).is_err());
        assert!(after(&cursor(SortValue::None), Sort::Text(col()), id(), false).is_err());
    }
}
