//! Roles and access: readers are observers (never lead, never count toward
//! quorum), handles of one store on one node share live state, tickets and
//! secrets gate membership.

use {
    crate::util::{cluster, config, within},
    core::time::Duration,
    mosaik::{
        UniqueId,
        collections::{Map, MapReader, MapWriter},
        discovery::PeerEntry,
        tickets::{Expiration, InvalidTicket, Ticket, TicketClass, TicketValidator},
    },
};

#[tokio::test]
async fn readers_alone_never_lead_and_do_not_count_toward_quorum() {
    let nodes = cluster("coll-roles", 3).await;
    let r1 = MapReader::<u64, u64>::reader_with_config(&nodes[1], "roles", config());
    let r2 = MapReader::<u64, u64>::reader_with_config(&nodes[2], "roles", config());
    // Well past bootstrap delay and election timeouts: observers never
    // nominate themselves, so the store stays offline.
    let offline = tokio::time::timeout(Duration::from_secs(3), r1.when().online()).await;
    assert!(offline.is_err(), "a store with only readers has no leader");

    let writer = MapWriter::<u64, u64>::writer_with_config(&nodes[0], "roles", config());
    within("writer online", writer.when().online()).await;
    let v = within("write", writer.insert(1, 1)).await.unwrap();
    within("r1 reaches", r1.when().reaches(v)).await;
    within("r2 reaches", r2.when().reaches(v)).await;

    // A reader leaves: the lone writer keeps committing (it is the whole
    // quorum), and the remaining reader keeps replicating.
    drop(r2);
    for i in 2..6 {
        let v = within("write after a reader left", writer.insert(i, i))
            .await
            .unwrap();
        within("r1 reaches", r1.when().reaches(v)).await;
    }
    assert_eq!(r1.len(), 5);
}

#[tokio::test]
async fn a_reader_and_a_writer_on_one_node_share_live_state() {
    let nodes = cluster("coll-shared", 2).await;
    // Reader first: the node joins as an observer, then upgrades to a
    // writer when the writer opens (else this lone node could never lead).
    let reader = MapReader::<u64, u64>::reader_with_config(&nodes[0], "shared", config());
    let writer = MapWriter::<u64, u64>::writer_with_config(&nodes[0], "shared", config());
    within("online", writer.when().online()).await;
    within("reader online", reader.when().online()).await;
    let v = within("write", writer.insert(1, 10)).await.unwrap();
    assert_eq!(
        reader.get(&1),
        Some(10),
        "the local reader sees the write at once"
    );
    assert_eq!(reader.version(), v);

    // Two writers on another node share one replica too.
    let w1 = MapWriter::<u64, u64>::writer_with_config(&nodes[1], "shared", config());
    let w2 = Map::<u64, u64>::new_with_config(&nodes[1], "shared", config());
    within("w1 reaches", w1.when().reaches(v)).await;
    let v = within("w2 write", w2.insert(2, 20)).await.unwrap();
    assert_eq!(w1.get(&2), Some(20));
    within("reader reaches", reader.when().reaches(v)).await;
    assert_eq!(reader.get(&2), Some(20));
    // Dropping one of them leaves the other working.
    drop(w1);
    let v = within("w2 again", w2.insert(3, 30)).await.unwrap();
    within("reader reaches", reader.when().reaches(v)).await;
    assert_eq!(reader.len(), 3);
}

/// Accepts tickets whose bytes are `ok`.
pub struct Okay(pub TicketClass);

impl TicketValidator for Okay {
    fn class(&self) -> TicketClass {
        self.0
    }
    fn signature(&self) -> UniqueId {
        self.0.derive("okay-v1")
    }
    fn validate(&self, ticket: &[u8], _: &PeerEntry) -> Result<Expiration, InvalidTicket> {
        if ticket == b"ok" {
            Ok(Expiration::Never)
        } else {
            Err(InvalidTicket::new("not ok"))
        }
    }
}

#[tokio::test]
async fn tickets_gate_membership() {
    let nodes = cluster("coll-tickets", 3).await;
    let class = TicketClass::from("coll-test-ticket");
    for n in &nodes[..2] {
        n.discovery()
            .add_ticket(Ticket::new(class, mosaik::Bytes::from_static(b"ok")));
    }
    let guarded = || config().require_ticket(Okay(class));
    let writer = MapWriter::<u64, u64>::writer_with_config(&nodes[0], "tickets", guarded());
    let member = MapReader::<u64, u64>::reader_with_config(&nodes[1], "tickets", guarded());
    let outsider = MapReader::<u64, u64>::reader_with_config(&nodes[2], "tickets", guarded());
    within("online", writer.when().online()).await;
    let v = within("write", writer.insert(1, 1)).await.unwrap();
    within("member reaches", member.when().reaches(v)).await;
    assert_eq!(member.get(&1), Some(1));
    // The member is in sync while the outsider (no ticket) is not.
    let shut_out = tokio::time::timeout(Duration::from_secs(2), outsider.when().reaches(v)).await;
    assert!(
        shut_out.is_err(),
        "a node without a ticket never replicates"
    );
    assert!(outsider.is_empty());
}

#[tokio::test]
async fn a_secret_makes_a_store_private() {
    let nodes = cluster("coll-secret", 2).await;
    let secret = || config().with_secret("s3cret");
    let writer = MapWriter::<u64, u64>::writer_with_config(&nodes[0], "private", secret());
    let insider = MapReader::<u64, u64>::reader_with_config(&nodes[1], "private", secret());
    let outsider = MapReader::<u64, u64>::reader_with_config(&nodes[1], "private", config());
    assert_ne!(insider.group_id(), outsider.group_id());
    within("online", writer.when().online()).await;
    let v = within("write", writer.insert(7, 7)).await.unwrap();
    within("insider reaches", insider.when().reaches(v)).await;
    assert_eq!(insider.get(&7), Some(7));
    assert!(outsider.is_empty());
}
