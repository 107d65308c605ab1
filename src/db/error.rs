//! What went wrong with the database, and whether it is worth trying
//! again (a 503) or a bug of ours.

use diesel::r2d2;

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
    pub(super) fn is_connection_lost(&self) -> bool {
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
