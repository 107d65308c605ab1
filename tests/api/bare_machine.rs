//! libpq and OpenSSL are built into the binary (pq-sys `bundled`,
//! openssl-sys `vendored`): it runs where neither is installed, and still
//! speaks TLS to PostgreSQL.

use std::time::Duration;

use crate::helpers::{approvers_stub, test_env, Backend, Service, TestDb};

#[test]
fn the_binary_needs_no_libpq_or_openssl_installed() {
    let out = std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_greenlight"))
        .output()
        .expect("ldd");
    let linked = String::from_utf8_lossy(&out.stdout);
    assert!(!linked.trim().is_empty());
    for library in ["libpq.so", "libssl.so", "libcrypto.so"] {
        assert!(!linked.contains(library), "{library} is linked:\n{linked}");
    }
}

#[tokio::test]
async fn the_built_in_libpq_speaks_tls_to_postgresql() {
    let db = TestDb::new(Backend::Postgres);
    let ssl_on = db.count("SELECT CASE WHEN current_setting('ssl') = 'on' THEN 1 ELSE 0 END AS n");
    if ssl_on == 0 {
        eprintln!("WARNING: this PostgreSQL serves no TLS (ssl = off): TLS not tested");
        return;
    }
    let approvers = approvers_stub(&["ana@example.com"], Duration::ZERO).await;
    let mut env = test_env(&db, 25, &approvers);
    let name = db
        .url
        .rsplit_once('/')
        .unwrap()
        .1
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let tls_url = db.url.replace("sslmode=disable", "sslmode=require");
    env.insert("DATABASE_URL".into(), tls_url);
    // Another process: TLS never enters this test process (see TestDb).
    let service = Service::start(&env).await;
    let ready = reqwest::get(format!("{}/readyz", service.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let encrypted = db.count(&format!(
        "SELECT COUNT(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = '{name}' AND s.ssl"
    ));
    let plain = db.count(&format!(
        "SELECT COUNT(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = '{name}' AND NOT s.ssl AND a.pid <> pg_backend_pid()"
    ));
    assert!(encrypted >= 1, "no TLS connection from Greenlight");
    assert_eq!(plain, 0, "Greenlight opened connections without TLS");
}
