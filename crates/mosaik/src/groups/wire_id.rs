//! Peer ids inside a bond: sent once, then named by a one-byte index;
//! validated once per bond.
//!
//! A consensus message names the same few members again and again: its
//! term's owner, the leader, the previous position's term, every entry's
//! term and the committed rank's term. Sent whole, those are 32 bytes
//! each, five of them in a one-entry `AppendEntries` (160 bytes). With
//! B1's 1,280-byte commands that pushed every append past one QUIC packet
//! (1,452 bytes), so each append went as two packets, and the follower's
//! QUIC stack, which acknowledges every second packet at once, answered
//! each with an extra ACK-only packet (issue 18: 7.1 datagrams per commit
//! where the original sends 6).
//!
//! So each direction of a bond keeps a table of the ids it carried: the
//! first time an id goes out it travels whole ([`WireId::New`]) and both
//! ends append it to their tables; after that it travels as its index
//! ([`WireId::Known`], two bytes). The bond is one ordered, reliable
//! stream, so both tables see the same `New`s in the same order and stay
//! equal. A table holds at most [`TABLE`] ids and is never cleared: past
//! that (a peer naming ever new ids) ids travel whole, so a hostile peer
//! costs checks, never memory.
//!
//! A `PeerId` is an ed25519 public key, and decoding one from bytes checks
//! that it is a curve point (a point decompression, tens of microseconds;
//! decoding every id of every message as a `PeerId` was 27.6 % of all CPU
//! of a 64-client B1 run). The reader checks each `New` id once, when it
//! enters its table. The check is not skipped, only remembered: a message
//! naming bytes that are not a curve point, or an index its table does not
//! hold, is refused as a whole (the bond closes, as for any undecodable
//! frame), so no unchecked id ever reaches the engine, the storage, or code
//! that later needs the key (`PublicKey` panics on one it cannot
//! decompress).

use {
    super::messages::{BondMessage, Cmd, RaftMessage},
    crate::{PeerId, primitives::Datum},
    bytes::Bytes,
    core::{convert::Infallible, fmt},
    serde::{Deserialize, Serialize},
};

/// A peer id as it travels inside a bond.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireId {
    /// The id's 32 bytes (not checked to be a curve point until the reader
    /// checks them): its first time on this bond, or any time once the
    /// table is full.
    New([u8; 32]),
    /// The id at this index of the table both ends keep.
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
    /// An index the table does not hold.
    #[error("unknown peer id index {0} in a consensus message")]
    UnknownIndex(u8),
}

/// How many ids one direction of a bond remembers. A group's messages
/// name its members and past leaders only, far fewer than this.
pub(crate) const TABLE: usize = 64;

/// The sending end's table (the writer of one bond).
#[derive(Debug, Default)]
pub(crate) struct IdTable {
    sent: Vec<PeerId>,
}

impl IdTable {
    /// How `id` travels next, entering it in the table if it is new.
    fn wire(&mut self, id: PeerId) -> WireId {
        if let Some(index) = self.sent.iter().position(|k| *k == id) {
            // `TABLE` ≤ 256, so every index fits a byte.
            #[allow(clippy::cast_possible_truncation)]
            return WireId::Known(index as u8);
        }
        if self.sent.len() < TABLE {
            self.sent.push(id);
        }
        WireId::New(*id.as_bytes())
    }

    /// `msg` encoded as it travels. On an error the table is as it was: the
    /// reader never sees the message, so it must not see its `New`s either.
    pub(crate) fn encode<C: Datum + Sync>(
        &mut self,
        msg: &BondMessage<C>,
    ) -> Result<Bytes, crate::primitives::encoding::EncodeError> {
        let BondMessage::Raft(raft) = msg else {
            // No other message names a peer id the table could shorten.
            return msg.encode();
        };
        let mark = self.sent.len();
        let wire: WireRaftMessage<C> = raft
            .clone()
            .try_map_id(&mut |id| Ok::<_, Infallible>(self.wire(id)))
            .unwrap_or_else(|never| match never {});
        let encoded = BondMessage::<C, WireId>::Raft(wire).encode();
        if encoded.is_err() {
            self.rollback(mark);
        }
        encoded
    }

    /// Forgets the ids entered since the table had `mark` of them (a
    /// message encoded but not sent, see `bond::encode_within`).
    pub(crate) fn rollback(&mut self, mark: usize) {
        self.sent.truncate(mark);
    }

    /// How many ids the table holds (a mark for [`IdTable::rollback`]).
    pub(crate) fn mark(&self) -> usize {
        self.sent.len()
    }
}

/// The receiving end's table (the reader of one bond): the ids the peer
/// sent, each checked once.
#[derive(Debug, Default)]
pub(crate) struct PeerIds {
    known: Vec<PeerId>,
}

