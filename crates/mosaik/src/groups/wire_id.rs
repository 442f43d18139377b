//! Peer ids inside a bond: each named whole once per message, then by a
//! one-byte index; each checked once per bond.
//!
//! A consensus message names the same few members again and again: its
//! term's owner, the leader, the previous position's term, every entry's
//! term and the committed rank's term. Sent whole, those are 32 bytes
//! each, five of them in a one-entry `AppendEntries` (160 bytes, all
//! usually the leader). With B1's 1,280-byte commands that pushed every
//! append past one QUIC packet (1,452 bytes): each went as two packets,
//! and the follower's QUIC stack, which acknowledges every second packet
//! at once, answered each with an extra ACK-only packet (issue 18: 7.1
//! datagrams per commit where the original sends 6).
//!
//! So a message carries each distinct id whole the first time it names it
//! ([`WireId::New`], 33 bytes) and by its place among the message's
//! distinct ids after that ([`WireId::Known`], 2 bytes): 41 bytes instead
//! of 160 for that append. The table belongs to one message, not to the
//! bond: the simulator's consensus messages may be lost, duplicated and
//! reordered (as the engine tolerates), and a table shared by a bond's
//! messages would then name the wrong peers.
//!
//! A `PeerId` is an ed25519 public key, and decoding one from bytes checks
//! that it is a curve point (a point decompression, tens of microseconds;
//! decoding every id of every message as a `PeerId` was 27.6 % of all CPU
//! of a 64-client B1 run). The reader checks each whole id once per bond
//! and remembers it ([`PeerIds`]). The check is not skipped, only
//! remembered: a message naming bytes that are not a curve point, or an
//! index its table does not hold, is refused as a whole (the bond closes,
//! as for any undecodable frame), so no unchecked id ever reaches the
//! engine, the storage, or code that later needs the key (`PublicKey`
//! panics on one it cannot decompress).

use {
    super::messages::{BondMessage, Cmd, RaftMessage},
    crate::{PeerId, primitives::Datum},
    bytes::Bytes,
    core::{convert::Infallible, fmt},
    serde::{Deserialize, Serialize},
};

/// A peer id as it travels inside a consensus message.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireId {
    /// The id's 32 bytes (not checked to be a curve point until the reader
    /// checks them): its first time in this message, or any time once the
    /// message's table is full.
    New([u8; 32]),
    /// The id at this place of the message's table: its distinct ids in the
    /// order they first appear.
    Known(u8),
}

impl fmt::Debug for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::New(bytes) => {
                write!(f, "New(")?;
                for byte in &bytes[..5] {
                    write!(f, "{byte:02x}")?;
                }
                write!(f, ")")
            }
            Self::Known(index) => write!(f, "Known({index})"),
        }
    }
}

/// A consensus message as it travels.
pub(crate) type WireRaftMessage<C> = mosaik_raft::Message<WireId, Cmd<C>>;

/// Why the ids of a received message were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidPeerId {
    /// Bytes that are not a valid peer id (not a curve point).
    #[error("invalid peer id {0:?} in a consensus message")]
    NotAPoint(WireId),
    /// An index the message's table does not hold.
    #[error("unknown peer id index {0} in a consensus message")]
    UnknownIndex(u8),
}

/// How many distinct ids one message's table holds: every index fits a
/// byte. A message names more only if its entries come from more than this
/// many leaders' terms; those ids travel whole.
const TABLE: usize = 256;

/// One message's table, as both ends build it.
#[derive(Debug, Default)]
struct Table(Vec<PeerId>);

impl Table {
    /// The place of `id`, or `None` after entering it (if there is room).
    fn place(&mut self, id: PeerId) -> Option<u8> {
        if let Some(index) = self.0.iter().position(|k| k.as_bytes() == id.as_bytes()) {
            return u8::try_from(index).ok();
        }
        if self.0.len() < TABLE {
            self.0.push(id);
        }
        None
    }
}

