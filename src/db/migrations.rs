//! The embedded migrations, one tree per backend, and running them.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{ConnOptions, DbConnection, DbError, Manager};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgresql");

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
