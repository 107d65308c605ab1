//! The SQLite side of the benchmark's baseline: the statements Greenlight
//! runs for one request, executed straight against the database file by N
//! threads, one connection each, with the service's pragmas. What this
//! program reaches is the limit the database sets; the bench divides the
//! service's figure by it.
//!
//! Usage:
//!   sqlite-baseline insert DB THREADS SECONDS PREFIX
//!   sqlite-baseline poll   DB THREADS SECONDS RELEASES
//!   sqlite-baseline version          (the bundled SQLite's version)
//!
//! Environment (the bench sets both to match the service it compares with):
//!   SQLITE_SYNCHRONOUS      `full` (default, as the service's default) or
//!                           `normal` (the service's
//!                           GREENLIGHT_SQLITE_SYNCHRONOUS=normal)
//!   SQLITE_BUSY_TIMEOUT_MS  busy_timeout, default 5000 (the service's is
//!                           GREENLIGHT_DB_TIMEOUT, default 5s)
//!
//! `insert`: one transaction per operation, as `lifecycle::create`:
//!   BEGIN; INSERT release ... ON CONFLICT DO NOTHING RETURNING id;
//!   INSERT its process_release job, due now; INSERT its expire_release
//!   job, due at the release's expires_at; COMMIT. Both jobs carry the
//!   subject `<id>`, the payload `{"release_pk":<id>}` and max_attempts 20, as the service's.
//! `poll`: the point select of a release by (team_project, release_id) and
//!   the select of its approvals, as `releases::find` + `releases::view`;
//!   release ids are drawn at random from 1..=RELEASES (the bench seeds them).
//!
//! Prints one JSON object: operations, seconds, ops_per_s, p50_ms, p99_ms,
//! errors, synchronous, busy_timeout_ms.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

/// The service's connection setup (src/db/mod.rs, `Manager::establish`),
/// with its busy_timeout and synchronous mode (see `Pragmas::from_env`).
fn pragmas(p: &Pragmas) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
        p.busy_timeout_ms, p.synchronous
    )
}

/// The service's default `GREENLIGHT_JOB_MAX_ATTEMPTS`.
const MAX_ATTEMPTS: i32 = 20;

const INSERT_RELEASE: &str = "INSERT INTO releases \
     (team_project, environment, release_id, team_project_key, environment_key, release_name, \
      status, created_at, expires_at, requester_can_approve) \
     VALUES ('Bench', 'production', ?1, 'bench', 'production', 'bench', 'pending', ?2, ?3, 0) \
     ON CONFLICT (team_project_key, environment_key, release_id) DO NOTHING RETURNING id";
/// The audit trail's first event, written with the release.
const INSERT_EVENT: &str = "INSERT INTO events (release_pk, at, type, actor, detail) \
     VALUES (?1, ?2, 'release.created', NULL, ?3)";
/// The service's statement (src/db/jobs.rs, `enqueue`): run_at is bound
/// for a scheduled job and NULL (due now, by the database's clock) for the
/// others; created_at is the database's clock.
const INSERT_JOB: &str = "INSERT INTO jobs \
     (kind, subject, payload, max_attempts, run_at, created_at) \
     VALUES (?1, ?2, ?3, ?4, COALESCE(?5, strftime('%Y-%m-%d %H:%M:%f', 'now')), \
             strftime('%Y-%m-%d %H:%M:%f', 'now'))";
const FIND_RELEASE: &str = "SELECT id, team_project, release_id, release_name, status, \
     required_approvals, reason, created_at, expires_at, decided_at \
     FROM releases WHERE team_project_key = lower(?1) AND environment_key = 'production' \
     AND release_id = ?2 LIMIT 1";
const APPROVALS_OF: &str = "SELECT id, release_pk, email, email_key, name, token_id, \
     token_expires_at, decision, comment, decided_at, email_sent_at, created_at \
     FROM approvals WHERE release_pk = ?1 ORDER BY id";

/// The pragmas that the service takes from its settings.
struct Pragmas {
    /// `FULL` or `NORMAL`.
    synchronous: &'static str,
    busy_timeout_ms: u64,
}

impl Pragmas {
    fn from_env() -> Result<Self, String> {
        let synchronous = match std::env::var("SQLITE_SYNCHRONOUS")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            Err(_) | Ok("full") => "FULL",
            Ok("normal") => "NORMAL",
            Ok(other) => {
                return Err(format!(
                    "SQLITE_SYNCHRONOUS must be full or normal, got {other:?}"
                ))
            }
        };
        let busy_timeout_ms = match std::env::var("SQLITE_BUSY_TIMEOUT_MS") {
            Err(_) => 5000,
            Ok(v) => v
                .parse()
                .map_err(|_| format!("SQLITE_BUSY_TIMEOUT_MS must be milliseconds, got {v:?}"))?,
        };
        Ok(Self {
            synchronous,
            busy_timeout_ms,
        })
    }
}

