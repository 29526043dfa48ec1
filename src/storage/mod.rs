//! Storage: SeaORM entities and repositories. The only module that names sea_orm.
//!
//! SQLite runs with WAL, a busy timeout and one writer connection (writes queue in the pool instead
//! of spinning on the database lock) beside a pool of readers; creates share that writer's
//! commits through [`group_commit`]. PostgreSQL uses one pool.

mod apps;
mod batch;
mod cache;
mod checkout_sessions;
mod checkpoint;
mod creates;
mod customer_apps;
mod customers;
mod entities;
mod events;
mod group_commit;
mod idempotency;
mod query;
mod read;
mod subjects;
mod webhook_events;

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, RuntimeErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

use crate::domain::Error;

use cache::{CustomerCache, Marks};
use checkpoint::Checkpoints;
use group_commit::GroupCommit;

pub use customer_apps::{StripeCustomerOf, StripeEntry};
pub use customers::CreateRecord;
pub use idempotency::IdempotencyRecord;

/// A storage failure, as the service layer needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write (the service decides what was taken).
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// Any other database error.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl StoreError {
    fn from_db(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(message)) => Self::UniqueViolation(message),
            _ => Self::Db(err),
        }
    }
}

/// Whether a database error means "cannot reach the database now" (retryable) rather than a bug.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                // PostgreSQL: connection exceptions (08), operator intervention such as a
                // shutdown (57P), a statement cancelled by statement_timeout (57014), the
                // database does not exist (3D000).
                Sqlx::Database(db) => db.code().is_some_and(|code| {
                    code.starts_with("08")
                        || code.starts_with("57P")
                        || code == "57014"
                        || code == "3D000"
                }),
                _ => false,
            }
        }
        _ => false,
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Db(db) if is_unavailable(&db) => {
                Error::Unavailable(format!("database: {db}"))
            }
            other => Error::Internal(format!("database: {other}")),
        }
    }
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (or memory).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The PostgreSQL advisory lock key that serializes migrations across processes (the bytes of
/// "patronmi", so no other application's lock is likely to collide).
const MIGRATION_LOCK_KEY: i64 = 0x7061_7472_6f6e_6d69;

/// Longest a replica waits for another one's migrations.
const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// The tables whose list and lookup plans depend on statistics.
const STATISTICS_TABLES: &[&str] = &[
    "customers",
    "attribution_identifiers",
    "customer_subject_keys",
    "subjects",
];

/// Fewest changed rows that make [`Store::refresh_statistics`] analyze a table.
pub const STATISTICS_MIN_CHANGES: i64 = 1000;

/// Connection settings.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Most connections (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// How long a call waits for a connection.
    pub acquire_timeout: Duration,
    /// Customers kept in memory by id (SQLite only, where this process is the only writer;
    /// 0 turns the cache off).
    pub customer_cache_entries: usize,
    /// PostgreSQL `statement_timeout` of every connection (zero: none).
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            customer_cache_entries: 10_000,
            statement_timeout: Duration::from_secs(15),
        }
    }
}

/// The database: a writer and readers (the same pool on PostgreSQL).
#[derive(Clone, Debug)]
pub struct Store {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
    backend: Backend,
    /// Customers by id; only where this process is the database's only writer.
    customer_cache: Option<Arc<CustomerCache>>,
    /// GetCustomer's reads merged across concurrent calls (PostgreSQL only).
    customer_reads: Option<Arc<customers::CustomerReads>>,
    /// PostgreSQL's create queue, merging concurrent creates into one statement (none on SQLite).
    creates: Option<Arc<creates::Creates>>,
    /// SQLite's writer task, batching write jobs into shared commits (none on PostgreSQL).
    group_commit: Option<GroupCommit>,
    /// SQLite's checkpointer, beside the writer (none on PostgreSQL or in memory).
    checkpoints: Option<Checkpoints>,
    /// The SQLite file's lock: held for as long as any clone of the store lives.
    _file_lock: Option<Arc<File>>,
}

/// An open write transaction; dropped without `commit` it rolls back.
pub struct Tx {
    inner: DatabaseTransaction,
    /// Cached customers this transaction writes, kept out of the cache until it ends (shared by
    /// the jobs of one group commit).
    marks: Arc<Marks>,
    /// SQLite's checkpointer, told once this transaction committed.
    checkpoints: Option<Checkpoints>,
}

