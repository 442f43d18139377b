//! A machine that cannot be copied (`#[derive(Default)]` only, no
//! `StateMachine::try_clone`) runs normally; when a dynamic-mode heal
//! discards entries it already applied, its group stops instead of keeping
//! a state with discarded effects, and the winning side carries on.

use {
    crate::util::{fast, node, timing, until, within},
    mosaik::{
        GroupKey, UniqueId, Weak,
        groups::{ApplyContext, Group, LogReplaySync, QueryError, StateMachine},
    },
};

/// Derive-only: no `Clone`, no `try_clone`.
#[derive(Debug, Default)]
struct Plain(i64);

impl StateMachine for Plain {
    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-plain-counter")
    }

    fn apply(&mut self, command: i64, _: &dyn ApplyContext) {
        self.0 += command;
    }

    fn query(&self, (): ()) -> i64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

fn stopped(group: &Group<Plain>) -> bool {
    matches!(
        futures::FutureExt::now_or_never(group.query((), Weak)),
        Some(Err(QueryError::GroupTerminated))
    )
}

#[tokio::test]
async fn a_revert_without_a_copy_stops_the_losing_side() {
    let a_net = node("groups-no-clone", fast()).await;
    let b_net = node("groups-no-clone", fast()).await;
    let key = GroupKey::from_secret("no-clone");
    let join = |n: &mosaik::Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(Plain::default())
            .with_consensus_config(timing())
            .join()
    };
    let (a, b) = (join(&a_net), join(&b_net));
    within("a leads", a.when().is_leader()).await;
    within("b leads", b.when().is_leader()).await;
    for _ in 0..3 {
        within("a commits", a.execute(1))
            .await
            .expect("a commits alone");
    }
    for _ in 0..2 {
        within("b commits", b.execute(10))
            .await
            .expect("b commits alone");
    }
    assert_eq!(*within("a answers", a.query((), Weak)).await.unwrap(), 3);

    // Heal: one history wins, the other side cannot be rebuilt.
    b_net.discovery().dial(a_net.local().addr()).await;
    until("the losing side stopped", || stopped(&a) || stopped(&b)).await;
    let (winner, loser) = if stopped(&a) { (&b, &a) } else { (&a, &b) };
    assert!(stopped(loser));
    let before = *within("winner answers", winner.query((), Weak))
        .await
        .unwrap();
    assert!(
        before == 3 || before == 20,
        "the winner kept its own history: {before}"
    );
    within("winner commits", winner.execute(100))
        .await
        .expect("the winning side carries on");
    assert_eq!(
        *within("winner answers", winner.query((), Weak))
            .await
            .unwrap(),
        before + 100
    );
}