impl PeerIds {
    /// The `PeerId` behind `id`, checked the first time it is seen.
    pub(crate) fn get(&mut self, id: WireId) -> Result<PeerId, InvalidPeerId> {
        let bytes = match id {
            WireId::Known(index) => {
                return self
                    .known
                    .get(usize::from(index))
                    .copied()
                    .ok_or(InvalidPeerId::UnknownIndex(index));
            }
            WireId::New(bytes) => bytes,
        };
        // An honest sender names a tabled id by its index; a `New` for one
        // only repeats it (and still takes a place, as it did there).
        let checked = match self.known.iter().find(|k| *k.as_bytes() == bytes) {
            Some(known) => *known,
            None => PeerId::from_bytes(&bytes).map_err(|_| InvalidPeerId::NotAPoint(id))?,
        };
        if self.known.len() < TABLE {
            self.known.push(checked);
        }
        Ok(checked)
    }

    /// `msg` with every id checked; the first invalid one fails it whole.
    pub(crate) fn message<C>(
        &mut self,
        msg: WireRaftMessage<C>,
    ) -> Result<RaftMessage<C>, InvalidPeerId> {
        msg.try_map_id(&mut |id| self.get(id))
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

    /// Messages read back equal to what was sent; each id goes whole once
    /// and is checked once, after which messages are 31 bytes per id
    /// shorter.
    #[test]
    fn ids_go_whole_once_then_by_index() {
        let (a, b) = (key(), key());
        let (mut table, mut ids) = (IdTable::default(), PeerIds::default());
        let sent = BondMessage::Raft(append(a, b));
        let first = table.encode(&sent).unwrap();
        let second = table.encode(&sent).unwrap();
        let BondMessage::Raft(want) = sent else {
            unreachable!()
        };
        for bytes in [&first, &second] {
            let got = read(&mut ids, bytes).unwrap();
            assert_eq!(format!("{got:?}"), format!("{want:?}"));
        }
        assert_eq!(ids.known, [a, b], "each distinct id entered once");
        assert_eq!(table.sent, ids.known, "both ends hold the same table");
        // Five ids: two whole (33 bytes each) and three indices (2 bytes)
        // the first time, five indices the second.
        assert_eq!(first.len() - second.len(), 2 * 31);
    }

    /// An encoding that fails leaves the sender's table as it was, so the
    /// next message still names its ids the way the reader can resolve.
    #[test]
    fn a_failed_encoding_enters_no_id() {
        /// Fails to encode.
        #[derive(Debug, Clone)]
        struct Unencodable;
        impl serde::Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("never encodes"))
            }
        }
        impl<'de> serde::Deserialize<'de> for Unencodable {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                Err(serde::de::Error::custom("never decodes"))
            }
        }
        let (a, b) = (key(), key());
        let mut table = IdTable::default();
        let bad: BondMessage<Unencodable> = BondMessage::Raft(Message::AppendEntries {
            term: Term::new(1, a),
            leader: a,
            prev_log_position: Cursor::zero(),
            entries: vec![Entry::command(Term::new(1, b), Cmd::new(Unencodable))],
            leader_commit: Index::new(0),
            rank: CommittedRank::zero(),
            overrule: None,
            seq: 0,
            epoch: 0,
        });
        assert!(table.encode(&bad).is_err());
        assert_eq!(table.mark(), 0, "no id entered");
        let mut ids = PeerIds::default();
        let bytes = table.encode(&BondMessage::Raft(append(b, a))).unwrap();
        assert!(read(&mut ids, &bytes).is_ok());
    }

    /// Bytes that are not a curve point fail the message (no panic), and
    /// are not entered; neither is an index the table does not hold.
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
                pre_vote: false,
            }
        };
        assert_eq!(
            ids.message(vote(WireId::New(bad))).unwrap_err(),
            InvalidPeerId::NotAPoint(WireId::New(bad))
        );
        assert!(ids.known.iter().all(|k| *k.as_bytes() != bad));
        let mut ids = PeerIds::default();
        assert_eq!(
            ids.message(vote(WireId::Known(1))).unwrap_err(),
            InvalidPeerId::UnknownIndex(1),
            "only the term's owner (index 0) was entered"
        );
        assert_eq!(
            ids.message(vote(WireId::Known(0)))
                .unwrap()
                .term()
                .unwrap()
                .owner(),
            Some(good)
        );
    }

    /// Ever new ids never grow either table past its bound, and both ends
    /// keep resolving them once the tables are full.
    #[test]
    fn tables_are_bounded() {
        let (mut table, mut ids) = (IdTable::default(), PeerIds::default());
        for _ in 0..TABLE * 2 {
            let (a, b) = (key(), key());
            let bytes = table.encode(&BondMessage::Raft(append(a, b))).unwrap();
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
            assert!(ids.known.len() <= TABLE && table.sent.len() <= TABLE);
            assert_eq!(table.sent, ids.known);
        }
    }
}