/// The file of a `sqlite:` URL as sqlx opens it; `None` for an in-memory database or a URL that
/// is not SQLite.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options: SqliteConnectOptions = url.parse().ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_path_buf())
}

/// Takes the lock that makes this process the only one serving the SQLite file at `url` (so the
/// in-process customer cache cannot go stale behind its back).
fn lock_sqlite_file(url: &str) -> Result<Option<File>, DbErr> {
    let Some(path) = sqlite_file(url) else {
        return Ok(None);
    };
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".patron-lock");
    let lock_path = PathBuf::from(lock_path);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            DbErr::Custom(format!(
                "cannot open the lock file {}: {e}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(DbErr::Custom(format!(
            "another patron process is serving the SQLite file {} (lock file {}); an embedded \
             database has exactly one server",
            path.display(),
            lock_path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(DbErr::Custom(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

/// Connections of the PostgreSQL pool that runs the merged statements (customer reads by id and by
/// key, creates), beside the main pool: one statement in flight per queue.
const MERGED_STATEMENT_CONNECTIONS: u32 = 3;

/// What a pool's connections are for, which decides the settings they start with.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Every statement without a pool of its own (and SQLite's readers). On PostgreSQL, plans are
    /// its own choice (`plan_cache_mode = auto`): statements whose best plan depends on their
    /// parameters (lists with filters, sorts and limits) get a plan for them.
    Main,
    /// PostgreSQL's merged statements: one generic plan per statement and connection
    /// (`plan_cache_mode = force_generic_plan`). Their plan (a nested loop over the unnested
    /// arrays, one index probe each) never depends on the values, but `auto` plans them anew on
    /// every execution whenever few calls were merged, because an array of one or two elements
    /// makes the custom plan look cheaper; planning then costs PostgreSQL more than running the
    /// statement.
    Merged,
    /// SQLite's one writer: it checkpoints the WAL itself only past [`WAL_BACKSTOP_PAGES`] (SQLite's
    /// default is 1,000), since the checkpointer does it off the commit path, and keeps its
    /// statement journals in memory.
    SqliteWriter,
}

/// WAL pages after which SQLite's writer checkpoints in its own commit: only when the
/// checkpointer could not finish one (writes never paused long enough), so that the WAL stays
/// bounded (40 MiB at 4 KiB pages).
const WAL_BACKSTOP_PAGES: u32 = 10_000;

fn options(url: &str, max: u32, settings: &PoolSettings, role: Role) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    let statement_timeout = settings.statement_timeout.as_millis();
    options
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        // A ping on every checkout costs a round trip (PostgreSQL) or a thread hop (SQLite) per
        // query; only connections idle long enough to have been dropped by a server, proxy or
        // firewall are checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            let o = if role == Role::SqliteWriter {
                // Statement journals (every multi-row INSERT inside a transaction keeps one, so
                // that the statement alone can be undone) stay in memory instead of a temporary
                // file: a batch of 1,000 events wrote each page it touched to that file first.
                // Readers keep temporary files, so that a large sort cannot grow the heap.
                o.pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES.to_string())
                    .pragma("temp_store", "memory")
            } else {
                o
            };
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        })
        // Sent in the startup packet, so it holds on every connection of the pool; a statement
        // that runs longer fails with 57014 (UNAVAILABLE) instead of holding its connection.
        .map_sqlx_postgres_opts(move |o| {
            let o = if statement_timeout == 0 {
                o
            } else {
                o.options([("statement_timeout", format!("{statement_timeout}ms"))])
            };
            match role {
                Role::Merged => o.options([("plan_cache_mode", "force_generic_plan")]),
                Role::Main | Role::SqliteWriter => o,
            }
        });
    options
}

