//! The attacker process of `mosaik-bench attack` (`attack-run`, hidden):
//! an endpoint with no credentials running one attack against the victim
//! until the driver kills it. A separate process, so the driver's RSS is
//! the cluster's alone.

use {
    super::attacks::{
        GROUPS_ALPN, OnOpen, almost_complete_frame, amplified_handshake, push_snapshot,
        reopen_until, sybils,
    },
    core::time::Duration,
    mosaik::{
        Network,
        discovery::{ANNOUNCE_ALPN, Config, SyncProtocol},
        iroh::{EndpointAddr, RelayMode},
        network::Protocol,
    },
    std::sync::{Arc, atomic::AtomicBool},
};

/// The attacks of issue 17.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Catalog-sync pushes of 9,999 fresh, correctly signed entries, back
    /// to back.
    Sybil,
    /// 64 connections each sending all but one byte of a 16 MiB frame,
    /// reopened when closed.
    Memory,
    /// 200 silent connections on the groups ALPN, reopened when closed.
    Bonds,
    /// 300 connections on the gossip ALPN: silence, garbage, a 4 GiB
    /// prefix, slow bytes; reopened when closed.
    Gossip,
    /// Bond handshakes replaying one valid entry 5,000 times, 16 at a
    /// time, back to back.
    Amplify,
}

/// Runs `kind` against `target` (an `EndpointAddr` as JSON) of `network`
/// until killed.
pub async fn run(kind: Kind, network: &str, target: &str) -> anyhow::Result<()> {
    let target: EndpointAddr = serde_json::from_str(target)?;
    let me = Arc::new(
        Network::builder("mosaik-bench-attacker")
            .with_relay_mode(RelayMode::Disabled)
            .with_addresses(["127.0.0.1:0".parse()?])
            .with_discovery(Config::builder().no_dht_bootstrap())
            .build()
            .await?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    match kind {
        Kind::Sybil => {
            let network = network.to_owned();
            tasks.spawn(async move {
                loop {
                    // Fresh identities every push: all new to the victim.
                    let snapshot = sybils(&network, 9_999);
                    if !push_snapshot(&me, target.clone(), &snapshot).await {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            });
        }
        Kind::Memory => {
            for _ in 0..64 {
                let (me, target) = (me.clone(), target.clone());
                tasks.spawn(async move {
                    loop {
                        let frame = 16 * 1024 * 1024 - 1;
                        match almost_complete_frame(
                            &me,
                            target.clone(),
                            SyncProtocol::ALPN,
                            frame,
                            1,
                        )
                        .await
                        {
                            Some(conn) => drop(conn.closed().await),
                            None => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                });
            }
        }
        Kind::Bonds => {
            for _ in 0..200 {
                let conn = (me.clone(), target.clone(), stop.clone());
                tasks.spawn(reopen_until(
                    conn.0,
                    conn.1,
                    GROUPS_ALPN,
                    conn.2,
                    OnOpen::Silence,
                ));
            }
        }
        Kind::Gossip => {
            for i in 0..300 {
                let conn = (me.clone(), target.clone(), stop.clone());
                tasks.spawn(reopen_until(
                    conn.0,
                    conn.1,
                    ANNOUNCE_ALPN,
                    conn.2,
                    OnOpen::Gossip(i),
                ));
            }
        }
        Kind::Amplify => {
            let frame = Arc::new(amplified_handshake(&me, network, 5_000));
            for _ in 0..16 {
                let (me, target, frame) = (me.clone(), target.clone(), frame.clone());
                tasks.spawn(async move {
                    loop {
                        let Ok(conn) = me
                            .local()
                            .endpoint()
                            .connect(target.clone(), GROUPS_ALPN)
                            .await
                        else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        if let Ok((mut send, _recv)) = conn.open_bi().await {
                            let _ = send.write_all(&frame).await;
                            conn.closed().await;
                        }
                    }
                });
            }
        }
    }
    // Runs until the driver kills this process.
    while tasks.join_next().await.is_some() {}
    Ok(())
}
