//! Storage: one diesel connection type over SQLite (the default) or
//! PostgreSQL and `Db`, how the rest of the code reads and writes. By
//! concern: `connection` (opening, the pool), `error` (what is worth a
//! retry), `migrations`, `writer` (SQLite's one writer), `after_commit`,
//! `types` (enums as text); then the queries, one file per table.

mod after_commit;
pub mod api_keys;
mod connection;
pub mod deployments;
mod error;
pub mod events;
pub mod github_deployments;
pub mod jobs;
mod migrations;
pub mod models;
pub mod notify;
pub mod provisioning;
pub mod releases;
pub mod schema;
pub mod settings;
pub mod slack_messages;
pub mod stacks;
pub mod subscribers;
mod types;
pub mod variables;
mod writer;

pub use after_commit::after_commit;
pub use connection::{Backend, Conn, ConnOptions, Manager, Pool, PooledConnection};
pub use error::DbError;
pub use migrations::{migrate, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::pg::PgConnection;
use diesel::r2d2;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

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