/// `msg` encoded as it travels: a consensus message with its ids tabled.
pub(crate) fn encode<C: Datum + Sync>(
    msg: &BondMessage<C>,
) -> Result<Bytes, crate::primitives::encoding::EncodeError> {
    let BondMessage::Raft(raft) = msg else {
        // No other message names a peer id a table could shorten.
        return msg.encode();
    };
    let mut table = Table::default();
    let wire: WireRaftMessage<C> = raft
        .clone()
        .try_map_id(&mut |id| {
            Ok::<_, Infallible>(match table.place(id) {
                Some(index) => WireId::Known(index),
                None => WireId::New(*id.as_bytes()),
            })
        })
        .unwrap_or_else(|never| match never {});
    BondMessage::<C, WireId>::Raft(wire).encode()
}

/// How many checked ids a bond remembers. A group's messages name its
/// members and past leaders only; past this (a peer naming ever new ids)
/// the memory starts over, so a hostile peer costs checks, never memory.
const REMEMBERED: usize = 32;

/// The receiving end of one bond: the ids it checked.
#[derive(Debug, Default)]
pub(crate) struct PeerIds {
    /// Few entries: a linear search over them beats hashing 32 bytes.
    checked: Vec<PeerId>,
}

impl PeerIds {
    /// The `PeerId` behind `bytes`, checked the first time they are seen.
    fn check(&mut self, bytes: [u8; 32]) -> Result<PeerId, InvalidPeerId> {
        if let Some(known) = self.checked.iter().find(|k| *k.as_bytes() == bytes) {
            return Ok(*known);
        }
        let checked =
            PeerId::from_bytes(&bytes).map_err(|_| InvalidPeerId::NotAPoint(WireId::New(bytes)))?;
        if self.checked.len() == REMEMBERED {
            self.checked.clear();
        }
        self.checked.push(checked);
        Ok(checked)
    }

