//! Backup while the service runs and restore into a new directory: over HTTP
//! (`/admin/api/backup`) and with the real binary (`linkback backup` / `linkback restore`).

use std::path::Path;

use linkback::config::ModerationMode;
use linkback::origin::OriginPage;
use linkback::state::AppState;
use linkback::store::Store;
use serde_json::Value as Json;

use crate::support::{TestServer, call_api, sorted_ids, test_config};

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const ADMIN: &str = "Bearer admin-token-0123456789";
const OWNER: &str = "Bearer owner-token-0123456789";
const TARGET: &str = "https://checkpointasia.net/backed-up/";
const BINARY: &str = env!("CARGO_BIN_EXE_linkback");

async fn start() -> TestServer {
    TestServer::start_with(|c| {
        c.admin.token = Some(ADMIN_TOKEN.to_owned());
        c.sites[0].token = Some("owner-token-0123456789".to_owned());
        c.sites[0].moderation = ModerationMode::Manual;
    })
    .await
}

async fn call(base: &str, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    call_api(&client, base, method, path, Some(ADMIN), body).await
}

/// Pings `n` pages at the article (pending under manual moderation), then moves them through
/// approved, spam and rejected, adds two rules; returns the ids.
async fn populate(server: &TestServer, n: usize) -> Vec<u64> {
    for i in 0..n {
        let source = format!("http://blog.example.net/backup-{i}/");
        server.origin.put(
            &source,
            OriginPage::html(&format!(
                "<title>Post {i}</title><p>Read <a href=\"{TARGET}\">this</a>.</p>"
            )),
        );
        server.ping(&source, TARGET).await.expect("accepted");
    }
    let (_, list) = call(&server.base, "GET", "/admin/api/mentions?limit=500", None).await;
    let ids = sorted_ids(&list);
    assert_eq!(ids.len(), n);
    // Approve in an order other than arrival, so the listed order is its own.
    for (i, status) in [
        (3, "approved"),
        (0, "approved"),
        (1, "spam"),
        (2, "rejected"),
        (5, "approved"),
    ] {
        let (code, _) = call(
            &server.base,
            "POST",
            &format!("/admin/api/mentions/{}", ids[i]),
            Some(serde_json::json!({ "status": status })),
        )
        .await;
        assert_eq!(code, 200);
    }
    for (kind, value) in [("domain", "spam.example"), ("word", "casino")] {
        let (code, _) = call(
            &server.base,
            "POST",
            "/admin/api/rules",
            Some(serde_json::json!({ "kind": kind, "value": value, "action": "block" })),
        )
        .await;
        assert_eq!(code, 201);
    }
    ids
}

/// What the API says about everything: every mention, the rules, the audit log, the listing.
async fn snapshot(base: &str) -> (Vec<Json>, Json, Json, Json) {
    let (_, mentions) = call(base, "GET", "/admin/api/mentions?limit=500", None).await;
    let (_, rules) = call(base, "GET", "/admin/api/rules", None).await;
    let (_, audit) = call(base, "GET", "/admin/api/audit?limit=500", None).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", TARGET)
        .finish();
    let (_, listing) = call(base, "GET", &format!("/api/mentions?{query}"), None).await;
    let mentions = mentions["mentions"].as_array().cloned().unwrap_or_default();
    (mentions, rules, audit, listing["mentions"].clone())
}

