//! The one repository of reads. Each read is written once, on [`Reader`], generic over the
//! connection; `Store` answers it outside a transaction and `Tx` inside its transaction, under the
//! same name and signature.

use sea_orm::sqlx::{PgPool, SqlitePool};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryResult,
    RuntimeErr, Select, Statement, Value,
};
use tracing::Instrument;

use super::cache::CustomerCache;
use super::customers::CustomerReads;
use super::{Backend, IdempotencyRecord, Store, StoreError, StoreResult, Tx};
use crate::domain::Namespace;
use crate::domain::app::{App, AppSecrets, CustomerApp};
use crate::domain::checkout::{CheckoutSession, SessionStatus};
use crate::domain::customer::{Customer, CustomerFilter, CustomerQuery, Order};
use crate::domain::event::{EventQuery, StoredEvent};
use crate::domain::page::Cursor;
use crate::domain::subject::Subject;

/// Reads over one connection: the store's readers, or an open transaction. The repositories
/// (customers.rs, apps.rs, ...) add their reads to it.
pub(super) struct Reader<'a, C> {
    /// Where reads go.
    pub(super) db: &'a C,
    /// Where writes go: on SQLite a read there queues behind the write in progress and so sees
    /// it. Identifier conflict checks and idempotency lookups read here. Inside a transaction, the
    /// transaction.
    pub(super) writer: &'a C,
    /// Customers by id; only outside a transaction (a transaction reads its own writes, which must
    /// not reach the cache before it commits).
    pub(super) customer_cache: Option<&'a CustomerCache>,
    /// The readers' pool itself, outside a transaction: the hot reads go straight to the driver.
    pub(super) direct: Option<Direct<'a>>,
    /// GetCustomer's reads merged across concurrent calls; only outside a transaction, on
    /// PostgreSQL.
    pub(super) customer_reads: Option<&'a CustomerReads>,
}

/// The driver's pool behind the store's readers.
#[derive(Clone, Copy)]
pub(super) enum Direct<'a> {
    Postgres(&'a PgPool),
    Sqlite(&'a SqlitePool),
}

impl Direct<'_> {
    /// `db.system` of the database spans, as OpenTelemetry names them.
    fn system(self) -> &'static str {
        match self {
            Direct::Postgres(_) => "postgresql",
            Direct::Sqlite(_) => "sqlite",
        }
    }

    /// The first row of `sql` with the text `params`, on a connection of the pool.
    async fn one(self, sql: &'static str, params: [&str; 2]) -> Result<Option<QueryResult>, DbErr> {
        let found = match self {
            Direct::Postgres(pool) => sea_orm::sqlx::query(sql)
                .bind(params[0])
                .bind(params[1])
                .fetch_optional(pool)
                .await
                .map(|row| row.map(QueryResult::from)),
            Direct::Sqlite(pool) => sea_orm::sqlx::query(sql)
                .bind(params[0])
                .bind(params[1])
                .fetch_optional(pool)
                .await
                .map(|row| row.map(QueryResult::from)),
        };
        found.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())))
    }
}

impl<C: ConnectionTrait> Reader<'_, C> {
    /// The first row `select` finds, as `to_domain` reads it.
    pub(super) async fn one<E: EntityTrait, T>(
        &self,
        select: Select<E>,
        to_domain: impl FnOnce(E::Model) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        select
            .one(self.db)
            .await
            .map_err(StoreError::from_db)?
            .map(to_domain)
            .transpose()
    }

    /// The first row of a hand-written statement, as `read` reads it (by position). For the hot
    /// reads: the text is fixed at compile time (`$n` parameters, which both databases accept),
    /// so nothing builds SQL per call and the driver's prepared-statement cache always hits;
    /// outside a transaction it goes to the driver's pool directly, with a database span like
    /// SeaORM's (which costs nothing unless a trace exporter wants it).
    pub(super) async fn one_sql<T>(
        &self,
        sql: &'static str,
        params: [&str; 2],
        read: impl FnOnce(&QueryResult) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let row = match self.direct {
            Some(direct) => {
                let span = tracing::info_span!(
                    target: "patron_sql",
                    "db.query_one",
                    otel.kind = "client",
                    db.system = direct.system(),
                    db.operation = "SELECT",
                    db.statement = sql,
                );
                direct.one(sql, params).instrument(span).await
            }
            None => {
                let values = params.map(Value::from);
                let statement =
                    Statement::from_sql_and_values(self.db.get_database_backend(), sql, values);
                self.db.query_one_raw(statement).await
            }
        };
        row.map_err(StoreError::from_db)?
            .as_ref()
            .map(read)
            .transpose()
    }

    /// Every row `select` finds, as `to_domain` reads them.
    pub(super) async fn all<E: EntityTrait, T>(
        &self,
        select: Select<E>,
        to_domain: impl FnMut(E::Model) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        select
            .all(self.db)
            .await
            .map_err(StoreError::from_db)?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}

impl Store {
    /// Reads outside a transaction.
    fn read(&self) -> Reader<'_, DatabaseConnection> {
        Reader {
            db: &self.reader,
            writer: &self.writer,
            customer_cache: self.customer_cache.as_deref(),
            customer_reads: self.customer_reads.as_deref(),
            direct: Some(match self.backend {
                Backend::Postgres => Direct::Postgres(self.reader.get_postgres_connection_pool()),
                Backend::Sqlite => Direct::Sqlite(self.reader.get_sqlite_connection_pool()),
            }),
        }
    }
}

