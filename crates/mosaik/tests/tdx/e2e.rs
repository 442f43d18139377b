//! The positive path over loopback, with the test double (feature
//! `tdx-test-double`) standing in for TDX hardware and DCAP: live nodes
//! install tickets whose synthetic quotes bind their real peer id, network
//! id and times; a stream producer requiring `Tdx` admits such a consumer
//! and delivers data, while consumers presenting another peer's ticket,
//! another TD image or an expired ticket are refused; group members
//! requiring `Tdx` bond and commit, and a member of another image does
//! not bond with them.

use {
    crate::{
        double::{other_measurements, sample_measurements},
        net::{eventually, fast, node, timing, within},
        util::MRTD,
    },
    chrono::{Duration as TimeDelta, Utc},
    mosaik::{
        Network, NetworkTdxExt, UniqueId,
        groups::{ApplyContext, GroupKey, LogReplaySync, StateMachine},
        streams::State,
        tdx::{Tdx, TdxTestDouble, TdxTicket},
        tickets::{Expiration, Ticket},
    },
};

/// The gate every test uses: the double, and the sample TD's MRTD.
fn gate(double: &TdxTestDouble) -> Tdx {
    double.validator().require_mrtd(MRTD)
}

/// Waits until `observer` sees `holder`'s signed entry carrying `ticket`.
async fn sees_ticket(observer: &Network, holder: &Network, ticket: &Ticket) {
    let id = holder.local().id();
    let mut watch = observer.discovery().catalog_watch();
    within(
        "ticket propagates",
        watch.wait_for(|c| {
            c.get_signed(&id)
                .is_some_and(|e| e.tickets().values().any(|t| t == ticket))
        }),
    )
    .await
    .expect("discovery runs");
}

/// A ticket `node` publishes that expired a second ago, otherwise bound
/// to it exactly like a live one (`ticket_with_expiration` refuses to
/// make one, so it is built from the same parts).
fn expired_ticket(node: &Network, double: &TdxTestDouble) -> Ticket {
    let me = node.discovery().me();
    let quoted_at = Utc::now() - TimeDelta::seconds(2);
    let expiration = Expiration::At(Utc::now() - TimeDelta::seconds(1));
    let report_data = TdxTicket::report_data_for(
        me.id(),
        &me.network_id(),
        me.started_at(),
        quoted_at,
        expiration,
    );
    let ticket = TdxTicket::new(
        double.quote(report_data),
        *me.id(),
        me.network_id(),
        me.started_at(),
        quoted_at,
        expiration,
    )
    .unwrap();
    Ticket::try_from(ticket).unwrap()
}

#[tokio::test]
async fn producer_requiring_tdx_admits_a_bound_consumer_and_delivers() {
    let double = TdxTestDouble::new(sample_measurements());
    let p = node("tdx-e2e-stream", fast()).await;
    let c = node("tdx-e2e-stream", fast().with_bootstrap([p.local().addr()])).await;

    let installed = c
        .tdx()
        .install_test_double_ticket(&double, Expiration::in_1h())
        .unwrap();
    assert_eq!(installed.peer_id(), &c.local().id());
    let ticket = Ticket::try_from(installed).unwrap();
    assert!(c.discovery().me().tickets().values().any(|t| *t == ticket));
    sees_ticket(&p, &c, &ticket).await;

    let producer = p
        .streams()
        .producer::<u32>()
        .require_ticket(gate(&double))
        .build()
        .unwrap();
    let mut consumer = c.streams().consume::<u32>();
    within("consumer admitted", producer.when().subscribed()).await;
    assert_eq!(producer.consumers().count(), 1);
    for i in 0..3 {
        producer.send(i).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(within("datum", consumer.recv()).await, Some(i));
    }
}

