//! Wire messages of `/mosaik/groups/1` (SPEC §2.2, §2.4).

pub(crate) use super::command::Cmd;
use {
    super::LeadershipPreference,
    crate::{
        Digest, GroupId, NetworkId, PeerId,
        discovery::{SignedPeerEntry, UnverifiedEntry},
        network::Protocol,
        primitives::Datum,
    },
    core::fmt,
    serde::{Deserialize, Deserializer, Serialize},
};

/// The bond protocol.
#[derive(Debug)]
pub(crate) struct GroupsProtocol;

impl Protocol for GroupsProtocol {
    const ALPN: &'static [u8] = b"/mosaik/groups/1";
    /// Bond traffic is answered (appends by acknowledgements, votes by
    /// votes), and QUIC sends its own acknowledgements as separate packets,
    /// after every second packet at QUIC's default: at one client that was
    /// one extra datagram per commit for each follower and the leader.
    /// Every fourth: B1 at 1 client sends 5.1 datagrams per commit instead
    /// of 6.1. Not more: with every ninth, B1 at 8 clients on one runtime
    /// thread lost 8 % (not profiled; likely a leader whose congestion
    /// window is full waiting for the rarer acknowledgements), see
    /// docs/benchmarks.md.
    const ACK_ELICITING_THRESHOLD: Option<u32> = Some(3);
    /// A `HandshakeStart`: ids, a proof, the sender's entry and at most
    /// [`MAX_HANDSHAKE_BONDS`] entries of its bonds.
    const HANDSHAKE_FRAME_SIZE: usize = 1024 * 1024;
}

/// Most bond entries a handshake carries (they only seed discovery, so the
/// sender sends its first ones and the receiver refuses longer lists
/// before decoding a single entry).
pub(crate) const MAX_HANDSHAKE_BONDS: usize = 64;

/// Beyond the original: how a member takes part, as it announces itself
/// in its handshake and later changes (`BondMessage::Standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Standing {
    /// The preference the receiver's engine should count it with: the
    /// engine must know whether a bonded peer votes (observers do not). A
    /// member catching up after starting with empty storage announces
    /// `Observer` (its configured preference while its engine names a sole
    /// survivor, which it votes for alone), then its configured preference.
    pub(crate) preference: LeadershipPreference,
    /// It holds log entries, so it may hold history an empty member must
    /// not vote against (it stays true). A member that started empty
    /// without anyone to catch up from waits only for voters with history.
    pub(crate) history: bool,
}

/// Initiator → acceptor, first frame of a bond.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HandshakeStart {
    pub(crate) network_id: NetworkId,
    pub(crate) group_id: GroupId,
    pub(crate) proof: Digest,
    pub(crate) bonds: HandshakeBonds,
    /// Beyond the original: how the sender takes part.
    pub(crate) standing: Standing,
    /// Beyond the original: the sender's own entry, so the receiver knows
    /// which process (incarnation) it bonds with even before gossip brought
    /// a restarted peer's new entry. Verified (and fed to discovery) only
    /// after the proof passed.
    pub(crate) entry: UnverifiedEntry,
    /// Beyond the original: the form of the bond messages the sender
    /// speaks ([`BOND_WIRE`]). Last, so a build without the field refuses
    /// this handshake (trailing bytes) and this build refuses theirs (too
    /// short), and members that could misread each other never bond.
    pub(crate) wire: u16,
}

/// The form of bond messages this build speaks, in both handshakes. 3: a
/// contest (`AppendResult::Diverged`) carries the contester's commit records
/// when it cannot locate the split (7 Dec 2026); 2: consensus messages name
/// peer ids by their place in the message (`wire_id.rs`, 6 Dec 2026); 1,
/// without this field: every id whole. A member of another form would misread
/// the messages (ids at the wrong offsets, fields it does not expect), so a
/// handshake naming another form is refused (`InvalidHandshake`).
pub(crate) const BOND_WIRE: u16 = 3;

/// The bond entries of a handshake: at most [`MAX_HANDSHAKE_BONDS`], not
/// verified on decode. A longer list is refused from its length prefix,
/// before one entry is decoded; signatures are checked only once the
/// sender proved it holds the group key (pre-auth amplification: one valid
/// entry replayed thousands of times cost a signature check each).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct HandshakeBonds(pub(crate) Vec<UnverifiedEntry>);

