//! Storage: one diesel connection type over SQLite (the default) or
//! PostgreSQL, a pool, embedded migrations, and the queries, grouped by table.

mod after_commit;
pub mod api_keys;
pub mod events;
pub mod jobs;
pub mod models;
pub mod releases;
pub mod schema;
pub mod settings;
pub mod subscribers;
mod types;
mod writer;

pub use after_commit::after_commit;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgresql");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same expression on whichever concrete connection `conn` holds,
/// for the few queries (upserts, row locks) that diesel cannot express on
/// the multi-backend connection. The body is type-checked once per backend.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgresql,
    Sqlite,
}

impl Backend {
    /// Connections to open by default. On SQLite they serve reads (writes
    /// go through the one writer thread); PostgreSQL does best with a few
    /// connections per core, not one per request (make bench: p99 of polls
    /// at 16 clients on 2 cores fell from ~300 ms with 16 to 7 ms with 4).
    pub fn default_pool_size(self) -> u32 {
        match self {
            Self::Sqlite => 4,
            Self::Postgresql => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                u32::try_from(cores * 2).unwrap_or(u32::MAX).max(4)
            }
        }
    }

    /// The backend is chosen from the URL's scheme, never by trying one
    /// after the other: an unreachable PostgreSQL must not silently become
    /// a SQLite file named `postgres://...`.
    pub fn from_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgresql
        } else {
            Self::Sqlite
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database connection: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("the database is busy: no write slot within {0} ms")]
    WriterBusy(u128),
    #[error("database write not committed: {0}")]
    Commit(String),
    #[error("could not start the SQLite writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database task panicked or was cancelled")]
    Task,
}

impl DbError {
    /// The database is unreachable, restarting, or too busy to answer in
    /// time: worth trying again later (an HTTP 503), never a bug of ours.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connection(_) | Self::Pool(_) | Self::WriterBusy(_) | Self::Commit(_) => true,
            Self::Query(e) => query_is_unavailable(e),
            Self::Migration(_) | Self::Task | Self::WriterThread(_) => false,
        }
    }

    /// The connection itself is gone: drop it rather than reuse it.
    fn is_connection_lost(&self) -> bool {
        match self {
            Self::Query(e) => query_lost_connection(e),
            _ => false,
        }
    }
}

fn query_lost_connection(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    match e {
        Error::BrokenTransactionManager => true,
        Error::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            // libpq and PostgreSQL's own words for a connection that went
            // away (57P01 admin shutdown, 57P03 starting up, socket errors).
            [
                "terminating connection",
                "server closed the connection",
                "no connection to the server",
                "could not receive data",
                "could not send data",
                "connection reset",
                "broken pipe",
                "shutting down",
                "starting up",
                "in recovery mode",
                "ssl syscall",
                "eof detected",
            ]
            .iter()
            .any(|p| m.contains(p))
        }
        _ => false,
    }
}

fn query_is_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    if query_lost_connection(e) {
        return true;
    }
    match e {
        Error::DatabaseError(Kind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            // Lock and statement timeouts (55P03, 57014), deadlocks, and
            // SQLite's SQLITE_BUSY / SQLITE_LOCKED.
            [
                "lock timeout",
                "statement timeout",
                "canceling statement",
                "deadlock detected",
                "database is locked",
                "database table is locked",
                "too many connections",
            ]
            .iter()
            .any(|p| m.contains(p))
        }
        _ => false,
    }
}

/// Opens connections of the backend named by the URL.
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    url: String,
    options: ConnOptions,
}

/// How connections are set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnOptions {
    /// The longest wait for a lock inside the database: SQLite's busy
    /// timeout (another process's write lock; within one process writes
    /// never meet it, see `Db::write`), PostgreSQL's `lock_timeout` (a row
    /// lock). Kept no longer than the wait for a pooled connection, and
    /// answered 503 when it runs out.
    pub lock_wait: Duration,
    /// `synchronous=FULL` (the default) makes a committed transaction
    /// survive a power loss; `NORMAL` only a process crash.
    pub synchronous_full: bool,
}

impl Default for ConnOptions {
    fn default() -> Self {
        Self {
            lock_wait: Duration::from_secs(5),
            synchronous_full: true,
        }
    }
}

impl Manager {
    pub fn new(url: &str) -> Self {
        Self::with_options(url, ConnOptions::default())
    }