impl Tx {
    /// Reads inside this transaction.
    fn read(&self) -> Reader<'_, DatabaseTransaction> {
        Reader {
            db: &self.inner,
            writer: &self.inner,
            customer_cache: None,
            customer_reads: None,
            direct: None,
        }
    }
}

/// Makes every listed read of [`Reader`] a method of `Store` (outside a transaction) and of `Tx`
/// (inside it).
macro_rules! reads {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        impl Store {
            $(
                #[doc = concat!("The read `", stringify!($name), "` outside a transaction (the \
                    storage Reader's, documented in its repository module).")]
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.read().$name($($arg),*).await
                }
            )*
        }
        impl Tx {
            $(
                #[doc = concat!("The read `", stringify!($name), "` inside the transaction (the \
                    storage Reader's, documented in its repository module).")]
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.read().$name($($arg),*).await
                }
            )*
        }
    };
}

reads! {
    // customers.rs
    fn customer_by_id(&self, ns: &Namespace, id: &str) -> StoreResult<Option<Customer>>;
    fn live_customer_by_key(&self, ns: &Namespace, key: &str) -> StoreResult<Option<Customer>>;
    fn identifier_holders(
        &self,
        ns: &Namespace,
        identifiers: &[&str]
    ) -> StoreResult<Vec<(String, String)>>;
    fn list_customers(&self, ns: &Namespace, query: &CustomerQuery) -> StoreResult<Vec<Customer>>;
    fn count_customers(&self, ns: &Namespace, filter: &CustomerFilter) -> StoreResult<u64>;
    fn customers_at(
        &self,
        ns: &Namespace,
        filter: &CustomerFilter,
        order: Order,
        offset: u64,
        limit: u64
    ) -> StoreResult<Vec<Customer>>;
    // apps.rs
    fn app_by_id(&self, ns: &Namespace, id: &str) -> StoreResult<Option<(App, AppSecrets)>>;
    fn default_app(&self, ns: &Namespace) -> StoreResult<Option<(App, AppSecrets)>>;
    fn has_live_default_app(&self, ns: &Namespace) -> StoreResult<bool>;
    fn list_apps(
        &self,
        ns: &Namespace,
        show_deleted: bool,
        after: Option<&Cursor>,
        limit: u64
    ) -> StoreResult<Vec<App>>;
    fn app_for_webhook(&self, app_id: &str) -> StoreResult<Option<(Namespace, App, AppSecrets)>>;
    // customer_apps.rs
    fn customer_apps(&self, ns: &Namespace, customer_id: &str) -> StoreResult<Vec<CustomerApp>>;
    fn customer_app(
        &self,
        ns: &Namespace,
        app_id: &str,
        customer_id: &str
    ) -> StoreResult<Option<CustomerApp>>;
    fn customer_app_by_stripe_customer(
        &self,
        ns: &Namespace,
        app_id: &str,
        stripe_customer_id: &str
    ) -> StoreResult<Option<CustomerApp>>;
    // subjects.rs
    fn subject_by_id(&self, ns: &Namespace, id: &str) -> StoreResult<Option<Subject>>;
    fn live_subject_by_key(&self, ns: &Namespace, key: &str) -> StoreResult<Option<Subject>>;
    fn live_subjects_by_keys(&self, ns: &Namespace, keys: &[&str]) -> StoreResult<Vec<Subject>>;
    fn list_subjects(
        &self,
        ns: &Namespace,
        key_prefix: Option<&str>,
        customer_id: Option<&str>,
        show_deleted: bool,
        after: Option<&Cursor>,
        limit: u64
    ) -> StoreResult<Vec<Subject>>;
    // checkout_sessions.rs
    fn checkout_session(
        &self,
        ns: &Namespace,
        session_id: &str
    ) -> StoreResult<Option<(CheckoutSession, Option<String>)>>;
    fn checkout_session_by_setup_intent(
        &self,
        ns: &Namespace,
        app_id: &str,
        setup_intent_id: &str
    ) -> StoreResult<Option<CheckoutSession>>;
    fn newest_collecting_session(
        &self,
        ns: &Namespace,
        app_id: &str,
        customer_id: &str,
        stripe_customer_id: &str
    ) -> StoreResult<Option<CheckoutSession>>;
    fn list_checkout_sessions(
        &self,
        ns: &Namespace,
        customer_id: Option<&str>,
        status: Option<SessionStatus>,
        after: Option<&Cursor>,
        limit: u64
    ) -> StoreResult<Vec<(CheckoutSession, Option<String>)>>;
    // webhook_events.rs
    fn webhook_event_processed(
        &self,
        ns: &Namespace,
        app_id: &str,
        event_id: &str
    ) -> StoreResult<bool>;
    // events.rs
    fn list_events(
        &self,
        ns: &Namespace,
        query: &EventQuery,
        limit: u64
    ) -> StoreResult<Vec<StoredEvent>>;
    // idempotency.rs
    fn idempotency_record(
        &self,
        ns: &Namespace,
        method: &str,
        request_id: &str
    ) -> StoreResult<Option<IdempotencyRecord>>;
}
