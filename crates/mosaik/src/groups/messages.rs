//! Wire messages of `/mosaik/groups/1` (SPEC §2.2, §2.4).

use {
    super::LeadershipPreference,
    crate::{
        Digest, GroupId, NetworkId, PeerId,
        discovery::SignedPeerEntry,
        network::Protocol,
        primitives::{Datum, Encoded},
    },
    core::fmt,
    serde::{Deserialize, Deserializer, Serialize, Serializer},
};

/// The bond protocol.
#[derive(Debug)]
pub(crate) struct GroupsProtocol;

impl Protocol for GroupsProtocol {
    const ALPN: &'static [u8] = b"/mosaik/groups/1";
}

/// Beyond the original: how a member takes part, as it announces itself
/// in its handshake and later changes (`BondMessage::Standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Standing {
    /// The preference the receiver's engine should count it with: the
    /// engine must know whether a bonded peer votes (observers do not). A
    /// member catching up after starting with empty storage announces
    /// `Observer`, then its configured preference.
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
    pub(crate) bonds: Vec<SignedPeerEntry>,
    /// Beyond the original: how the sender takes part.
    pub(crate) standing: Standing,
    /// Beyond the original: the sender's own entry, so the receiver knows
    /// which process (incarnation) it bonds with even before gossip brought
    /// a restarted peer's new entry. Fed to discovery like any entry.
    pub(crate) entry: SignedPeerEntry,
}

/// Acceptor → initiator, answer to a valid [`HandshakeStart`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HandshakeEnd {
    pub(crate) proof: Digest,
    pub(crate) bonds: Vec<SignedPeerEntry>,
    /// How the acceptor takes part.
    pub(crate) standing: Standing,
    /// The acceptor's own entry (see [`HandshakeStart::entry`]).
    pub(crate) entry: SignedPeerEntry,
}

/// A replicated command on the wire: the user's [`Datum`] bytes, so custom
/// encodings work. Debug does not print the command (it need not be Debug).
pub(crate) struct Cmd<C>(pub(crate) C);

impl<C: Clone> Clone for Cmd<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> fmt::Debug for Cmd<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cmd(..)")
    }
}

impl<C: Datum> Serialize for Cmd<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.0.encode().map_err(serde::ser::Error::custom)?;
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de, C: Datum> Deserialize<'de> for Cmd<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Encoded::<C>::deserialize(deserializer).map(|e| Self(e.0))
    }
}

/// A consensus message between two members.
pub(crate) type RaftMessage<C> = mosaik_raft::Message<PeerId, Cmd<C>>;

/// Steady-state bond traffic, both directions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "C: Datum", deserialize = "C: Datum"))]
pub(crate) enum BondMessage<C> {
    Ping,
    Pong,
    Departure,
    PeerEntryUpdate(Box<SignedPeerEntry>),
    BondFormed(Box<SignedPeerEntry>),
    Raft(RaftMessage<C>),
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
