//! A small live run of the original's idioms over loopback: two nodes meet
//! through `sync_with`, a stream delivers, a group with a derive-only
//! machine commits and both replicas answer.

use {
    core::time::Duration,
    mosaik::{primitives::Short, *},
    serde::{Deserialize, Serialize},
};

const WAIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn node(network: NetworkId) -> Network {
    Network::builder(network)
        .with_relay_mode(mosaik::iroh::RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(discovery::Config::builder().no_dht_bootstrap())
        .build()
        .await
        .expect("network starts")
}

/// Derive-only: no `Clone`, as the original's examples write it.
#[derive(Debug, Default)]
struct Tally(u64);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Add(u64);

impl groups::StateMachine for Tally {
    type Command = Add;
    type Query = ();
    type QueryResult = u64;
    type StateSync = groups::LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        unique_id!("compat-tally")
    }

    fn apply(&mut self, Add(n): Add, _: &dyn groups::ApplyContext) {
        self.0 += n;
    }

    fn query(&self, (): ()) -> u64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        groups::LogReplaySync::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tick(u32);

#[tokio::test(flavor = "multi_thread")]
async fn original_idioms_run() {
    let network = NetworkId::random();
    let a = node(network).await;
    let b = node(network).await;
    assert_eq!(a.network_id(), b.network_id());

    // Discovery: one address, no iterator needed.
    within("catalog sync", b.discovery().sync_with(a.local().addr()))
        .await
        .expect("sync succeeds");
    let entry = b
        .discovery()
        .catalog()
        .get(&a.local().id())
        .expect("a is in b's catalog");
    assert_eq!(*entry.id(), a.local().id());
    assert_eq!(entry.id(), &a.local().id());
    assert_eq!(
        Short(entry.id()).to_string(),
        Short(a.local().id()).to_string()
    );
    assert_eq!(Short(entry.into_entry()).to_string().len(), 10);

    // Streams.
    let producer = a.streams().produce::<Tick>();
    let mut consumer = b.streams().consume::<Tick>();
    assert_eq!(producer.stream_id(), consumer.stream_id());
    within("subscriber", producer.when().online()).await;
    producer.send(Tick(7)).await.expect("sent");
    assert_eq!(within("datum", consumer.recv()).await, Some(Tick(7)));
    let datums: usize = consumer.stats().datums();
    assert_eq!(datums, 1);

    // Groups: a derive-only machine, integer reach targets, `Display`.
    let key = GroupKey::random();
    let ga = a
        .groups()
        .with_key(key)
        .with_state_machine(Tally::default())
        .join();
    let gb = b
        .groups()
        .with_key(key)
        .with_state_machine(Tally::default())
        .join();
    assert_eq!(ga.id(), gb.id());
    within("a leader", gb.when().leader_elected()).await;
    let index = within("execute", gb.execute(Add(5)))
        .await
        .expect("committed");
    let reached = within("a reaches it", ga.when().committed().reaches(index.get())).await;
    assert!(reached >= 1);
    let value = within("strong query", ga.query((), Consistency::Strong))
        .await
        .expect("answered");
    assert_eq!(value, 5);
    assert!(value.to_string().starts_with("5 @ "));
    assert!(ga.to_string().starts_with("Group("));
    within("a bond", async {
        loop {
            // Armed before the check, so a change in between is not missed.
            let changed = ga.bonds().changed();
            if !ga.bonds().is_empty() {
                break;
            }
            changed.await;
        }
    })
    .await;
    let bond = ga.bonds().iter().next().expect("one bond");
    let b_id = b.local().id();
    assert_eq!(*bond.peer().id(), b_id);
    // Once terminated, a bond still names the peer it was with.
    drop(gb);
    drop(b);
    within("the bond ends", bond.terminated()).await;
    assert!(bond.is_terminated());
    assert_eq!(*bond.peer().id(), b_id);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Data1(u32);

/// The original's consumer-conditions idiom: a producer's network is
/// dropped while its `Producer` handle lives on, and the consumer notices
/// within 3 s.
#[tokio::test(flavor = "multi_thread")]
async fn consumer_conditions_follow_a_dropped_producer_network() {
    let network_id = NetworkId::random();
    let n0 = node(network_id).await;
    let n1 = node(network_id).await;
    let n2 = node(network_id).await;
    n1.discovery().dial(n0.local().addr()).await;
    n2.discovery().dial(n0.local().addr()).await;

    let c1 = n1.streams().consume::<Data1>();
    let mut condition1 = c1.when().subscribed();
    let mut condition2 = c1.when().subscribed().to_at_least(2);
    let mut condition3 = condition2.clone().not();
    let condition4 = c1.when().unsubscribed();
    assert!(!condition1.is_condition_met());
    assert!(!condition2.is_condition_met());
    assert!(condition3.is_condition_met());
    assert!(condition4 == true);

    let _p0 = n0.streams().produce::<Data1>();
    within("one producer", &mut condition1).await;
    let _p2 = n2.streams().produce::<Data1>();
    within("two producers", &mut condition2).await;
    assert!(!condition3.is_condition_met());

    drop(n2);
    tokio::time::timeout(Duration::from_secs(3), &mut condition3)
        .await
        .expect("the consumer noticed the dropped network within 3 s");
    assert!(!condition2.is_condition_met());
}