impl Store {
    /// Connects to `url` (`sqlite:...` or `postgres://...`).
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, DbErr> {
        if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let file_lock = lock_sqlite_file(url)?;
            let writer = Database::connect(options(url, 1, settings, Role::SqliteWriter)).await?;
            // An in-memory database exists once per connection: it cannot have separate readers.
            let reader = if in_memory {
                writer.clone()
            } else {
                Database::connect(options(
                    url,
                    settings.max_connections.max(1),
                    settings,
                    Role::Main,
                ))
                .await?
            };
            let customer_cache = (settings.customer_cache_entries > 0)
                .then(|| Arc::new(CustomerCache::new(settings.customer_cache_entries)));
            let checkpoints = (!in_memory).then(|| Checkpoints::start(reader.clone()));
            let group_commit = Some(GroupCommit::start(
                writer.clone(),
                customer_cache.clone(),
                checkpoints.clone(),
                settings.acquire_timeout,
            ));
            Ok(Self {
                writer,
                reader,
                backend: Backend::Sqlite,
                customer_cache,
                customer_reads: None,
                creates: None,
                group_commit,
                checkpoints,
                _file_lock: file_lock.map(Arc::new),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool =
                Database::connect(options(url, settings.max_connections, settings, Role::Main))
                    .await?;
            let merged = Database::connect(options(
                url,
                MERGED_STATEMENT_CONNECTIONS,
                settings,
                Role::Merged,
            ))
            .await?;
            // Replicas share a PostgreSQL database: no process can cache what another may write.
            let customer_reads = customers::CustomerReads::start(
                merged.get_postgres_connection_pool(),
                settings.acquire_timeout,
            );
            let creates = creates::Creates::start(
                merged.get_postgres_connection_pool().clone(),
                settings.acquire_timeout,
            );
            Ok(Self {
                writer: pool.clone(),
                reader: pool,
                backend: Backend::Postgres,
                customer_cache: None,
                customer_reads: Some(Arc::new(customer_reads)),
                creates: Some(Arc::new(creates)),
                group_commit: None,
                checkpoints: None,
                _file_lock: None,
            })
        } else {
            Err(DbErr::Custom(
                "the database URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration, one process at a time: replicas starting together on an
    /// empty database would otherwise all create the migrations table and insert the same rows.
    ///
    /// The whole run is one transaction, so it holds one connection from start to end; on
    /// PostgreSQL that transaction first takes an advisory lock (released by the commit or
    /// rollback, or by the server if the process dies), and the next replica, once it has the
    /// lock, finds nothing pending. On SQLite the lock file already makes this process the only
    /// one on the database.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        let tx = self.writer.begin().await?;
        if self.backend == Backend::Postgres {
            // A replica stuck holding the lock must not hang the others forever.
            tx.execute_unprepared(&format!(
                "SET LOCAL lock_timeout = '{}s'",
                MIGRATION_LOCK_TIMEOUT.as_secs()
            ))
            .await?;
            tx.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .await?;
        }
        Migrator::up(&tx, None).await?;
        tx.commit().await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        self.reader.ping().await.map_err(StoreError::from_db)
    }

    /// Begins a write transaction (on SQLite it takes the write lock at once, so it never has to
    /// upgrade a read lock and fail).
    pub async fn begin(&self) -> StoreResult<Tx> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let inner = self
            .writer
            .begin_with_options(options)
            .await
            .map_err(StoreError::from_db)?;
        Ok(Tx {
            inner,
            marks: Arc::new(Marks::new(self.customer_cache.clone())),
            checkpoints: self.checkpoints.clone(),
        })
    }

    /// On PostgreSQL, analyzes the list tables in which at least [`STATISTICS_MIN_CHANGES`] rows,
    /// and more than half as many as they hold, changed since their last analyze; returns the
    /// tables analyzed (none on SQLite). Autovacuum does the same only on its next round (up to
    /// a minute later, with a 10 % threshold); until then a table filled in bulk right after it
    /// was created has no statistics at all, the planner's default selectivities estimate about
    /// one matching row, and a list page is served by sorting every row of the namespace. Each
    /// table is analyzed at most once per doubling, so the cost stays logarithmic in its size.
    pub async fn refresh_statistics(&self) -> StoreResult<Vec<String>> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let stale = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT relname::text AS name FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = ANY($1) \
             AND n_mod_since_analyze >= $2 AND n_mod_since_analyze > n_live_tup / 2",
            [
                STATISTICS_TABLES
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect::<Vec<String>>()
                    .into(),
                STATISTICS_MIN_CHANGES.into(),
            ],
        );
        let rows = self
            .writer
            .query_all_raw(stale)
            .await
            .map_err(StoreError::from_db)?;
        let mut analyzed = Vec::new();
        for row in rows {
            let name: String = row.try_get("", "name").map_err(StoreError::from_db)?;
            // Only names of the fixed list reach the statement.
            if let Some(table) = STATISTICS_TABLES.iter().find(|t| **t == name) {
                self.writer
                    .execute_unprepared(&format!("ANALYZE {table}"))
                    .await
                    .map_err(StoreError::from_db)?;
                analyzed.push(name);
            }
        }
        Ok(analyzed)
    }

    /// Connection counts per pool: (pool name, open connections, idle connections).
    pub fn pool_stats(&self) -> Vec<(&'static str, i64, i64)> {
        let stat = |size: u32, idle: usize| (i64::from(size), i64::try_from(idle).unwrap_or(0));
        match self.backend {
            Backend::Postgres => {
                let pool = self.writer.get_postgres_connection_pool();
                let (size, idle) = stat(pool.size(), pool.num_idle());
                vec![("postgres", size, idle)]
            }
            Backend::Sqlite => {
                let writer = self.writer.get_sqlite_connection_pool();
                let reader = self.reader.get_sqlite_connection_pool();
                let (ws, wi) = stat(writer.size(), writer.num_idle());
                let (rs, ri) = stat(reader.size(), reader.num_idle());
                vec![("sqlite_writer", ws, wi), ("sqlite_readers", rs, ri)]
            }
        }
    }

    /// Closes every connection.
    pub async fn close(self) {
        let _ = self.reader.clone().close().await;
        let _ = self.writer.close().await;
    }
}

impl Tx {
    /// Commits the transaction.
    pub async fn commit(self) -> StoreResult<()> {
        let Self {
            inner,
            marks,
            checkpoints,
        } = self;
        let result = inner.commit().await.map_err(StoreError::from_db);
        // Only now may readers cache what this transaction wrote.
        drop(marks);
        if let Some(checkpoints) = checkpoints {
            checkpoints.written();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PostgreSQL server the API suite uses (see README).
    fn postgres_url() -> String {
        std::env::var("PATRON_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// The first column of the one row `sql` returns on `db`.
    async fn value<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: String) -> T {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("the statement runs")
            .expect("a row");
        row.try_get_by_index(0).expect("a value of the asked type")
    }

    /// A PostgreSQL setting of `db`'s session.
    async fn show(db: &DatabaseConnection, setting: &str) -> String {
        value(db, format!("SHOW {setting}")).await
    }

    /// The merged statements' pool gets generic plans and keeps the statement timeout; the main
    /// pool leaves plans to PostgreSQL. Both are startup options, so each must add to the other.
    #[tokio::test]
    async fn the_merged_statements_pool_plans_generically_and_keeps_the_statement_timeout() {
        let settings = PoolSettings {
            statement_timeout: Duration::from_millis(1234),
            ..PoolSettings::default()
        };
        let url = postgres_url();
        let merged = Database::connect(options(&url, 1, &settings, Role::Merged))
            .await
            .expect("PostgreSQL runs on 127.0.0.1:5432 or at PATRON_TEST_DATABASE_URL");
        assert_eq!(show(&merged, "plan_cache_mode").await, "force_generic_plan");
        assert_eq!(show(&merged, "statement_timeout").await, "1234ms");
        let main = Database::connect(options(&url, 1, &settings, Role::Main))
            .await
            .expect("connect");
        assert_eq!(show(&main, "plan_cache_mode").await, "auto");
        assert_eq!(show(&main, "statement_timeout").await, "1234ms");
    }

    /// SQLite: what a transaction commits reaches the database file from the WAL without any
    /// later write: the checkpointer copies it beside the writer, whose own checkpoints wait for
    /// 10,000 WAL pages (it would never reach them here).
    #[tokio::test]
    async fn a_sqlite_commit_is_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("patron.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let store = Store::connect(&url, &PoolSettings::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let pragma = |db, name| value::<i64>(db, format!("PRAGMA {name}"));
        assert_eq!(pragma(&store.writer, "wal_autocheckpoint").await, 10_000);
        assert_eq!(pragma(&store.reader, "wal_autocheckpoint").await, 1_000);
        // The writer's statement journals in memory (2); readers' sorts in files (0: default).
        assert_eq!(pragma(&store.writer, "temp_store").await, 2);
        assert_eq!(pragma(&store.reader, "temp_store").await, 0);
        let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let before = size();

        let tx = store.begin().await.expect("begin");
        tx.inner
            .execute_unprepared("CREATE TABLE written (x INTEGER)")
            .await
            .expect("write");
        tx.commit().await.expect("commit");

        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {before} bytes for 10 s after the commit"
            );
            tokio::time::sleep(checkpoint::GATHER / 4).await;
        }
    }
}