    /// `msg` with every id resolved and checked; the first invalid one
    /// fails it whole.
    pub(crate) fn message<C>(
        &mut self,
        msg: WireRaftMessage<C>,
    ) -> Result<RaftMessage<C>, InvalidPeerId> {
        let mut table = Table::default();
        msg.try_map_id(&mut |id| match id {
            WireId::Known(index) => table
                .0
                .get(usize::from(index))
                .copied()
                .ok_or(InvalidPeerId::UnknownIndex(index)),
            WireId::New(bytes) => {
                let id = self.check(bytes)?;
                // Entered as the sender entered it: a repeated `New` (which
                // an honest sender never sends) takes no second place.
                table.place(id);
                Ok(id)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        mosaik_raft::{CommittedRank, Cursor, Entry, Index, Message, Term},
    };

    fn append(leader: PeerId, other: PeerId) -> RaftMessage<Vec<u8>> {
        Message::AppendEntries {
            term: Term::new(3, leader),
            leader,
            prev_log_position: Cursor::new(Term::new(2, other), Index::new(4)),
            entries: vec![
                Entry::command(Term::new(2, other), Cmd::new(vec![1, 2, 3])),
                Entry::command(Term::new(3, leader), Cmd::new(vec![4])),
            ],
            leader_commit: Index::new(4),
            rank: CommittedRank::zero(),
            overrule: None,
            seq: 9,
            epoch: 0,
        }
    }

    fn key() -> PeerId {
        iroh::SecretKey::generate().public()
    }

    /// What the reader makes of `bytes`.
    fn read(ids: &mut PeerIds, bytes: &[u8]) -> Result<RaftMessage<Vec<u8>>, InvalidPeerId> {
        let BondMessage::Raft(wire) = BondMessage::<Vec<u8>, WireId>::decode(bytes).unwrap() else {
            panic!("not a consensus message");
        };
        ids.message(wire)
    }

    /// A message reads back equal to what was sent, in any order and any
    /// number of times (the simulator loses, repeats and reorders them);
    /// each distinct id goes whole once per message and is checked once
    /// per bond.
    #[test]
    fn messages_read_back_in_any_order() {
        let (a, b) = (key(), key());
        let first = BondMessage::Raft(append(a, b));
        let second = BondMessage::Raft(append(b, a));
        let bytes = [encode(&first).unwrap(), encode(&second).unwrap()];
        let mut ids = PeerIds::default();
        for (n, sent) in [(1, &second), (0, &first), (0, &first), (1, &second)] {
            let BondMessage::Raft(want) = sent else {
                unreachable!()
            };
            let got = read(&mut ids, &bytes[n]).unwrap();
            assert_eq!(format!("{got:?}"), format!("{want:?}"));
        }
        assert_eq!(ids.checked, [b, a], "each distinct id checked once");
        // Five ids, two distinct: 2 × 33 + 3 × 2 bytes against 5 × 32.
        let whole = BondMessage::<Vec<u8>>::Raft(append(a, b)).encode().unwrap();
        assert_eq!(whole.len() - bytes[0].len(), 5 * 32 - (2 * 33 + 3 * 2));
    }

    /// Bytes that are not a curve point fail the message (no panic), and
    /// are not remembered; neither passes an index the message's table
    /// does not hold.
    #[test]
    fn an_invalid_point_or_index_is_refused() {
        // Find 32 bytes that do not decompress (about half of all do not).
        let bad = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| PeerId::from_bytes(bytes).is_err())
            .expect("some byte pattern is not a point");
        let good = key();
        let mut ids = PeerIds::default();
        let vote = |candidate| -> WireRaftMessage<Vec<u8>> {
            Message::RequestVote {
                term: Term::new(1, WireId::New(*good.as_bytes())),
                candidate,
                log_position: Cursor::zero(),
                rank: CommittedRank::zero(),
                records: Vec::new(),
                pre_vote: false,
            }
        };
        assert_eq!(
            ids.message(vote(WireId::New(bad))).unwrap_err(),
            InvalidPeerId::NotAPoint(WireId::New(bad))
        );
        assert!(ids.checked.iter().all(|k| *k.as_bytes() != bad));
        assert_eq!(
            ids.message(vote(WireId::Known(1))).unwrap_err(),
            InvalidPeerId::UnknownIndex(1),
            "only the term's owner (place 0) is in the table"
        );
        let Message::RequestVote { candidate, .. } = ids.message(vote(WireId::Known(0))).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(candidate, good);
    }

    /// Ever new ids never grow the bond's memory past its bound.
    #[test]
    fn memory_is_bounded() {
        let mut ids = PeerIds::default();
        for _ in 0..REMEMBERED * 3 {
            let (a, b) = (key(), key());
            let bytes = encode(&BondMessage::Raft(append(a, b))).unwrap();
            let Message::AppendEntries {
                term,
                prev_log_position,
                ..
            } = read(&mut ids, &bytes).unwrap()
            else {
                unreachable!()
            };
            assert_eq!(
                (term.owner(), prev_log_position.term.owner()),
                (Some(a), Some(b))
            );
            assert!(ids.checked.len() <= REMEMBERED);
        }
    }

    /// A message naming more distinct ids than a table holds names the
    /// rest whole, and still reads back.
    #[test]
    fn ids_past_the_table_travel_whole() {
        let leader = key();
        let owners: Vec<PeerId> = (0..TABLE + 3).map(|_| key()).collect();
        let entries = owners
            .iter()
            .map(|owner| Entry::command(Term::new(1, *owner), Cmd::new(vec![0])))
            .collect();
        let sent: RaftMessage<Vec<u8>> = Message::AppendEntries {
            term: Term::new(2, leader),
            leader,
            prev_log_position: Cursor::zero(),
            entries,
            leader_commit: Index::new(0),
            rank: CommittedRank::zero(),
            overrule: None,
            seq: 1,
            epoch: 0,
        };
        let bytes = encode(&BondMessage::Raft(sent.clone())).unwrap();
        let got = read(&mut PeerIds::default(), &bytes).unwrap();
        assert_eq!(format!("{got:?}"), format!("{sent:?}"));
    }
}
