//! Shapes only: these functions are type-checked, never run. Each is
//! written the way code for the original is written.
#![allow(dead_code, unused_variables, clippy::all, clippy::pedantic)]

use {
    core::time::Duration,
    mosaik::{
        futures::{SinkExt, StreamExt},
        primitives::{Abbreviated, Pretty, Redacted, Short, const_hex},
        *,
    },
    serde::{Deserialize, Serialize},
    std::collections::BTreeSet,
};

// ---- primitives -----------------------------------------------------------

const NETWORK: NetworkId = unique_id!("compat-network");
const STREAM: StreamId = id!("compat-stream");
const HEX_KEY: [u8; 32] =
    const_hex::<32>("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

fn ids() {
    let a = Digest::from("intent");
    let b: Digest = "intent".parse().unwrap();
    assert_eq!(a, b);
    let _ = Digest::from(&b"bytes"[..]);
    let _ = Digest::from_bytes([0u8; 32]);
    let _ = Digest::zero();
    let _ = Digest::hash(b"data");
    let _ = Digest::random();
    let _ = a.derive("child").hashed();
    let _ = Digest::from_u64(7);
    let _: &[u8] = a.as_bytes();
    let _ = SecretKey::from(a);
    let _ = NetworkId::random();
    let tag: Tag = "validator".into();
    let _ = format!("{a} {a:?} {} {}", Short(a), Short(&a));
    let _ = format!("{}", Abbreviated::<4, _>(a));
    let _ = format!("{} {}", Redacted(a), Pretty(&tag));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub symbol: String,
    pub cents: u64,
}

fn datums() {
    let p = Price {
        symbol: "A".into(),
        cents: 1,
    };
    let bytes: Bytes = p.encode().unwrap();
    let back = Price::decode(&bytes).unwrap();
    assert_eq!(p, back);
    let _: StreamId = Price::derived_stream_id();
    let wrapped = primitives::Encoded(p);
    let _: &Price = &wrapped;
    let _ = primitives::encoding::serialize(&1u64);
    let _: u64 = primitives::encoding::deserialize(&[1]).unwrap();
}

// ---- network --------------------------------------------------------------

async fn network() -> Result<(), network::NetworkError> {
    let a = Network::new(NETWORK).await?;
    let b = Network::builder(NETWORK)
        .with_relay_mode(mosaik::iroh::RelayMode::Disabled)
        .with_mdns_discovery(false)
        .with_addresses(BTreeSet::from(["127.0.0.1:0".parse().unwrap()]))
        .with_secret_key(SecretKey::generate())
        .with_discovery(
            discovery::Config::builder()
                .with_bootstrap(a.local().addr()) // one address
                .with_bootstrap([a.local().id()]) // or many peer ids
                .with_tags("compat") // one tag
                .with_tags(["a", "b"]) // or many
                .with_events_backlog(100)
                .with_purge_after(Duration::from_secs(300))
                .with_max_time_drift(Duration::from_secs(50))
                .with_announce_interval(Duration::from_secs(45))
                .with_announce_jitter(0.5)
                .with_rtt_probe_interval(Duration::from_secs(30))
                .with_max_rtt(Duration::from_secs(1))
                .no_dht_bootstrap(),
        )
        .with_streams(streams::Config::builder())
        .with_groups(groups::Config::builder().with_handshake_timeout(Duration::from_secs(2)))
        .build()
        .await?;
    let id: &NetworkId = a.network_id();
    let local: &network::LocalNode = a.local();
    // `LocalNode::network_id` stays by value (MIGRATING.md).
    let _: NetworkId = local.network_id();
    let _: PeerId = local.id();
    let _: mosaik::iroh::EndpointAddr = local.addr();
    let _: &SecretKey = local.secret_key();
    let _ = local.endpoint();
    local.online().await;
    a.online().await;
    let _ = (a.discovery(), a.streams(), a.groups());
    Ok(())
}

// ---- discovery ------------------------------------------------------------

async fn discovery_api(a: &Network, b: &Network) -> Result<(), discovery::Error> {
    let d = a.discovery();
    d.dial(b.local().addr()).await; // one address
    d.dial(b.local().id()).await; // one peer id
    d.dial([b.local().addr()]).await; // many
    d.sync_with(b.local().addr()).await?;
    let me: discovery::SignedPeerEntry = d.me();
    let _: bool = d.insert(b.discovery().me()); // a signed entry
    let _: bool = d.insert(me.clone().into_unsigned());
    let _: bool = d.feed(b.discovery().me());
    let _: bool = d.remove(b.local().id());
    let _: bool = d.clear_unsigned();
    d.add_tags("one");
    d.add_tags(["x", "y"]);
    d.remove_tags("one");
    let class = TicketClass::from("compat-class");
    let ticket = tickets::Ticket::new(class, String::from("credential").into());
    d.add_ticket(ticket.clone());
    d.remove_ticket(ticket.id());
    d.remove_tickets_of(class);
    d.replace_ticket(ticket);
    let mut events = d.events();
    if let Ok(event) = events.recv().await {
        match event {
            discovery::Event::PeerDiscovered(entry) | discovery::Event::PeerUpdated(entry) => {
                let _: &PeerId = entry.id();
            }
            discovery::Event::PeerDeparted(peer) => {
                let _: PeerId = peer;
            }
        }
    }
    let mut watch = d.catalog_watch();
    let _ = watch.changed().await;

    let catalog: discovery::Catalog = d.catalog();
    let _: PeerId = catalog.local_id();
    let _: &discovery::SignedPeerEntry = catalog.local();
    let _: usize = catalog.signed_peers_count() + catalog.peers_count();
    let peer = b.local().id();
    for info in catalog.peers() {
        let _: Option<Duration> = info.rtt();
        let _: bool = info.rtt_below(Duration::from_millis(50));
        let entry_id: &PeerId = info.id(); // Deref to the entry
        if entry_id == &peer || *info.id() == peer {
            let _ = format!("{}", Short(info.id()));
        }
    }
    let _ = catalog.get(&peer).map(|p| p.into_entry());
    let _ = catalog.get_signed(&peer);
    let _ = catalog.signed_peers().count() + catalog.unsigned_peers().count();
    let _ = catalog.iter().count() + catalog.iter_signed().count();

    // Entries: getters, Short by value and by reference.
    let entry: &discovery::PeerEntry = &me;
    let _ = format!(
        "{} {} {} {}",
        Short(entry),
        Short(&me),
        Short(me.clone()),
        Short(entry.clone())
    );
    let _ = (
        entry.network_id(),
        entry.protocol_version(),
        entry.address(),
    );
    let _ = (
        entry.tags(),
        entry.streams(),
        entry.groups(),
        entry.tickets(),
    );
    let _ = (
        entry.update_version(),
        entry.updated_at(),
        entry.started_at(),
        entry.uptime(),
    );
    let _ = (entry.digest(), entry.is_newer_than(&me));
    let _ = entry.tickets_of(class).count();
    let updated = entry
        .clone()
        .add_tags("t")
        .add_tags(["u", "v"])
        .remove_tags("t");
    let _ = updated.sign(a.local().secret_key());
    Ok(())
}

// ---- streams --------------------------------------------------------------

stream!(pub Prices = Price, "compat.prices", buffer_size: 64);

async fn streams_api(a: &Network) {
    let producer: streams::Producer<Price> = a.streams().produce::<Price>();
    let _: &StreamId = producer.stream_id();
    let stream_id = *producer.stream_id();
    let _: bool = producer.is_online();
    producer.when().online().await;
    let _ = producer
        .when()
        .subscribed()
        .minimum_of(2)
        .with_tags("a")
        .with_tags(["a", "b"]);
    let _ = producer.when().unsubscribed().is_condition_met();
    let _ = producer.when().subscribed() == true;
    let sent = producer.try_send(Price {
        symbol: "A".into(),
        cents: 1,
    });
    // `Error<D>` compares.
    if sent
        == Err(streams::producer::Error::Offline(Price {
            symbol: "A".into(),
            cents: 1,
        }))
    {}
    for channel in producer.consumers() {
        let _: PeerId = channel.consumer_id();
        let _: usize = channel.stats().datums();
        let _ = (channel.peer(), channel.state(), channel.is_connected());
    }
    let mut sink = producer.clone();
    let _ = SinkExt::send(
        &mut sink,
        Price {
            symbol: "B".into(),
            cents: 2,
        },
    )
    .await;

    let built = a
        .streams()
        .producer::<Price>()
        .with_stream_id(STREAM)
        .require(|peer: &discovery::PeerInfo| peer.rtt_below(Duration::from_millis(200)))
        .online_when(|c| c.minimum_of(1))
        .disconnect_lagging(true)
        .with_buffer_size(1024)
        .with_max_consumers(8)
        .build();
    let _ = built.map_err(|e| format!("{e}"));

    let mut consumer: streams::Consumer<Price> = a.streams().consume::<Price>();
    let _: &StreamId = consumer.stream_id();
    assert!(*consumer.stream_id() == stream_id);
    let _: usize = consumer.stats().datums();
    let _: Option<Price> = consumer.recv().await;
    let _: Option<Price> = consumer.try_recv();
    let _: Option<Price> = consumer.next().await; // futures::Stream
    let _ = consumer.producers().count();
    let _ = a
        .streams()
        .consumer::<Price>()
        .with_stream_id(stream_id)
        .with_criteria(Criteria::default())
        .require(|peer: &discovery::PeerInfo| !peer.tags().is_empty())
        .build();
    let def = streams::StreamDef::<Price>::new();
    let _ = a.streams().producer_of(def).build();
    let _ = a.streams().consumer_of(def).build();
    let p: ProducerOf<Prices> = Prices::producer(a);
    let c: ConsumerOf<Prices> = Prices::consumer(a);
    let _ = (p, c);
}

// ---- groups ---------------------------------------------------------------

/// A derive-only machine, as in the original's examples: no `Clone`.
#[derive(Debug, Default)]
struct Counter {
    value: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum CounterCommand {
    Increment(i64),
    Decrement(i64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CounterValueQuery;

impl groups::StateMachine for Counter {
    type Command = CounterCommand;
    type Query = CounterValueQuery;
    type QueryResult = i64;
    type StateSync = groups::LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        unique_id!("compat-counter")
    }

    fn apply(&mut self, command: CounterCommand, _: &dyn groups::ApplyContext) {
        match command {
            CounterCommand::Increment(n) => self.value += n,
            CounterCommand::Decrement(n) => self.value -= n,
        }
    }

    fn query(&self, _: CounterValueQuery) -> i64 {
        self.value
    }

    fn state_sync(&self) -> Self::StateSync {
        groups::LogReplaySync::default()
    }
}

async fn groups_api(n: &Network) -> anyhow::Result<()> {
    let key = GroupKey::random();
    let g = n
        .groups()
        .with_key(key) // GroupKey is Copy
        .with_state_machine(Counter::default())
        .with_log_storage(groups::InMemoryLogStore::default())
        .with_consensus_config(
            groups::ConsensusConfig::builder()
                .with_heartbeat_interval(Duration::from_millis(500))
                .with_election_timeout(Duration::from_secs(2))
                .build()?,
        )
        .join();
    let _ = n.groups().with_key(key).join(); // NoOp machine
    let _ = GroupKey::from_secret("secret");
    let _ = GroupKey::from(Digest::from("secret"));
    let _ = format!("{key}");
    let _ = format!("{g} {g:?}");

    g.when().online().await;
    let leader: PeerId = g.when().leader_elected().await;
    let _ = format!("{}", Short(leader));
    assert_eq!(g.leader(), Some(n.local().id()));
    assert_eq!(g.committed(), 0);
    let _: bool = g.is_leader();
    let _: &GroupId = g.id();
    let _ = g.config().consensus().election_timeout;
    let _timeout = 2
        * (g.config().intervals().bootstrap_delay
            + g.config().intervals().election_timeout
            + g.config().intervals().election_timeout_jitter);

    let index: groups::Index = g.execute(CounterCommand::Increment(3)).await?;
    assert_eq!(index, 1);
    assert!(index > 0 && index.prev() == 0);
    let range = g
        .execute_many([CounterCommand::Increment(1), CounterCommand::Decrement(1)])
        .await?;
    assert!(range.start() == 2 && range.end() == &3);
    let _ = g.feed(CounterCommand::Increment(1)).await?;
    let _ = g.feed_many(vec![CounterCommand::Increment(1)]).await?;

    let value = g.query(CounterValueQuery, Consistency::Strong).await?;
    assert_eq!(value, 3);
    let _ = format!("counter value: {value}");
    let _: i64 = *value;
    let _: groups::Index = value.state_position();
    let _: i64 = value.into();
    let weak = g.query(CounterValueQuery, Weak).await?;
    let _ = weak.at_position;

    let at: groups::Index = g.when().committed().reaches(2).await;
    assert_eq!(at, 2);
    let _ = g.when().committed().reaches(range).await;
    let _ = g.when().committed().reaches(index).await;
    let _ = g.when().log().reaches(5).await;
    let _ = g.when().committed().advanced().await;
    let _ = g.when().committed().changed().await;
    let _ = g.when().committed().reverted().await;
    let _ = g.when().leader_changed().await;
    g.when().leader_is(leader).await;
    g.when().is_leader().await;
    g.when().is_follower().await;
    g.when().offline().await;
    let _: groups::Cursor = g.log_position();

    let bonds = g.bonds();
    let _: usize = bonds.len();
    let _ = bonds.is_empty() || bonds.contains_peer(&leader);
    for bond in bonds.iter() {
        let peer: discovery::SignedPeerEntry = bond.peer();
        let _ = format!("{}", Short(peer.id()));
        let _ = (bond.id(), bond.is_terminated());
    }
    bonds.changed().await;
    if let Some(bond) = bonds.get(&leader) {
        bond.close(network::Cancelled).await;
    }
    match g.execute(CounterCommand::Increment(1)).await {
        Err(groups::CommandError::Offline(commands)) => drop(commands),
        Err(groups::CommandError::GroupTerminated) => {}
        _ => {}
    }
    Ok(())
}

// ---- collections ----------------------------------------------------------

collection!(pub Names = collections::Map<String, u64>, "compat.names");

async fn collections_api(n: &Network) -> anyhow::Result<()> {
    let map = collections::Map::<String, u64>::writer(n, "compat.map");
    map.when().online().await;
    let v: collections::Version = map.insert("a".into(), 1).await?;
    map.when().reaches(v).await;
    let _: usize = map.len();
    let _ = (map.get("a"), map.contains_key("a"), map.iter().count());
    let reader = collections::MapReader::<String, u64>::reader(n, "compat.map");
    let _: usize = reader.len();

    let vec = collections::Vec::<u64>::writer(n, "compat.vec");
    vec.push_back(1).await?;
    let len: usize = vec.len();
    let _ = vec.get(0);
    let _ = len;
    let _ = collections::Set::<u64>::writer(n, "compat.set").len();
    let cell = collections::Cell::<u64>::writer(n, "compat.cell");
    cell.write(1).await?;
    let _ = cell.read();
    let once = collections::Once::<u64>::writer(n, "compat.once");
    let _ = once.get();
    let pq = collections::PriorityQueue::<u64, String, u64>::writer(n, "compat.pq");
    pq.insert(1, "k".into(), 1).await?;
    let _: usize = pq.len();

    let config = CollectionConfig::default().with_sync(
        collections::SyncConfig::default()
            .with_fetch_batch_size(500) // a plain integer
            .with_fetch_timeout(Duration::from_secs(5)),
    );
    let _ = collections::Map::<String, u64>::writer_with_config(n, "compat.cfg", config);
    let _ = Names::writer(n);
    let _ = Names::reader(n);
    Ok(())
}

// ---- tickets --------------------------------------------------------------

fn tickets_api(peer: &PeerId) {
    use tickets::{
        EdDsaSigningKey, Es256SigningKey, Expiration, Hs256, Jwt, JwtTicketBuilder, Ticket,
        TicketValidator,
    };
    const SECRET: Hs256 =
        Hs256::hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    let class = TicketClass::from("compat");
    let from_string = Ticket::new(class, String::from("opaque").into());
    let from_vec = Ticket::new(class, vec![1u8, 2, 3].into());
    let _ = (from_string.id(), from_vec.class, from_vec.data.len());

    let validator = Jwt::with_key(SECRET).allow_issuer("issuer");
    let _: UniqueId = validator.signature();
    let _: TicketClass = validator.class();
    let ticket = JwtTicketBuilder::new(SECRET)
        .issuer("issuer")
        .expires_at(Expiration::in_1h())
        .build(peer);
    let _ = Ticket::new(Jwt::CLASS, ticket.data.clone());
    let _ = JwtTicketBuilder::new(EdDsaSigningKey::random());
    let _ = JwtTicketBuilder::new(Es256SigningKey::random());
    let _ = GroupKey::from(&validator);
    let _ = Expiration::never().remaining();
}
