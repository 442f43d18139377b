//! Issue 16 regressions at the public API: admission of a strict group's
//! members, the byte budget of proposals and replication, and `join` with
//! a clashing state machine type.

use {
    crate::util::{Counter, fast, timing, until, within},
    mosaik::{
        Network, UniqueId,
        discovery::ConfigBuilder,
        groups::{
            ApplyContext, CommandError, ConsensusConfig, GroupKey, Idle, JoinError, LogReplaySync,
            StateMachine, StateSync, SyncContext,
        },
        iroh::RelayMode,
    },
};

/// A machine whose commands are byte strings (it counts their bytes).
#[derive(Clone, Default)]
struct Blob(u64);

impl StateMachine for Blob {
    type Command = Vec<u8>;
    type Query = ();
    type QueryResult = u64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-blob-v1")
    }

    fn apply(&mut self, command: Vec<u8>, _: &dyn ApplyContext) {
        self.0 += command.len() as u64;
    }

    fn query(&self, (): ()) -> u64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

/// A sync strategy whose signature does not name the machine type, so two
/// machine types can claim one group id (what `join` must refuse).
struct NoSync<M>(core::marker::PhantomData<fn() -> M>);

impl<M: StateMachine<StateSync = Self>> StateSync for NoSync<M> {
    type Machine = M;
    type Message = ();
    type Provider = Idle;
    type Session = Idle;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-no-sync")
    }

    fn create_provider(&self, _: &dyn SyncContext<Self>) -> Idle {
        Idle
    }
}

/// Two machine types with one signature.
macro_rules! clashing {
    ($name:ident) => {
        #[derive(Clone, Default)]
        struct $name;

        impl StateMachine for $name {
            type Command = ();
            type Query = ();
            type QueryResult = ();
            type StateSync = NoSync<Self>;

            fn signature(&self) -> UniqueId {
                UniqueId::from("test-clash")
            }

            fn apply(&mut self, (): (), _: &dyn ApplyContext) {}

            fn query(&self, (): ()) {}

            fn state_sync(&self) -> Self::StateSync {
                NoSync(core::marker::PhantomData)
            }
        }
    };
}

clashing!(Original);
clashing!(Impostor);

/// A loopback node whose links carry frames of at most `frame` bytes.
async fn small_frames(network: &str, config: ConfigBuilder, frame: usize) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_max_frame_size(frame)
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

/// Bug 10: a second `join` of a running group id with another machine type
/// is an error (`try_join`) or a terminated handle (`join`), never a panic;
/// the running group is untouched.
#[tokio::test]
async fn join_with_another_machine_type_is_an_error() {
    let net = crate::util::node("groups-clash", fast()).await;
    let key = GroupKey::from_secret("clash");
    let group = net
        .groups()
        .with_key(key)
        .with_state_machine(Original)
        .with_consensus_config(timing())
        .join();
    let clash = net
        .groups()
        .with_key(key)
        .with_state_machine(Impostor)
        .with_consensus_config(timing())
        .try_join();
    assert!(matches!(clash, Err(JoinError::TypeMismatch { .. })));
    let dead = net
        .groups()
        .with_key(key)
        .with_state_machine(Impostor)
        .with_consensus_config(timing())
        .join();
    assert!(matches!(
        dead.execute(()).await,
        Err(CommandError::GroupTerminated)
    ));
    drop(dead);
    within("the running group still leads", group.when().is_leader()).await;
    within("and commits", group.execute(()))
        .await
        .expect("commits");
}