#[tokio::test]
async fn producer_requiring_tdx_refuses_wrong_peer_image_and_expired_tickets() {
    let double = TdxTestDouble::new(sample_measurements());
    let impostor = TdxTestDouble::new(other_measurements());
    let p = node("tdx-e2e-refuse", fast()).await;
    let boot = || fast().with_bootstrap([p.local().addr()]);
    let (good, borrower, image, stale) = (
        node("tdx-e2e-refuse", boot()).await,
        node("tdx-e2e-refuse", boot()).await,
        node("tdx-e2e-refuse", boot()).await,
        node("tdx-e2e-refuse", boot()).await,
    );

    // `good` holds a valid ticket; `borrower` republishes it as its own;
    // `image` is bound to itself but runs another TD image; `stale` is
    // bound to itself but expired.
    let valid = good
        .tdx()
        .install_test_double_ticket(&double, Expiration::in_1h())
        .unwrap();
    let valid = Ticket::try_from(valid).unwrap();
    borrower.discovery().add_ticket(valid.clone());
    let other = image
        .tdx()
        .install_test_double_ticket(&impostor, Expiration::in_1h())
        .unwrap();
    let other = Ticket::try_from(other).unwrap();
    let expired = expired_ticket(&stale, &double);
    stale.discovery().add_ticket(expired.clone());
    for (holder, ticket) in [
        (&good, &valid),
        (&borrower, &valid),
        (&image, &other),
        (&stale, &expired),
    ] {
        sees_ticket(&p, holder, ticket).await;
    }

    let producer = p
        .streams()
        .producer::<u64>()
        .require_ticket(gate(&double))
        .build()
        .unwrap();
    let refused: Vec<_> = [&borrower, &image, &stale]
        .iter()
        .map(|n| n.streams().consume::<u64>())
        .collect();
    let mut admitted = good.streams().consume::<u64>();

    // The control is admitted and receives data.
    within("good consumer admitted", producer.when().subscribed()).await;
    producer.send(7).await.unwrap();
    assert_eq!(within("datum", admitted.recv()).await, Some(7));

    for consumer in &refused {
        eventually("consumer sees the producer", || {
            consumer.producers().count() == 1
        })
        .await;
        let channel = consumer.producers().next().unwrap();
        within("refused link ends", channel.disconnected()).await;
        assert_eq!(channel.state(), State::Terminated);
    }
    let admitted_peers: Vec<_> = producer.consumers().map(|c| *c.peer().id()).collect();
    assert_eq!(admitted_peers, vec![good.local().id()]);
}

/// A replicated sum.
#[derive(Debug, Default)]
struct Sum(i64);

impl StateMachine for Sum {
    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("tdx-e2e-sum-v1")
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

#[tokio::test]
async fn group_members_requiring_tdx_bond_and_commit() {
    let double = TdxTestDouble::new(sample_measurements());
    let impostor = TdxTestDouble::new(other_measurements());
    let a = node("tdx-e2e-group", fast()).await;
    let b = node("tdx-e2e-group", fast().with_bootstrap([a.local().addr()])).await;
    let x = node("tdx-e2e-group", fast().with_bootstrap([a.local().addr()])).await;
    let mut tickets = Vec::new();
    for (n, d) in [(&a, &double), (&b, &double), (&x, &impostor)] {
        let t = n
            .tdx()
            .install_test_double_ticket(d, Expiration::in_1h())
            .unwrap();
        tickets.push((n, Ticket::try_from(t).unwrap()));
    }
    for (holder, ticket) in &tickets {
        for observer in [&a, &b, &x] {
            if observer.local().id() != holder.local().id() {
                sees_ticket(observer, holder, ticket).await;
            }
        }
    }

    let key = GroupKey::from_secret("tdx-e2e");
    let join = |n: &Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(Sum::default())
            .with_consensus_config(timing())
            .require_ticket(gate(&double))
            .join()
    };
    let (ga, gb, gx) = (join(&a), join(&b), join(&x));
    eventually("a and b bond", || {
        ga.bonds().contains_peer(&b.local().id()) && gb.bonds().contains_peer(&a.local().id())
    })
    .await;
    let leader = within("leader", ga.when().leader_elected()).await;
    within("b agrees", gb.when().leader_is(leader)).await;
    let follower = if ga.is_leader() { &gb } else { &ga };
    let index = within("execute", follower.execute(5))
        .await
        .expect("commits");
    assert!(follower.committed() >= index);
    within("both applied", async {
        for g in [&ga, &gb] {
            g.when().committed().reaches(&index).await;
        }
    })
    .await;

    // `x` had the same time to bond and runs another image.
    assert!(!ga.bonds().contains_peer(&x.local().id()));
    assert!(!gb.bonds().contains_peer(&x.local().id()));
    assert!(gx.bonds().is_empty(), "bonded with a wrong-image member");
}
