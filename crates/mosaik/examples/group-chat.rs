//! Serverless group chat: every participant is a peer, the room lives in
//! two replicated collections.
//!
//! ```sh
//! # terminal 1
//! cargo run --example group-chat -- --nickname ada
//! # it prints `join with: --peer <id>@<ip:port>`; terminal 2:
//! cargo run --example group-chat -- --nickname bob --peer <id>@<ip:port>
//! ```
//!
//! On one LAN the `--peer` flag can be left out: mDNS finds the others.
//! Type a line to send it; Ctrl-D or Ctrl-C leaves.
//!
//! - `Map<PeerId, UserInfo>`: who is in the room (presence). Each member
//!   writes its own entry and removes it when leaving; members also drop
//!   the entries of peers that discovery reports as gone.
//! - `Vec<Message>`: the room's log, in one order for everyone.
//!
//! Each process prints joins and leaves by diffing the presence map, and new
//! messages by following the log's length. Two members that started alone
//! each form their own one-member group; when they meet, one side's log
//! wins and the other's writes are discarded (dynamic mode). A member that
//! finds its own presence entry gone therefore simply writes it again.

use {
    clap::Parser,
    mosaik::{
        Network, NetworkId, PeerId, StoreId,
        collections::{Map, Vec as Log},
        discovery::{self, Event},
        iroh::{EndpointAddr, TransportAddr},
    },
    serde::{Deserialize, Serialize},
    std::collections::BTreeMap,
    tokio::io::{AsyncBufReadExt, BufReader},
};

#[derive(Parser)]
#[command(about = "A chat room without a server")]
struct Args {
    /// The name others see.
    #[arg(long, default_value = "guest")]
    nickname: String,
    /// ANSI color of your name: red, green, yellow, blue, magenta, cyan.
    #[arg(long, default_value = "cyan")]
    color: String,
    /// Rooms are independent stores on the same network.
    #[arg(long, default_value = "lobby")]
    room: String,
    /// A member to join through: `<peer id>@<ip:port>` as printed at start.
    #[arg(long)]
    peer: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UserInfo {
    nickname: String,
    color: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Message {
    from: UserInfo,
    text: String,
}

fn paint(user: &UserInfo) -> String {
    let code = match user.color.as_str() {
        "red" => 31,
        "green" => 32,
        "yellow" => 33,
        "blue" => 34,
        "magenta" => 35,
        _ => 36,
    };
    format!("\x1b[{code}m{}\x1b[0m", user.nickname)
}

fn parse_peer(text: &str) -> anyhow::Result<EndpointAddr> {
    let (id, addrs) = text.split_once('@').unwrap_or((text, ""));
    let mut addr = EndpointAddr::new(id.parse::<PeerId>()?);
    for ip in addrs.split(',').filter(|s| !s.is_empty()) {
        addr.addrs.insert(TransportAddr::Ip(ip.parse()?));
    }
    Ok(addr)
}

/// Prints the log entries after `printed` and advances it.
fn print_new_messages(log: &Log<Message>, printed: &mut u64) {
    // A log replaced on merge can be shorter than what we printed.
    *printed = (*printed).min(u64::try_from(log.len()).unwrap_or(u64::MAX));
    while let Some(message) = log.get(*printed) {
        println!("{}: {}", paint(&message.from), message.text);
        *printed += 1;
    }
}

/// Prints who joined and who left between two presence views.
fn print_presence_changes(
    before: &BTreeMap<PeerId, UserInfo>,
    now: &BTreeMap<PeerId, UserInfo>,
    me: PeerId,
) {
    for (id, user) in now {
        if *id != me && !before.contains_key(id) {
            println!("* {} joined", paint(user));
        }
    }
    for (id, user) in before {
        if *id != me && !now.contains_key(id) {
            println!("* {} left", paint(user));
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let me = UserInfo {
        nickname: args.nickname.clone(),
        color: args.color.clone(),
    };
    let bootstrap = args
        .peer
        .iter()
        .map(|p| parse_peer(p))
        .collect::<anyhow::Result<std::vec::Vec<_>>>()?;
    let network = Network::builder(NetworkId::from("mosaik-example-group-chat"))
        .with_mdns_discovery(true)
        .with_discovery(discovery::Config::builder().with_bootstrap(bootstrap))
        .build()
        .await?;
    network.online().await;
    let addr = network.local().addr();
    let ips: std::vec::Vec<String> = addr.ip_addrs().map(ToString::to_string).collect();
    println!("join with: --peer {}@{}", addr.id, ips.join(","));

    let room = StoreId::from("group-chat").derive(args.room.as_str());
    let presence = Map::<PeerId, UserInfo>::writer(&network, room.derive("presence"));
    let log = Log::<Message>::writer(&network, room.derive("log"));
    let my_id = network.local().id();

    println!("waiting for the room '{}' to come online...", args.room);
    presence.when().online().await;
    log.when().online().await;
    presence.insert(my_id, me.clone()).await?;
    println!("you are {} — type to chat", paint(&me));

    let mut seen: BTreeMap<PeerId, UserInfo> = BTreeMap::new();
    // Start at the end: history from before we joined is not replayed.
    let mut printed = u64::try_from(log.len()).unwrap_or(u64::MAX);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut events = network.discovery().events();
    loop {
        // Catch up before waiting: changes can land while we were busy
        // sending, and `updated()` only reports the next one.
        print_new_messages(&log, &mut printed);
        let now: BTreeMap<PeerId, UserInfo> = presence.iter().collect();
        if now != seen {
            print_presence_changes(&seen, &now, my_id);
            if !now.contains_key(&my_id) {
                // Our entry lost a merge: register again.
                presence.insert(my_id, me.clone()).await?;
            }
            seen = now;
        }
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(text) if !text.trim().is_empty() => {
                    let message = Message { from: me.clone(), text };
                    if let Err(err) = log.push_back(message).await {
                        println!("(not sent: {err})");
                    }
                }
                Some(_) => {}
                None => break,
            },
            _ = log.when().updated() => {}
            _ = presence.when().updated() => {}
            event = events.recv() => {
                if let Ok(Event::PeerDeparted(peer)) = event {
                    // Whoever notices first cleans up; removing twice is a no-op.
                    if presence.contains_key(&peer) {
                        let _ = presence.remove(&peer).await;
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let _ = presence.remove(&my_id).await;
    network.shutdown().await;
    Ok(())
}