impl HandshakeBonds {
    /// Our bonds as a handshake carries them: the first
    /// [`MAX_HANDSHAKE_BONDS`].
    pub(crate) fn of(entries: Vec<SignedPeerEntry>) -> Self {
        Self(
            entries
                .into_iter()
                .take(MAX_HANDSHAKE_BONDS)
                .map(UnverifiedEntry::from)
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for HandshakeBonds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bounded;
        impl<'de> serde::de::Visitor<'de> for Bounded {
            type Value = HandshakeBonds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {MAX_HANDSHAKE_BONDS} entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<HandshakeBonds, A::Error> {
                // postcard announces the length first: refuse before decoding.
                if seq.size_hint().is_some_and(|n| n > MAX_HANDSHAKE_BONDS) {
                    return Err(serde::de::Error::custom("too many bond entries"));
                }
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element::<UnverifiedEntry>()? {
                    if out.len() == MAX_HANDSHAKE_BONDS {
                        return Err(serde::de::Error::custom("too many bond entries"));
                    }
                    out.push(entry);
                }
                Ok(HandshakeBonds(out))
            }
        }
        deserializer.deserialize_seq(Bounded)
    }
}

/// Acceptor → initiator, answer to a valid [`HandshakeStart`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HandshakeEnd {
    pub(crate) proof: Digest,
    pub(crate) bonds: HandshakeBonds,
    /// How the acceptor takes part.
    pub(crate) standing: Standing,
    /// The acceptor's own entry (see [`HandshakeStart::entry`]), verified
    /// after its proof.
    pub(crate) entry: UnverifiedEntry,
    /// See [`HandshakeStart::wire`].
    pub(crate) wire: u16,
}

/// A consensus message between two members.
pub(crate) type RaftMessage<C> = mosaik_raft::Message<PeerId, Cmd<C>>;

/// Steady-state bond traffic, both directions. Queued with `PeerId`s; a
/// consensus message travels with `Id` = [`WireId`](super::wire_id::WireId)
/// (each id whole the first time the message names it, then by its place
/// among the message's ids), and the reader checks each id once per bond
/// (`wire_id.rs`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "C: Datum, Id: Serialize",
    deserialize = "C: Datum, Id: Deserialize<'de>"
))]
pub(crate) enum BondMessage<C, Id = PeerId> {
    Ping,
    Pong,
    Departure,
    PeerEntryUpdate(Box<SignedPeerEntry>),
    BondFormed(Box<SignedPeerEntry>),
    Raft(mosaik_raft::Message<Id, Cmd<C>>),
    /// State sync (snapshot transfer).
    Sync(super::sync::wire::SyncMessage),
    /// A message of the machine's state-sync strategy (its provider and
    /// session), encoded by the strategy's `Message` type.
    StateSync(bytes::Bytes),
    /// Beyond the original: the sender's standing changed since its
    /// handshake (a member that started with empty storage announces
    /// `Observer` until it caught up, then its configured preference; and
    /// when it first holds log entries). The receiver feeds the preference
    /// to its engine as a repeated `PeerBonded`.
    Standing(Standing),
}