/// Bug 4: a command that can never fit in one message is refused with
/// `TooLarge` (alone or as one `execute_many` batch); and a member that
/// joins late catches up on large entries although the leader's repair
/// batch (up to 1024 entries) is far over the frame limit: `AppendEntries`
/// is split by the byte budget instead of failing with `FrameTooLarge` on
/// every retransmission.
#[tokio::test]
async fn large_entries_replicate_within_the_frame_limit() {
    const FRAME: usize = 256 * 1024;
    let first = small_frames("groups-large", fast(), FRAME).await;
    let key = GroupKey::from_secret("large");
    let a = first
        .groups()
        .with_key(key)
        .with_state_machine(Blob::default())
        .with_consensus_config(timing())
        .join();
    within("a leads", a.when().is_leader()).await;
    // The budget is half the frame: 128 KiB.
    match a.execute(vec![1; 200 * 1024]).await {
        Err(CommandError::TooLarge {
            commands,
            bytes,
            limit,
        }) => {
            assert_eq!(commands.len(), 1, "handed back");
            assert!(bytes > limit && limit < FRAME);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let batch = a.execute_many(vec![vec![2; 60 * 1024]; 3]).await;
    assert!(matches!(batch, Err(CommandError::TooLarge { .. })));
    // 24 entries of 60 KiB: 1.4 MiB, several frames' worth.
    let mut last = None;
    for _ in 0..24 {
        last = Some(a.execute(vec![3; 60 * 1024]).await.expect("commits alone"));
    }
    let last = last.unwrap();
    let second = small_frames(
        "groups-large",
        fast().with_bootstrap([first.local().addr()]),
        FRAME,
    )
    .await;
    let b = second
        .groups()
        .with_key(key)
        .with_state_machine(Blob::default())
        .with_consensus_config(timing())
        .join();
    within("b catches up", b.when().committed().reaches(last)).await;
    let bytes = *b.query((), mosaik::groups::Weak).await.unwrap();
    assert_eq!(bytes, 24 * 60 * 1024);
}

/// Bug 3: a strict group with `min_quorum` 2 holds at most 3 voters. A
/// fourth member is refused at bond admission (`StrictGroupFull`) once it
/// would vote, the three keep their group, and nothing panics.
#[tokio::test]
async fn a_strict_group_refuses_voters_past_its_size() {
    let nodes = crate::util::cluster("groups-full", 3).await;
    let key = GroupKey::from_secret("full");
    let strict = ConsensusConfig {
        min_quorum: Some(2),
        ..timing()
    };
    let join = |net: &Network| {
        net.groups()
            .with_key(key)
            .with_state_machine(Counter::default())
            .with_consensus_config(strict.clone())
            .join()
    };
    let groups: Vec<_> = nodes.iter().map(join).collect();
    let leader = within("leader", groups[0].when().leader_elected()).await;
    for g in &groups {
        within("agree", g.when().leader_is(leader)).await;
    }
    let index = within("commits", groups[1].execute(1)).await.unwrap();
    let fourth = crate::util::joiner("groups-full", &nodes[0]).await;
    let extra = join(&fourth);
    // It may replicate while it catches up (an observer counts for nobody),
    // then it would vote: every member refuses it.
    within(
        "the fourth catches up",
        extra.when().committed().reaches(index),
    )
    .await;
    until("the fourth is refused once it would vote", || {
        extra.bonds().is_empty()
    })
    .await;
    for g in &groups {
        assert!(
            g.bonds().len() <= 2,
            "a member holds more than 2 voter bonds"
        );
    }
    let index = within("the three still commit", groups[2].execute(2))
        .await
        .expect("commits");
    for g in &groups {
        within("applied", g.when().committed().reaches(index)).await;
    }
}

/// Bug 5: a flood of `feed` callers on the leader (always a request ready)
/// must not starve its bond events: followers' acknowledgements keep
/// committing (an `execute` behind the flood completes) and the leader
/// keeps its leadership (same term throughout).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_feeders_does_not_starve_the_leader() {
    let nodes = crate::util::cluster("groups-flood", 3).await;
    let key = GroupKey::from_secret("flood");
    // Longer election timeouts than `timing()`: 800 feeder tasks share the
    // test's runtime with the members, and only starvation of the leader's
    // loop (indefinite, before the fix) should cost the leadership.
    let patient = ConsensusConfig {
        election_timeout: core::time::Duration::from_secs(2),
        ..timing()
    };
    let groups: Vec<_> = nodes
        .iter()
        .map(|net| {
            net.groups()
                .with_key(key)
                .with_state_machine(Counter::default())
                .with_consensus_config(patient.clone())
                .join()
        })
        .collect();
    let leader = within("leader", groups[0].when().leader_elected()).await;
    for g in &groups {
        within("agree", g.when().leader_is(leader)).await;
    }
    let lead = groups
        .iter()
        .find(|g| g.is_leader())
        .expect("a leader")
        .clone();
    within("first commit", lead.execute(1)).await.unwrap();
    let term = lead.log_position().term();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let feeders: Vec<_> = (0..800)
        .map(|_| {
            let (g, stop, fed) = (lead.clone(), stop.clone(), fed.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if g.feed(1).await.is_ok() {
                        fed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Executes behind the flood, each needing the followers' acks.
    for _ in 0..5 {
        within("an execute behind the flood", lead.execute(1))
            .await
            .expect("commits during the flood");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in feeders {
        f.await.unwrap();
    }
    assert!(
        fed.load(std::sync::atomic::Ordering::Relaxed) > 1000,
        "the flood ran"
    );
    assert!(lead.is_leader(), "the leader kept its leadership");
    assert_eq!(lead.log_position().term(), term, "no new term");
}

/// A command that may fail to encode: `Poison` refuses to serialize.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
enum Risky {
    Add(u64),
    Poison,
}

impl serde::Serialize for Risky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Add(n) => s.serialize_newtype_variant("Risky", 0, "Add", n),
            Self::Poison => Err(serde::ser::Error::custom("poison cannot be encoded")),
        }
    }
}

/// Sums the `Add`s it applies.
#[derive(Clone, Default)]
struct RiskySum(u64);

impl StateMachine for RiskySum {
    type Command = Risky;
    type Query = ();
    type QueryResult = u64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-risky-sum-v1")
    }

    fn apply(&mut self, command: Risky, _: &dyn ApplyContext) {
        if let Risky::Add(n) = command {
            self.0 += n;
        }
    }

    fn query(&self, (): ()) -> u64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

/// `CommandError::Encoding` (module docs: "not applied"): a command that
/// fails to encode comes back with the reason, alone or in a batch (the
/// whole batch handed back, none of it applied), and nothing reaches the
/// log; the group goes on committing.
#[tokio::test]
async fn a_command_that_fails_to_encode_is_handed_back_unapplied() {
    let net = crate::util::node("groups-encoding", fast()).await;
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("encoding"))
        .with_state_machine(RiskySum::default())
        .with_consensus_config(timing())
        .join();
    within("leads", group.when().is_leader()).await;
    let before = within("a first commit", group.execute(Risky::Add(1)))
        .await
        .expect("commits");

    match within("poison", group.execute(Risky::Poison)).await {
        Err(CommandError::Encoding(commands, reason)) => {
            assert_eq!(commands, [Risky::Poison]);
            // The encoder's own words (postcard keeps no custom message).
            assert!(!reason.is_empty());
        }
        other => panic!("expected Encoding, got {other:?}"),
    }
    let batch = vec![Risky::Add(10), Risky::Poison, Risky::Add(100)];
    match within("a poisoned batch", group.execute_many(batch.clone())).await {
        Err(CommandError::Encoding(commands, _)) => assert_eq!(commands, batch),
        other => panic!("expected Encoding, got {other:?}"),
    }
    match within("feed", group.feed(Risky::Poison)).await {
        Err(CommandError::Encoding(commands, _)) => assert_eq!(commands, [Risky::Poison]),
        other => panic!("expected Encoding, got {other:?}"),
    }
    assert_eq!(group.log_position().1, before, "nothing was appended");

    let after = within("the next commit", group.execute(Risky::Add(2)))
        .await
        .expect("commits");
    assert_eq!(
        after.0,
        before.0 + 1,
        "the next command takes the next index"
    );
    let sum = within("query", group.query((), mosaik::groups::Consistency::Weak))
        .await
        .expect("answers");
    assert_eq!(sum.result, 3, "only the two adds were applied");
}