#[derive(Clone)]
enum Mode {
    Insert { prefix: String },
    Poll { releases: u64 },
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("version") {
        println!("{}", rusqlite::version());
        return;
    }
    if args.len() != 6 {
        eprintln!("usage: sqlite-baseline insert|poll DB THREADS SECONDS PREFIX|RELEASES");
        std::process::exit(2);
    }
    let db = args[2].clone();
    let threads: usize = args[3].parse().expect("THREADS");
    let seconds: f64 = args[4].parse().expect("SECONDS");
    let mode = match args[1].as_str() {
        "insert" => Mode::Insert {
            prefix: args[5].clone(),
        },
        "poll" => Mode::Poll {
            releases: args[5].parse().expect("RELEASES"),
        },
        other => panic!("unknown mode {other}"),
    };
    let settings = Pragmas::from_env().unwrap_or_else(|e| {
        eprintln!("sqlite-baseline: {e}");
        std::process::exit(2);
    });
    let pragmas = pragmas(&settings);

    // Open every connection before the clock starts, as the service's pool
    // does before it serves.
    let conns: Vec<Connection> = (0..threads).map(|_| open(&db, &pragmas)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let (mode, stop) = (mode.clone(), stop.clone());
            std::thread::spawn(move || run(conn, i, mode, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    for w in workers {
        let (lat, err) = w.join().expect("worker thread");
        latencies_us.extend(lat);
        errors += err;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((p / 100.0) * (latencies_us.len() - 1) as f64).round() as usize;
        f64::from(latencies_us[idx]) / 1000.0
    };
    let out = serde_json::json!({
        "operations": latencies_us.len(),
        "seconds": elapsed,
        "ops_per_s": latencies_us.len() as f64 / elapsed,
        "p50_ms": pct(50.0),
        "p99_ms": pct(99.0),
        "errors": errors,
        "synchronous": settings.synchronous,
        "busy_timeout_ms": settings.busy_timeout_ms,
    });
    println!("{out}");
}

fn open(path: &str, pragmas: &str) -> Connection {
    let conn = Connection::open(path).expect("open the database");
    conn.execute_batch(pragmas).expect("pragmas");
    conn
}

/// Runs operations until told to stop; returns each one's latency (µs) and
/// the number that failed.
fn run(mut conn: Connection, thread: usize, mode: Mode, stop: &AtomicBool) -> (Vec<u32>, u64) {
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((thread as u64 + 1) << 32);
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let result = match &mode {
            Mode::Insert { prefix } => {
                n += 1;
                insert(&mut conn, &format!("{prefix}-{thread}-{n}"))
            }
            Mode::Poll { releases } => {
                let id = 1 + next(&mut rng) % releases;
                poll(&conn, &id.to_string())
            }
        };
        match result {
            Ok(()) => latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
            Err(e) => {
                // The first few say why (stderr; the JSON on stdout counts them).
                if errors < 3 {
                    eprintln!(
                        "sqlite-baseline: thread {thread}: {e} (after {} ms)",
                        t.elapsed().as_millis()
                    );
                }
                errors += 1;
            }
        }
    }
    (latencies, errors)
}

/// The timestamp text the service writes (diesel: "%F %T%.f", UTC, µs).
fn now_text(offset: chrono::Duration) -> String {
    let t = chrono::Utc::now().naive_utc() + offset;
    t.format("%F %T%.6f").to_string()
}

fn insert(conn: &mut Connection, release_id: &str) -> rusqlite::Result<()> {
    let now = now_text(chrono::Duration::zero());
    // The service's default release_ttl: 72 hours. The expire_release job
    // is due then.
    let expires = now_text(chrono::Duration::hours(72));
    // BEGIN IMMEDIATE: the threads of the baseline contend for the write
    // lock, and a deferred transaction can be refused SQLITE_BUSY without
    // waiting (seen: a few errors a run at 16 and 64 threads). The service
    // has one writer per process and never contends inside it.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let pk: Option<i64> = tx
        .prepare_cached(INSERT_RELEASE)?
        .query_row(params![release_id, now, expires], |r| r.get(0))
        .optional()?;
    if let Some(pk) = pk {
        tx.prepare_cached(INSERT_EVENT)?.execute(params![
            pk,
            now,
            format!("{{\"expires_at\":\"{expires}\",\"release_name\":\"bench\"}}")
        ])?;
        // The payload as the service serialises it (serde_json of the job).
        let payload = format!("{{\"release_pk\":{pk}}}");
        let subject = pk.to_string();
        let mut job = tx.prepare_cached(INSERT_JOB)?;
        job.execute(params![
            "process_release",
            subject,
            payload,
            MAX_ATTEMPTS,
            None::<String>
        ])?;
        job.execute(params![
            "expire_release",
            subject,
            payload,
            MAX_ATTEMPTS,
            expires
        ])?;
    }
    tx.commit()
}

fn poll(conn: &Connection, release_id: &str) -> rusqlite::Result<()> {
    let found: Option<(i64, String)> = conn
        .prepare_cached(FIND_RELEASE)?
        .query_row(params!["Bench", release_id], |r| {
            // Read every column, as the service materialises the row.
            for i in 1..10 {
                let _: rusqlite::types::Value = r.get(i)?;
            }
            Ok((r.get(0)?, r.get(4)?))
        })
        .optional()?;
    let Some((pk, _status)) = found else {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    };
    let mut stmt = conn.prepare_cached(APPROVALS_OF)?;
    let mut rows = stmt.query(params![pk])?;
    while let Some(row) = rows.next()? {
        for i in 0..12 {
            let _: rusqlite::types::Value = row.get(i)?;
        }
    }
    Ok(())
}

/// xorshift64: cheap, per thread, good enough to spread reads.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
