//! PostgreSQL's LISTEN/NOTIFY, for news that must reach every replica
//! (a deployment's new log chunk or status): `notify` inside a write's
//! transaction (delivered at its commit, never for a rollback), `listen`
//! on one dedicated connection per process. It carries a payload and
//! decides nothing; what a payload means is its caller's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::DbConnection;

/// How often the listening connection reads what the server sent:
/// `notifications_iter` does not block, so it is asked on a short beat
/// (a non-blocking read of the socket; nothing is sent to the server).
const BEAT: Duration = Duration::from_millis(20);
/// How long a lost listening connection waits before connecting again.
const RECONNECT: Duration = Duration::from_secs(1);

/// Sends `payload` on `channel` when the caller's transaction commits; on
/// SQLite nothing (its processes poll instead).
pub fn notify(conn: &mut DbConnection, channel: &str, payload: &str) -> QueryResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(channel)
            .bind::<Text, _>(payload)
            .execute(c)?;
    }
    Ok(())
}

/// Stops a listener: its thread ends within a beat.
#[derive(Debug, Clone, Default)]
pub struct StopListening(Arc<AtomicBool>);

impl StopListening {
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Listens on `channel` of the PostgreSQL database at `url` on a thread of
/// its own, handing each payload to `on_payload`, until stopped. A lost
/// connection is opened again (and `on_payload("")` says so: what was
/// sent meanwhile was missed, a listener reads the table again).
pub fn listen(
    url: String,
    channel: &'static str,
    on_payload: impl Fn(&str) + Send + 'static,
) -> std::io::Result<StopListening> {
    let stop = StopListening::default();
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name(format!("listen-{channel}"))
        .spawn(move || {
            while !stopped.stopped() {
                match PgConnection::establish(&url) {
                    Ok(mut conn) => {
                        if let Err(e) =
                            diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn)
                        {
                            tracing::warn!(error = %e, channel, "LISTEN failed");
                        } else {
                            on_payload("");
                            receive(&mut conn, &on_payload, &stopped);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, channel, "the listening connection failed")
                    }
                }
                if !stopped.stopped() {
                    std::thread::sleep(RECONNECT);
                }
            }
        })?;
    Ok(stop)
}

/// Hands on what arrives until stopped or the connection fails.
fn receive(conn: &mut PgConnection, on_payload: &impl Fn(&str), stop: &StopListening) {
    while !stop.stopped() {
        for notification in conn.notifications_iter() {
            match notification {
                Ok(n) => on_payload(&n.payload),
                Err(e) => {
                    tracing::warn!(error = %e, "the listening connection was lost");
                    return;
                }
            }
        }
        std::thread::sleep(BEAT);
    }
}