    pub fn with_options(url: &str, options: ConnOptions) -> Self {
        let backend = Backend::from_url(url);
        if backend == Backend::Sqlite {
            configure_sqlite_library();
        }
        let url = match backend {
            Backend::Sqlite => url.strip_prefix("sqlite://").unwrap_or(url).to_owned(),
            Backend::Postgresql => url.to_owned(),
        };
        Self {
            backend,
            url,
            options,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn establish(&self) -> Result<DbConnection, DbError> {
        Ok(match self.backend {
            Backend::Postgresql => {
                let mut conn = PgConnection::establish(&self.url)?;
                conn.batch_execute(&format!(
                    "SET lock_timeout = {}",
                    self.options.lock_wait.as_millis()
                ))?;
                DbConnection::Postgresql(conn)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)?;
                // busy_timeout first: the other pragmas may have to wait for a lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
                    self.options.lock_wait.as_millis(),
                    if self.options.synchronous_full {
                        "FULL"
                    } else {
                        "NORMAL"
                    },
                ))?;
                DbConnection::Sqlite(conn)
            }
        })
    }
}

/// A pooled connection, with what we learnt about it while using it.
pub struct Conn {
    inner: DbConnection,
    /// A query failed because the connection went away: the pool drops it
    /// on return instead of handing it out again. (diesel's `is_broken`
    /// only knows about transactions, and checking every connection on
    /// checkout costs a round trip per request.)
    lost: bool,
}

/// SQLite's process-wide settings, before its first connection opens:
/// connections without their own mutex (each is used by one thread at a
/// time: the pool hands it out, diesel's connection is not `Sync`), and no
/// memory statistics, whose global mutex every allocation takes. Together
/// they were the pthread mutexes in the profile of polls.
fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is only allowed before SQLite initialises,
        // which its first connection does; nothing opens a SQLite connection
        // except through `Manager`, whose constructor runs this first. If
        // it is too late (SQLITE_MISUSE), SQLite keeps its defaults.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Conn, r2d2::Error> {
        let inner = self.establish().map_err(|e| match e {
            DbError::Connection(e) => r2d2::Error::ConnectionError(e),
            DbError::Query(e) => r2d2::Error::QueryError(e),
            other => r2d2::Error::QueryError(diesel::result::Error::QueryBuilderError(
                other.to_string().into(),
            )),
        })?;
        Ok(Conn { inner, lost: false })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), r2d2::Error> {
        conn.inner.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.lost || conn.inner.is_broken()
    }
}

/// Applies pending migrations. On PostgreSQL an advisory lock keeps
/// replicas that start together from migrating at the same time.
pub fn migrate(database_url: &str) -> Result<(), DbError> {
    // Replicas starting together wait for the first one's migration: a
    // lock wait of minutes here, not a request's seconds.
    let options = ConnOptions {
        lock_wait: Duration::from_secs(300),
        ..ConnOptions::default()
    };
    let mut conn = Manager::with_options(database_url, options).establish()?;
    let result = match &mut conn {
        DbConnection::Postgresql(c) => {
            diesel::sql_query("SELECT pg_advisory_lock(7180441)").execute(c)?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            diesel::sql_query("SELECT pg_advisory_unlock(7180441)").execute(c)?;
            applied
        }
        DbConnection::Sqlite(c) => {
            // Rebuilding a table (SQLite cannot drop a constraint) needs
            // foreign keys off, outside the migration's transaction; they
            // are checked once the migrations are done.
            c.batch_execute("PRAGMA foreign_keys = OFF")?;
            let applied = c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ());
            #[derive(diesel::QueryableByName)]
            struct Violation {
                #[diesel(sql_type = diesel::sql_types::Text)]
                table: String,
            }
            let violations: Vec<Violation> =
                diesel::sql_query("PRAGMA foreign_key_check").load(c)?;
            if let Some(v) = violations.first() {
                return Err(DbError::Migration(format!(
                    "{} rows break a foreign key after migrating (first in {})",
                    violations.len(),
                    v.table
                )));
            }
            applied
        }
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// The database as the rest of the code sees it: a pool for reads (and,
/// on PostgreSQL, writes), and on SQLite the process's one writer.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    /// SQLite's writes, all through one thread with group commit (see
    /// `writer.rs`); shared by every pool of the process. `None` on
    /// PostgreSQL, whose row locks and own group commit do that job.
    writer: Option<Arc<writer::Writer>>,
    wait: Duration,
}

