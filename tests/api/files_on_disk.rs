//! What the service writes to disk is readable by its user only: the
//! SQLite database (it holds the generated signing secret and callback
//! credentials) with its `-wal` and `-shm` files, the outbox and its
//! emails (each holds a working approval link).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{release_body, spawn_app_with, Backend};

both_backends!(files_the_service_writes_are_its_users_only);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn files_the_service_writes_are_its_users_only(backend: Backend) {
    let outbox = tempfile::tempdir().unwrap();
    let dir = outbox.path().join("outbox");
    let dir_setting = dir.display().to_string();
    let app = spawn_app_with(
        backend,
        move |env| {
            env.remove("GREENLIGHT_SMTP_URL");
            env.insert("GREENLIGHT_OUTBOX_DIR".into(), dir_setting);
        },
        true,
    )
    .await;
    assert_eq!(app.post_release(&release_body("f1")).await.status(), 202);
    let mut emails = Vec::new();
    for _ in 0..400 {
        emails = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if emails.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(emails.len(), 2, "the outbox holds the two emails");
    assert_eq!(mode(&dir), 0o700, "the outbox");
    for email in &emails {
        assert_eq!(mode(email), 0o600, "{}", email.display());
    }
    if backend == Backend::Sqlite {
        let db = Path::new(&app.db.url);
        for file in [
            db.to_path_buf(),
            db.with_extension("db-wal"),
            db.with_extension("db-shm"),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}

/// A database file left readable by others (an older version made it
/// 0644) is tightened when the service opens it.
#[tokio::test]
async fn a_database_file_readable_by_others_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    greenlight::db::migrate(&path.display().to_string()).unwrap();
    assert_eq!(mode(&path), 0o600);
}
