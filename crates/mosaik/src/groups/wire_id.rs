//! Peer ids inside a bond: decoded as plain bytes, validated once per bond.
//!
//! A `PeerId` is an ed25519 public key, and decoding one from bytes checks
//! that it is a curve point (a point decompression, tens of microseconds).
//! A consensus message names the same few members again and again: its
//! term's owner, the leader, the previous position's term and every
//! entry's term. Decoding them all as `PeerId`s was 27.6 % of all CPU of a
//! 64-client B1 run (issue 18). The bond reader decodes them as [`WireId`]s
//! (the same 32 bytes on the wire, no check) and turns them into `PeerId`s
//! through its bond's [`PeerIds`], which checks each distinct id once.
//!
//! The check is not skipped, only remembered: a message naming bytes that
//! are not a curve point is refused as a whole (the bond closes, as for
//! any undecodable frame), so no unchecked id ever reaches the engine, the
//! storage, or code that later needs the key (`PublicKey` panics on one it
//! cannot decompress).

use {
    super::messages::{Cmd, RaftMessage},
    crate::PeerId,
    core::fmt,
    serde::{Deserialize, Serialize},
};

/// A peer id as it travels: its 32 bytes, not checked to be a curve point.
/// Encodes exactly as a `PeerId` does in postcard (32 raw bytes).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireId([u8; 32]);

impl fmt::Debug for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireId(")?;
        for byte in &self.0[..5] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// A consensus message as the bond reader decodes it.
pub(crate) type WireRaftMessage<C> = mosaik_raft::Message<WireId, Cmd<C>>;

/// Bytes that are not a valid peer id (not a curve point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid peer id {0:?} in a consensus message")]
pub(crate) struct InvalidPeerId(WireId);

/// How many checked ids a bond remembers. A group's messages name its
/// members and past leaders only; past this (a peer naming ever new ids)
/// the memory starts over, so a hostile peer costs checks, never memory.
const REMEMBERED: usize = 32;

/// One bond's checked ids (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct PeerIds {
    /// Few entries: a linear search over them beats hashing 32 bytes.
    known: Vec<PeerId>,
}

impl PeerIds {
    /// The `PeerId` behind `id`, checked the first time it is seen.
    pub(crate) fn get(&mut self, id: WireId) -> Result<PeerId, InvalidPeerId> {
        if let Some(known) = self.known.iter().find(|k| *k.as_bytes() == id.0) {
            return Ok(*known);
        }
        let checked = PeerId::from_bytes(&id.0).map_err(|_| InvalidPeerId(id))?;
        if self.known.len() == REMEMBERED {
            self.known.clear();
        }
        self.known.push(checked);
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
        super::{super::messages::BondMessage, *},
        crate::primitives::Datum,
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

    /// The sender encodes `PeerId`s, the reader decodes `WireId`s: same
    /// bytes, and the checked message equals the one sent.
    #[test]
    fn wire_ids_decode_what_peer_ids_encode() {
        let (a, b) = (key(), key());
        let sent: BondMessage<Vec<u8>> = BondMessage::Raft(append(a, b));
        let bytes = sent.encode().unwrap();
        let BondMessage::Raft(wire) = BondMessage::<Vec<u8>, WireId>::decode(&bytes).unwrap()
        else {
            panic!("not a consensus message");
        };
        let mut ids = PeerIds::default();
        let got = ids.message(wire).unwrap();
        let BondMessage::Raft(want) = sent else {
            unreachable!()
        };
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        assert_eq!(ids.known.len(), 2, "each distinct id checked once");
        assert_eq!(
            WireId(*a.as_bytes()).encode().unwrap(),
            a.encode().unwrap(),
            "same encoding"
        );
    }

    /// Bytes that are not a curve point fail the message (no panic), and
    /// are not remembered.
    #[test]
    fn an_invalid_point_is_refused() {
        // Find 32 bytes that do not decompress (about half of all do not).
        let bad = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| PeerId::from_bytes(bytes).is_err())
            .expect("some byte pattern is not a point");
        let good = key();
        let mut ids = PeerIds::default();
        let msg: WireRaftMessage<Vec<u8>> = Message::RequestVote {
            term: Term::new(1, WireId(*good.as_bytes())),
            candidate: WireId(bad),
            log_position: Cursor::zero(),
            rank: CommittedRank::zero(),
            pre_vote: false,
        };
        assert_eq!(ids.message(msg).unwrap_err(), InvalidPeerId(WireId(bad)));
        assert!(ids.known.iter().all(|k| *k.as_bytes() != bad));
    }

    /// Ever new ids never grow the memory past its bound.
    #[test]
    fn memory_is_bounded() {
        let mut ids = PeerIds::default();
        for _ in 0..REMEMBERED * 3 {
            let id = key();
            assert_eq!(ids.get(WireId(*id.as_bytes())), Ok(id));
            assert!(ids.known.len() <= REMEMBERED);
        }
    }
}
