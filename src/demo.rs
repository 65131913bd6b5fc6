//! `linkback demo`: the seed scenario in one command, for a newcomer to see the service work.
//!
//! It starts the real service on a temporary database, a loopback origin that plays the French
//! and Italian blogs, sends both pingbacks through the real XML-RPC endpoint over HTTP, and
//! prints the article's listing the way a blog shows it.

use std::net::SocketAddr;

use anyhow::{Context, bail};

use crate::config::{Config, FetchConfig, ModerationMode, SiteConfig};
use crate::origin::{Origin, OriginPage};
use crate::state::AppState;
use crate::xmlrpc::{self, MethodCall, MethodResponse, Value};

/// The seed article.
pub const SEED_TARGET: &str = "https://checkpointasia.net/putins-declaration-of-victory-in-syria-opens-door-for-russian-strikes-on-isis-in-libya/";
const FRENCH_REPOST: &str = "http://fr.example.org/2017/12/12/poutine-victoire-syrie-libye/";
const ITALIAN_REPOST: &str = "http://it.example.org/2017/12/13/putin-vittoria-siria-libia/";

/// The configuration of the seed scenario: the seed article's site (auto moderation), and a
/// fetcher that reaches `hosts` at the loopback `origin`. The demo and the tests share it.
pub fn seed_config(origin: SocketAddr, hosts: &[&str]) -> Config {
    Config {
        fetch: FetchConfig {
            // The seed blogs live on loopback; a real deployment keeps this false.
            allow_private: true,
            resolve: hosts
                .iter()
                .map(|host| ((*host).to_owned(), origin.to_string()))
                .collect(),
            ..FetchConfig::default()
        },
        sites: vec![SiteConfig {
            name: "checkpointasia".to_owned(),
            targets: vec!["https://checkpointasia.net/".to_owned()],
            moderation: ModerationMode::Auto,
            token: None,
            aliases: crate::alias::AliasRules::default(),
            language: Some("en".to_owned()),
            languages: std::collections::BTreeMap::new(),
        }],
        ..Config::default()
    }
}

/// Runs the demo and prints what happens.
pub async fn run() -> anyhow::Result<()> {
    let origin = Origin::start()
        .await
        .context("cannot start the demo origin")?;
    origin.put(
        FRENCH_REPOST,
        OriginPage::new(
            "text/html; charset=utf-8",
            include_bytes!("../tests/fixtures/seed/repost-fr.html").as_slice(),
        ),
    );
    origin.put(
        ITALIAN_REPOST,
        OriginPage::new(
            "text/html; charset=ISO-8859-1",
            include_bytes!("../tests/fixtures/seed/repost-it.latin1.html").as_slice(),
        ),
    );

    let data_dir = std::env::temp_dir().join(format!("linkback-demo-{}", std::process::id()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = Config {
        listen: addr.to_string(),
        data_dir: data_dir.clone(),
        ..seed_config(origin.addr(), &["fr.example.org", "it.example.org"])
    };
    config.validate()?;
    let state = AppState::build(config, &data_dir)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    println!(
        "Linkback is listening on http://{addr} (data in {})",
        data_dir.display()
    );
    println!("The article: {SEED_TARGET}\n");

    let result = ping_and_list(&format!("http://{addr}")).await;
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

async fn ping_and_list(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    for source in [FRENCH_REPOST, ITALIAN_REPOST] {
        let call = MethodCall {
            method_name: "pingback.ping".to_owned(),
            params: vec![
                Value::String(source.to_owned()),
                Value::String(SEED_TARGET.to_owned()),
            ],
        };
        let body = client
            .post(format!("{base}/xmlrpc"))
            .header("Content-Type", "text/xml")
            .body(xmlrpc::encode_call(&call))
            .send()
            .await?
            .bytes()
            .await?;
        match xmlrpc::decode_response(&body)? {
            MethodResponse::Success(value) => {
                println!(
                    "pingback.ping({source}) -> {}",
                    value.as_str().unwrap_or("?")
                );
            }
            MethodResponse::Fault(fault) => {
                bail!(
                    "pingback.ping({source}) -> fault {}: {}",
                    fault.code,
                    fault.message
                )
            }
        }
    }
    let listing_url =
        url::Url::parse_with_params(&format!("{base}/api/mentions"), [("target", SEED_TARGET)])?;
    let body = client.get(listing_url).send().await?.bytes().await?;
    let listing: serde_json::Value = serde_json::from_slice(&body)?;
    println!("\nGET /api/mentions?target=… lists:\n");
    let mentions = listing["mentions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, mention) in mentions.iter().enumerate() {
        println!(
            "{}. {}\n   {}\n   […] {} […]\n",
            n + 1,
            mention["title"].as_str().unwrap_or_default(),
            mention["source"].as_str().unwrap_or_default(),
            mention["excerpt"].as_str().unwrap_or_default(),
        );
    }
    println!("The JSON, as served:\n{}", String::from_utf8_lossy(&body));
    Ok(())
}