/// The bond protocol's decoders under fuzzing (see `crate::fuzzing`):
/// handshakes, bond messages (Raft ones included) and state sync.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) const FUZZ_TARGETS: &[crate::fuzzing::Target] = {
    use {
        super::sync::wire::{SnapshotInfo, SyncMessage},
        crate::fuzzing::{Target, decodes, enc, entry},
        mosaik_raft::{CommittedRank, Cursor, Forward, Index, Message, Term, Vote},
    };
    const STANDING: Standing = Standing {
        preference: LeadershipPreference::Normal,
        history: true,
    };
    fn bonds() -> HandshakeBonds {
        HandshakeBonds::of(vec![entry("n"), entry("n")])
    }
    fn anchor() -> Cursor<PeerId> {
        let key = iroh::SecretKey::from_bytes(&[3; 32]).public();
        Cursor {
            term: Term::new(3, key),
            index: Index::new(9),
        }
    }
    fn sync() -> Vec<SyncMessage> {
        let anchor = anchor();
        vec![
            SyncMessage::Query {
                base: Index::new(1),
            },
            SyncMessage::Offer {
                snapshots: vec![
                    SnapshotInfo {
                        anchor,
                        items: 5,
                        digest: Some(crate::primitives::Digest::hash(b"five items")),
                    },
                    SnapshotInfo {
                        anchor,
                        items: 5,
                        digest: None,
                    },
                ],
            },
            SyncMessage::Digest { anchor },
            SyncMessage::Fetch {
                anchor,
                range: 0..5,
            },
            SyncMessage::Data {
                anchor,
                offset: 0,
                items: vec![bytes::Bytes::from_static(b"item")],
            },
        ]
    }
    fn raft() -> Vec<RaftMessage<i64>> {
        let anchor = anchor();
        let rank = CommittedRank {
            weight: 1,
            commit: anchor,
        };
        vec![
            Message::RequestVote {
                term: anchor.term,
                candidate: iroh::SecretKey::from_bytes(&[3; 32]).public(),
                log_position: anchor,
                rank,
                records: vec![(anchor, 2)],
                pre_vote: true,
            },
            Message::RequestVoteResponse {
                term: anchor.term,
                vote: Vote::Granted,
                pre_vote: false,
            },
            Message::AppendEntriesResponse {
                term: anchor.term,
                seq: 3,
                result: mosaik_raft::AppendResult::Diverged {
                    rank,
                    conflict: anchor.index,
                    records: vec![(anchor, 2), (anchor, 1)],
                },
                vote: Vote::Granted,
                epoch: 0,
            },
            Message::Forward(Forward::Command {
                request_id: 1,
                commands: vec![Cmd::new(5)],
            }),
            Message::Forward(Forward::Read { request_id: 2 }),
        ]
    }
    &[
        Target {
            name: "handshake_start",
            decode: decodes::<HandshakeStart>,
            seeds: || {
                vec![enc(&HandshakeStart {
                    network_id: NetworkId::from("n"),
                    group_id: GroupId::from("g"),
                    proof: Digest::from("p"),
                    bonds: bonds(),
                    standing: STANDING,
                    entry: entry("n").into(),
                    wire: BOND_WIRE,
                })]
            },
        },
        Target {
            name: "handshake_end",
            decode: decodes::<HandshakeEnd>,
            seeds: || {
                vec![enc(&HandshakeEnd {
                    proof: Digest::from("p"),
                    bonds: bonds(),
                    standing: STANDING,
                    entry: entry("n").into(),
                    wire: BOND_WIRE,
                })]
            },
        },
        Target {
            name: "sync_message",
            decode: decodes::<SyncMessage>,
            seeds: || sync().iter().map(enc).collect(),
        },
        Target {
            name: "bond_message",
            // As the bond reader decodes them (`wire_id.rs`).
            decode: decodes::<BondMessage<i64, super::wire_id::WireId>>,
            seeds: || {
                let mut bond: Vec<BondMessage<i64>> = vec![
                    BondMessage::Ping,
                    BondMessage::Pong,
                    BondMessage::Departure,
                    BondMessage::PeerEntryUpdate(Box::new(entry("n"))),
                    BondMessage::BondFormed(Box::new(entry("n"))),
                    BondMessage::StateSync(bytes::Bytes::from_static(b"strategy")),
                    BondMessage::Standing(STANDING),
                ];
                bond.extend(sync().into_iter().map(BondMessage::Sync));
                bond.extend(raft().into_iter().map(BondMessage::Raft));
                // As the bond writer encodes them.
                bond.iter()
                    .map(|msg| {
                        super::wire_id::encode(msg)
                            .expect("a seed encodes")
                            .to_vec()
                    })
                    .collect()
            },
        },
    ]
};

#[cfg(test)]
mod tests {
    use {
        super::{
            super::wire_id::{PeerIds, WireId},
            *,
        },
        crate::{
            network::fuzz::{fuzz, fuzz_all},
            primitives::encoding,
        },
    };

    fn entry() -> SignedPeerEntry {
        let key = iroh::SecretKey::generate();
        crate::discovery::PeerEntry::new(NetworkId::from("n"), key.public().into())
            .sign(&key)
            .unwrap()
    }