impl Db {
    /// Opens a pool on a migrated database. Pools of one process share
    /// their SQLite writer (see `Db::writer`).
    pub fn open(
        database_url: &str,
        max_size: u32,
        wait: Duration,
        options: ConnOptions,
        writer: Option<Arc<writer::Writer>>,
    ) -> Result<Self, DbError> {
        let manager = Manager::with_options(database_url, options);
        let backend = manager.backend();
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .connection_timeout(wait)
            // No `SELECT 1` per checkout: a connection that turns out dead
            // is dropped after its failed query (see `Conn::lost`).
            .test_on_check_out(false)
            .build(manager)?;
        let writer = match (backend, writer) {
            (Backend::Sqlite, Some(writer)) => Some(writer),
            (Backend::Sqlite, None) => Some(Arc::new(
                writer::Writer::start(Manager::with_options(database_url, options))
                    .map_err(DbError::WriterThread)?,
            )),
            (Backend::Postgresql, _) => None,
        };
        Ok(Self {
            pool,
            backend,
            writer,
            wait,
        })
    }

    /// The writer to hand to the process's other pools.
    pub fn writer(&self) -> Option<Arc<writer::Writer>> {
        self.writer.clone()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs reads. On SQLite a read takes microseconds: it runs right here
    /// when a connection is free, saving two thread handoffs; otherwise (and
    /// always on PostgreSQL, where a read is a network round trip) it runs on
    /// tokio's blocking threads so the async workers never wait on it.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let f = with_cause(f);
        if self.backend == Backend::Sqlite {
            if let Some(mut conn) = self.pool.try_get() {
                return use_conn(&mut conn, f);
            }
        }
        self.blocking(f).await
    }

    /// Runs writes (and the reads that decide them, in the same
    /// transaction). On SQLite they join the writer's next group commit;
    /// either way, what they ask to run `after_commit` runs once committed;
    /// on PostgreSQL `f` runs in a transaction of its own, so a row lock
    /// it takes is held until it commits (a step that locks a release,
    /// reads it, then writes, relies on that).
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let f = with_cause(f);
        match &self.writer {
            Some(writer) => writer.write(self.wait, f).await,
            None => self.blocking(|c| in_transaction(c, f)).await,
        }
    }

    /// Reads, and writes only if the read found nothing to answer with:
    /// on PostgreSQL one trip to a blocking thread and one connection for
    /// both; on SQLite the read as `read` does and the write by the writer.
    pub async fn read_or_write<T, R, W>(&self, read: R, write: W) -> Result<T, DbError>
    where
        R: FnOnce(&mut DbConnection) -> Result<Option<T>, DbError> + Send + 'static,
        W: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let (read, write) = (with_cause(read), with_cause(write));
        if self.writer.is_some() {
            if let Some(found) = self.read(read).await? {
                return Ok(found);
            }
            return self.write(write).await;
        }
        self.blocking(move |c| match read(c)? {
            Some(found) => Ok(found),
            None => in_transaction(c, write),
        })
        .await
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            use_conn(&mut conn, f)
        })
        .await
        .map_err(|_| DbError::Task)?
    }
}

/// `f`, run wherever, as caused by the current request (see `cause`): the
/// jobs it queues carry the request's id.
fn with_cause<T, F>(f: F) -> impl FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    let cause = crate::cause::current();
    move |conn: &mut DbConnection| {
        let _entered = crate::cause::enter(cause);
        f(conn)
    }
}

/// `f` in one transaction: committed if it returns `Ok` (and then its
/// `after_commit` hooks run), rolled back otherwise. The SQLite writer
/// wraps each write in a savepoint of its batch's transaction instead.
fn in_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let (result, hooks) = after_commit::collect(|| conn.transaction(f));
    if result.is_ok() {
        hooks.run();
    }
    result
}

fn use_conn<T>(
    conn: &mut PooledConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let result = f(&mut conn.inner);
    if let Err(e) = &result {
        if e.is_connection_lost() {
            conn.lost = true;
        }
    }
    result
}

/// The current time as stored: UTC, microsecond precision on both backends.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
