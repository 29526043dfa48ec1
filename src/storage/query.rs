//! Query pieces every repository shares: keyset pagination, prefix ranges, inserts and
//! soft deletes.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::{StoreError, StoreResult};
use crate::domain::Timestamp;
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

/// What a list is ordered by before its id (the tie-breaker), a column `C`.
pub(super) enum Sort<C> {
    /// The id alone.
    Id,
    /// A text column.
    Text(C),
    /// An integer column (timestamps).
    Int(C),
}

impl<C> Sort<C> {
    fn column(&self) -> Option<&C> {
        match self {
            Sort::Id => None,
            Sort::Text(column) | Sort::Int(column) => Some(column),
        }
    }

    fn map<D>(self, f: impl FnOnce(C) -> D) -> Sort<D> {
        match self {
            Sort::Id => Sort::Id,
            Sort::Text(column) => Sort::Text(f(column)),
            Sort::Int(column) => Sort::Int(f(column)),
        }
    }
}

/// The rows after `cursor` in (`sort`, `id`) order, ascending or `descending`. The page token
/// parser only lets through cursors of the list's sort kind; another is a storage error.
pub(super) fn after(
    cursor: &Cursor,
    sort: Sort<Expr>,
    id: Expr,
    descending: bool,
) -> StoreResult<Expr> {
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

/// One keyset page of `select`: at most `limit` rows in (`sort`, `id`) order, ascending or
/// `descending`, after `cursor` if given.
pub(super) fn page<E: EntityTrait>(
    select: Select<E>,
    sort: Sort<E::Column>,
    id: E::Column,
    cursor: Option<&Cursor>,
    descending: bool,
    limit: u64,
) -> StoreResult<Select<E>> {
    let order = if descending { Order::Desc } else { Order::Asc };
    let mut select = select;
    if let Some(&column) = sort.column() {
        select = select.order_by(column, order.clone());
    }
    select = select.order_by(id, order).limit(limit);
    if let Some(cursor) = cursor {
        let sort = sort.map(Expr::col);
        select = select.filter(after(cursor, sort, Expr::col(id), descending)?);
    }
    Ok(select)
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

/// Inserts `rows` (all of one table; none: nothing), reading nothing back. `UniqueViolation` if a
/// unique index refuses one; then none is stored.
pub(super) async fn insert<A: ActiveModelTrait>(
    db: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = A>,
) -> StoreResult<()> {
    A::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(StoreError::from_db)?;
    Ok(())
}

/// Soft-deletes the live rows of `E` that match `which`: their `deleted_at` and `updated_at`
/// become `at`. Returns how many.
pub(super) async fn soft_delete<E: EntityTrait>(
    db: &impl ConnectionTrait,
    (deleted_at, updated_at): (E::Column, E::Column),
    which: Condition,
    at: Timestamp,
) -> StoreResult<u64> {
    let result = E::update_many()
        .col_expr(deleted_at, Expr::val(at.micros()))
        .col_expr(updated_at, Expr::val(at.micros()))
        .filter(which)
        .filter(deleted_at.is_null())
        .exec(db)
        .await
        .map_err(StoreError::from_db)?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QueryTrait};

    use super::super::entities::app;
    use super::*;

    #[test]
    fn prefix_ranges_end_after_every_extension() {
        assert_eq!(prefix_end("acme").as_deref(), Some("acmf"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        // The surrogate gap is skipped.
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    fn cursor(value: SortValue) -> Cursor {
        Cursor {
            value,
            id: "01J".to_owned(),
        }
    }

    fn page_sql(sort: Sort<app::Column>, after: Option<&Cursor>, descending: bool) -> String {
        let select = page(
            app::Entity::find(),
            sort,
            app::Column::Id,
            after,
            descending,
            3,
        );
        match select {
            Ok(select) => select.build(DbBackend::Sqlite).to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn a_page_starts_after_its_cursor_in_sort_then_id_order() {
        let after = cursor(SortValue::Int(5));
        let sql = page_sql(Sort::Int(app::Column::CreatedAt), Some(&after), true);
        assert!(
            sql.ends_with(
                r#"WHERE ("created_at", "id") < (5, '01J') ORDER BY "apps"."created_at" DESC, "apps"."id" DESC LIMIT 3"#
            ),
            "{sql}"
        );
        let after = cursor(SortValue::None);
        let sql = page_sql(Sort::Id, Some(&after), false);
        assert!(
            sql.ends_with(r#"WHERE "id" > '01J' ORDER BY "apps"."id" ASC LIMIT 3"#),
            "{sql}"
        );
        let first = page_sql(Sort::Text(app::Column::Name), None, false);
        assert!(
            first.ends_with(r#"FROM "apps" ORDER BY "apps"."name" ASC, "apps"."id" ASC LIMIT 3"#),
            "{first}"
        );
    }

    #[test]
    fn a_cursor_of_another_sort_kind_is_refused() {
        let text = cursor(SortValue::Text("a".into()));
        for (sort, after) in [
            (Sort::Int(app::Column::CreatedAt), &text),
            (Sort::Id, &cursor(SortValue::Int(1))),
            (Sort::Text(app::Column::Name), &cursor(SortValue::None)),
        ] {
            assert!(page_sql(sort, Some(after), false).starts_with("error: "));
        }
    }
}
