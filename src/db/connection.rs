//! Opening connections: the backend chosen from the URL, each
//! connection's settings, SQLite's process-wide ones, and the pool's
//! manager.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use super::{DbConnection, DbError};

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
        if backend == Backend::Sqlite {
            keep_private(&url);
        }
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

/// The SQLite file holds the generated signing secret and callback
/// credentials: it is created readable by its owner only, and SQLite gives
/// its `-wal` and `-shm` files the database file's permissions. Files made
/// readable by others before (an older version, a copy) are tightened,
/// with a warning. (A `file:` URI or `:memory:` is left to its writer.)
fn keep_private(path: &str) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.is_empty() || path.starts_with(':') || path.starts_with("file:") {
        return;
    }
    // Created empty (SQLite takes an empty file as a new database); an
    // existing file is left as it is.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    for file in ["", "-wal", "-shm"].map(|suffix| format!("{path}{suffix}")) {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700)) {
                Ok(()) => tracing::warn!(
                    file,
                    "the database file was readable by other users; now by its owner only"
                ),
                Err(e) => tracing::warn!(
                    file,
                    error = %e,
                    "the database file is readable by other users and could not be changed"
                ),
            }
        }
    }
}

/// A pooled connection, with what we learnt about it while using it.
pub struct Conn {
    pub(super) inner: DbConnection,
    /// A query failed because the connection went away: the pool drops it
    /// on return instead of handing it out again. (diesel's `is_broken`
    /// only knows about transactions, and checking every connection on
    /// checkout costs a round trip per request.)
    pub(super) lost: bool,
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