    /// A member built before the bond form was named (form 1) and one
    /// built after never bond: each refuses the other's handshakes when
    /// decoding them, so neither reads the other's consensus messages.
    #[test]
    fn handshakes_of_the_other_bond_form_are_refused() {
        /// `HandshakeStart` of form 1.
        #[derive(Serialize, Deserialize)]
        struct StartOne {
            network_id: NetworkId,
            group_id: GroupId,
            proof: Digest,
            bonds: HandshakeBonds,
            standing: Standing,
            entry: UnverifiedEntry,
        }
        /// `HandshakeEnd` of form 1.
        #[derive(Serialize, Deserialize)]
        struct EndOne {
            proof: Digest,
            bonds: HandshakeBonds,
            standing: Standing,
            entry: UnverifiedEntry,
        }
        let standing = Standing {
            preference: LeadershipPreference::Normal,
            history: true,
        };
        let start = HandshakeStart {
            network_id: NetworkId::from("n"),
            group_id: GroupId::from("g"),
            proof: Digest::from("p"),
            bonds: HandshakeBonds::of(vec![entry()]),
            standing,
            entry: entry().into(),
            wire: BOND_WIRE,
        };
        // The same handshake as form 1 sends it: every field but `wire`.
        let start_one = StartOne {
            network_id: start.network_id,
            group_id: start.group_id,
            proof: start.proof,
            bonds: start.bonds.clone(),
            standing,
            entry: start.entry.clone(),
        };
        let end = HandshakeEnd {
            proof: Digest::from("p"),
            bonds: HandshakeBonds::of(vec![]),
            standing,
            entry: entry().into(),
            wire: BOND_WIRE,
        };
        let end_one = EndOne {
            proof: end.proof,
            bonds: end.bonds.clone(),
            standing,
            entry: end.entry.clone(),
        };
        let (start, start_one) = (encoding::serialize(&start), encoding::serialize(&start_one));
        let (end, end_one) = (encoding::serialize(&end), encoding::serialize(&end_one));
        assert!(encoding::deserialize::<HandshakeStart>(&start).is_ok());
        assert!(encoding::deserialize::<HandshakeEnd>(&end).is_ok());
        assert!(
            encoding::deserialize::<StartOne>(&start).is_err(),
            "form 1 reads ours"
        );
        assert!(
            encoding::deserialize::<HandshakeStart>(&start_one).is_err(),
            "we read form 1"
        );
        assert!(
            encoding::deserialize::<EndOne>(&end).is_err(),
            "form 1 reads our answer"
        );
        assert!(
            encoding::deserialize::<HandshakeEnd>(&end_one).is_err(),
            "we read its answer"
        );
    }

    #[test]
    fn handshake_bonds_are_capped_and_sent_capped() {
        let one = entry();
        let many = vec![one.clone(); MAX_HANDSHAKE_BONDS + 1];
        // The sender sends its first ones only.
        let sent = HandshakeBonds::of(many.clone());
        assert_eq!(sent.0.len(), MAX_HANDSHAKE_BONDS);
        let back: HandshakeBonds = encoding::deserialize(&encoding::serialize(&sent)).unwrap();
        assert_eq!(back.0.len(), MAX_HANDSHAKE_BONDS);
        // A longer list (the same valid entry replayed) is refused whole.
        let raw: Vec<UnverifiedEntry> = many.into_iter().map(Into::into).collect();
        assert!(encoding::deserialize::<HandshakeBonds>(&encoding::serialize(&raw)).is_err());
        // A length prefix far beyond the cap with no entries behind it: refused
        // from the prefix (postcard varint 1_000_000).
        let prefix = encoding::serialize(&1_000_000u32);
        assert!(encoding::deserialize::<HandshakeBonds>(&prefix).is_err());
    }

    #[test]
    fn groups_decoders() {
        fuzz_all(FUZZ_TARGETS);
        // The reader's way: plain ids first, each checked after the decode
        // (a mutated id that is no curve point must fail, not panic).
        let bond_seeds = FUZZ_TARGETS
            .iter()
            .find(|t| t.name == "bond_message")
            .map(|t| (t.seeds)())
            .expect("a bond_message target");
        fuzz(
            "bond_message_wire_ids",
            &bond_seeds,
            |bytes| match encoding::deserialize::<BondMessage<i64, WireId>>(bytes) {
                Ok(BondMessage::Raft(msg)) => PeerIds::default().message(msg).is_ok(),
                Ok(_) => true,
                Err(_) => false,
            },
        );
    }
}