/// Serves the database in `dir` with the test configuration; returns its base URL and the
/// sender that stops it.
async fn serve_dir(server: &TestServer, dir: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut config = test_config(&server.origin);
    config.admin.token = Some(ADMIN_TOKEN.to_owned());
    config.sites[0].moderation = ModerationMode::Manual;
    let state = AppState::build(config, dir).expect("the restored database opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(linkback::server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (base, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_mention_rule_and_listing() {
    let server = start().await;
    let ids = populate(&server, 8).await;
    let before = snapshot(&server.base).await;
    assert_eq!(before.3.as_array().map(Vec::len), Some(3), "three approved");

    // Site tokens and no token may not download the whole database.
    let client = server.client();
    let url = format!("{}/admin/api/backup", server.base);
    let owner = client.get(&url).header("Authorization", OWNER).send().await;
    assert_eq!(owner.expect("request").status().as_u16(), 403);
    let anonymous = client.get(&url).send().await.expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);

    // Pings keep arriving (at another article) while the backup downloads.
    let other = "https://checkpointasia.net/during-backup/";
    let base = server.base.clone();
    let origin_pages: Vec<String> = (0..40)
        .map(|i| format!("http://blog.example.net/during-{i}/"))
        .collect();
    for source in &origin_pages {
        server.origin.put(
            source,
            OriginPage::html(&format!("<p><a href=\"{other}\">x</a></p>")),
        );
    }
    let (under_way, started_pinging) = tokio::sync::oneshot::channel::<()>();
    let pinging = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut under_way = Some(under_way);
        for (i, source) in origin_pages.into_iter().enumerate() {
            if i == 5 {
                let _ = under_way.take().map(|tx| tx.send(()));
            }
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("source", &source)
                .append_pair("target", other)
                .finish();
            let response = client
                .post(format!("{base}/webmention"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("webmention");
            assert_eq!(response.status().as_u16(), 201);
        }
    });
    started_pinging.await.expect("pings under way");
    let started = std::time::Instant::now();
    let response = client
        .get(&url)
        .header("Authorization", ADMIN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        Store::BACKUP_CONTENT_TYPE
    );
    let backup = response.bytes().await.expect("body");
    let took = started.elapsed();
    pinging.await.expect("pings");

    let summary = Store::check_backup(backup.as_ref()).expect("a whole backup");
    assert!(
        summary.mentions > 8,
        "pings were stored before and during it: {summary}"
    );
    println!(
        "backup: {} bytes, {} mentions, {} bytes per mention, {took:?}",
        backup.len(),
        summary.mentions,
        backup.len() as u64 / summary.mentions
    );

    let restored = tempfile::tempdir().expect("tempdir");
    let dir = restored.path().join("data");
    let imported = Store::import(&dir, backup.as_ref()).expect("restore");
    assert_eq!(imported.rules, 2);
    assert_eq!(imported.by_status.get("approved"), Some(&3), "{imported}");

    let (restored_base, stop) = serve_dir(&server, &dir).await;
    let after = snapshot(&restored_base).await;
    // Every mention that existed before the backup is there, unchanged; anything else is one
    // of the pings sent during it.
    let restored_by_id: std::collections::HashMap<u64, &Json> = after
        .0
        .iter()
        .map(|m| (m["id"].as_u64().expect("id"), m))
        .collect();
    for mention in &before.0 {
        let id = mention["id"].as_u64().expect("id");
        assert_eq!(restored_by_id.get(&id), Some(&mention), "mention {id}");
    }
    for mention in &after.0 {
        let id = mention["id"].as_u64().expect("id");
        assert!(
            ids.contains(&id) || mention["target"] == other,
            "unexpected mention {mention}"
        );
    }
    assert_eq!(after.1, before.1, "rules");
    assert_eq!(after.3, before.3, "the listing, in its order");
    let audit_before = before.2["entries"].as_array().map(Vec::len);
    assert!(audit_before >= Some(5), "{}", before.2);
    assert_eq!(after.2["entries"], before.2["entries"], "audit log");

    // The restored service goes on: a new rule gets a fresh id, nothing is overwritten.
    let (code, rule) = call(
        &restored_base,
        "POST",
        "/admin/api/rules",
        Some(serde_json::json!({ "kind": "domain", "value": "new.example", "action": "mute" })),
    )
    .await;
    assert_eq!(code, 201, "{rule}");
    let (_, rules) = call(&restored_base, "GET", "/admin/api/rules", None).await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(3), "{rules}");
    let _ = stop.send(());
    server.stop().await;
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = tokio::process::Command::new(BINARY)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_backs_up_a_running_service_and_restores_into_a_fresh_directory() {
    let server = start().await;
    populate(&server, 6).await;
    let before = snapshot(&server.base).await;
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("linkback.jsonl");
    let file_arg = file.to_str().expect("utf8");
    let token_env = [("LINKBACK_ADMIN_TOKEN", ADMIN_TOKEN)];

    // A wrong token leaves no file, and says why.
    let (code, text) = run(
        &["backup", file_arg, "--url", &server.base],
        &[("LINKBACK_ADMIN_TOKEN", "wrong")],
    )
    .await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!file.exists());

    let (code, text) = run(&["backup", file_arg, "--url", &server.base], &token_env).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("6 mentions"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    let data = work.path().join("restored");
    let data_arg = data.to_str().expect("utf8");
    let (code, text) = run(&["restore", file_arg, "--data-dir", data_arg], &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("6 mentions (3 approved"), "{text}");
    // Never over an existing database.
    let (code, text) = run(&["restore", file_arg, "--data-dir", data_arg], &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not empty"), "{text}");
    // A cut file is refused with a clear message, and leaves nothing behind.
    let whole = std::fs::read(&file).expect("read");
    let cut = work.path().join("cut.jsonl");
    std::fs::write(&cut, &whole[..whole.len() - 40]).expect("write");
    let elsewhere = work.path().join("elsewhere");
    let (code, text) = run(
        &[
            "restore",
            cut.to_str().expect("utf8"),
            "--data-dir",
            elsewhere.to_str().expect("utf8"),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("truncated") || text.contains("malformed"),
        "{text}"
    );
    assert!(!elsewhere.exists());

    let (restored_base, stop) = serve_dir(&server, &data).await;
    let after = snapshot(&restored_base).await;
    assert_eq!(after.0, before.0, "mentions");
    assert_eq!(after.1, before.1, "rules");
    assert_eq!(after.3, before.3, "listing");
    let _ = stop.send(());

    // Offline, from a stopped service's directory: the same content.
    let _ = tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let offline = work.path().join("offline.jsonl");
    let (code, text) = run(
        &[
            "backup",
            offline.to_str().expect("utf8"),
            "--data-dir",
            data_arg,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("6 mentions"), "{text}");
    server.stop().await;
}
