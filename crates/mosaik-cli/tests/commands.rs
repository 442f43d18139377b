//! `mosaik beacon`, `mosaik inspect` and `mosaik dht` as a user runs them.

use {
    core::time::Duration,
    mosaik::{Network, groups::GroupKey, iroh::RelayMode},
    std::process::Output,
    tokio::process::Command,
};

const TIMEOUT: Duration = Duration::from_secs(45);

async fn mosaik(args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_mosaik"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("mosaik {args:?} did not finish"))
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn node(network: &str, bootstrap: Option<&Network>) -> Network {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_tags(["cli-test"])
        .with_announce_interval(Duration::from_secs(1));
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(discovery)
        .build()
        .await
        .expect("network starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_json_sees_a_small_cluster() {
    let network = "cli-inspect-test";
    let a = node(network, None).await;
    let b = node(network, Some(&a)).await;
    let producer = a.streams().produce::<u64>();
    let _consumer = b.streams().consume::<u64>();
    let key = GroupKey::from_secret("cli-inspect-group");
    let ga = a.groups().with_key(key).join();
    let _gb = b.groups().with_key(key).join();
    let wait = async {
        while b.discovery().catalog().signed_peers_count() < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("cluster forms");

    let bootstrap = format!(
        "{}@{}",
        a.local().id(),
        a.local().addr().ip_addrs().next().expect("an ip address")
    );
    let out = mosaik(&[
        "inspect",
        "-n",
        network,
        "-p",
        &bootstrap,
        "--json",
        "--no-relay",
        "--wait",
        "20",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let peers = report["peers"].as_array().expect("peers");
    let find = |id: String| {
        peers
            .iter()
            .find(|p| p["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing in {report:#}"))
    };
    let pa = find(a.local().id().to_string());
    let pb = find(b.local().id().to_string());
    let stream = producer.stream_id().to_string();
    let group = ga.id().to_string();
    assert!(
        pa["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| *s == stream.as_str())
    );
    for p in [pa, pb] {
        assert!(
            p["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| *g == group.as_str())
        );
        assert_eq!(p["tags"].as_array().unwrap().len(), 1, "{p}");
    }
    assert!(pa["rtt_ms"].is_number(), "{pa}");
    assert_eq!(report["groups"][&group].as_array().unwrap().len(), 2);
    assert_eq!(report["streams"][&stream][0], a.local().id().to_string());
}

#[tokio::test]
async fn beacon_identity_is_stable_for_a_seed() {
    let args = [
        "beacon",
        "-n",
        "cli-beacon",
        "-s",
        "my-seed",
        "--no-relay",
        "--no-dht",
        "-b",
        "127.0.0.1:0",
        "--once",
    ];
    let first = mosaik(&args).await;
    let second = mosaik(&args).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let id = |out: &Output| {
        text(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("peer id:").map(|s| s.trim().to_owned()))
            .expect("a peer id line")
    };
    assert_eq!(id(&first), id(&second));
    assert!(text(&first.stdout).contains("bootstrap: "));
    assert!(text(&first.stdout).contains("tags:      beacon-node"));
}

#[tokio::test]
async fn dht_answers_or_fails_fast_with_one_line() {
    let started = std::time::Instant::now();
    let out = mosaik(&["dht", "-n", "cli-dht-test", "-t", "3"]).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    if out.status.success() {
        assert!(
            text(&out.stdout).contains("occupied"),
            "{}",
            text(&out.stdout)
        );
    } else {
        let err = text(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dht_shows_a_published_slot_against_a_local_testnet() {
    let testnet = tokio::task::spawn_blocking(|| mainline::Testnet::builder(10).build())
        .await
        .unwrap()
        .expect("local testnet");
    let network = "cli-dht-testnet";
    let discovery = mosaik::discovery::Config::builder()
        .with_dht_bootstrap_nodes(testnet.bootstrap.clone())
        .with_dht_poll_interval(Duration::from_millis(500))
        .with_dht_request_timeout(Duration::from_millis(300));
    let member = Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(discovery)
        .build()
        .await
        .expect("network starts");
    let id = member.local().id().to_string();
    let mut args = vec!["dht", "-n", network, "-t", "3"];
    for node in &testnet.bootstrap {
        args.extend(["--dht-bootstrap", node.as_str()]);
    }
    // The member publishes within a poll interval or two; the command
    // reads what is there when it runs, so retry until the record shows.
    let wait = async {
        loop {
            let out = mosaik(&args).await;
            let stdout = text(&out.stdout);
            if out.status.success() && stdout.contains(&id) {
                return stdout;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let stdout = tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("the record appears");
    assert!(stdout.contains("occupied 1/16, healthy 1"), "{stdout}");
    assert!(stdout.contains("healthy, up"), "{stdout}");
}
