//! Convergence, isolation, propagation of local changes.

use {
    crate::util::{cluster, converged, fast, node, until},
    mosaik::{Tag, TicketClass, tickets::Ticket},
};

#[tokio::test]
async fn ten_nodes_converge_from_one_bootstrap_peer() {
    let nodes = cluster("disc-ten", 10).await;
    let took = converged(&nodes).await;
    eprintln!("10 nodes converged in {took:?}");
}

#[tokio::test]
async fn different_networks_stay_isolated() {
    let a = node("disc-iso-a", fast()).await;
    let b = node("disc-iso-b", fast()).await;
    // An explicit exchange completes, but neither side accepts the other.
    b.discovery().sync_with(a.local().addr()).await.unwrap();
    assert_eq!(a.discovery().catalog().signed_peers_count(), 0);
    assert_eq!(b.discovery().catalog().signed_peers_count(), 0);
    // Feeding a foreign entry directly is refused too.
    assert!(!a.discovery().feed(b.discovery().me()));
}

#[tokio::test]
async fn unsigned_inserts_stay_local_and_sync_replaces_them() {
    let a = node("disc-unsigned", fast()).await;
    let b = node("disc-unsigned", fast()).await;
    let c = node("disc-unsigned", fast()).await;
    assert!(a.discovery().insert(b.discovery().me().into_unsigned()));
    let cat = a.discovery().catalog();
    assert_eq!(cat.unsigned_peers().count(), 1);
    assert!(cat.get(&b.local().id()).is_some());
    // Unsigned entries for ourselves are refused.
    assert!(!a.discovery().insert(a.discovery().me().into_unsigned()));

    // C syncs with A: it must not learn B from A's unsigned entry.
    c.discovery().sync_with(a.local().addr()).await.unwrap();
    let cat = c.discovery().catalog();
    assert!(
        cat.get(&b.local().id()).is_none(),
        "unsigned entries must stay local"
    );

    // A syncs with B: the signed entry replaces the unsigned one.
    a.discovery().sync_with(b.local().addr()).await.unwrap();
    let cat = a.discovery().catalog();
    assert!(cat.get_signed(&b.local().id()).is_some());
    assert_eq!(cat.unsigned_peers().count(), 0);
}

#[tokio::test]
async fn tag_and_ticket_changes_reach_every_peer() {
    let nodes = cluster("disc-tags", 4).await;
    converged(&nodes).await;
    let changer = nodes[2].local().id();
    let ticket = Ticket::new(
        TicketClass::from("test-class"),
        mosaik::Bytes::from_static(b"credential"),
    );
    nodes[2].discovery().add_tags([Tag::from("matcher")]);
    nodes[2].discovery().add_ticket(ticket.clone());
    for net in &nodes {
        until(net, |c| {
            c.get_signed(&changer).is_some_and(|e| {
                e.tags().contains(&Tag::from("matcher")) && e.tickets().contains_key(&ticket.id())
            })
        })
        .await;
    }
    nodes[2].discovery().remove_tags([Tag::from("matcher")]);
    for net in &nodes {
        until(net, |c| {
            c.get_signed(&changer)
                .is_some_and(|e| !e.tags().contains(&Tag::from("matcher")))
        })
        .await;
    }
}
