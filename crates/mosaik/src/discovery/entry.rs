//! Peer entries: what a node says about itself, and its signed form.

use {
    crate::{
        PeerId,
        primitives::{Digest, GroupId, NetworkId, StreamId, Tag, TicketClass, UniqueId, encoding},
        tickets::Ticket,
    },
    chrono::{DateTime, TimeZone, Utc},
    core::{ops::Deref, time::Duration},
    iroh::{EndpointAddr, SecretKey, Signature},
    serde::{Deserialize, Deserializer, Serialize},
    std::collections::{BTreeMap, BTreeSet},
};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Version of a peer entry: `(started_at_ms, counter_ms)`, ordered
/// lexicographically. A restarted process starts later, so its entries
/// always win over those of its previous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerEntryVersion(pub i64, pub i64);

impl Default for PeerEntryVersion {
    fn default() -> Self {
        let now = now_ms();
        Self(now, now)
    }
}

impl PeerEntryVersion {
    /// The next version: counter = max(counter, now) + 1.
    #[must_use]
    pub fn increment(self) -> Self {
        Self(self.0, self.1.max(now_ms()) + 1)
    }

    /// When the process that owns the entry started.
    pub fn started_at(&self) -> DateTime<Utc> {
        to_datetime(self.0)
    }

    /// When the entry was last updated.
    pub fn updated_at(&self) -> DateTime<Utc> {
        to_datetime(self.1)
    }
}

/// Errors of entry operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// The secret key does not belong to the entry's peer id.
    #[error("secret key does not match the entry's peer id")]
    InvalidSecretKey,
    /// An address update tried to change the peer id.
    #[error("peer id changed")]
    PeerIdChanged,
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
}

/// What a peer says about itself: its address and what it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    protocol: semver::Version,
    network: NetworkId,
    version: PeerEntryVersion,
    address: EndpointAddr,
    tags: BTreeSet<Tag>,
    streams: BTreeSet<StreamId>,
    groups: BTreeSet<GroupId>,
    tickets: BTreeMap<UniqueId, Ticket>,
}

/// Generates `add_*`/`remove_*` pairs for the id sets of an entry. Each
/// bumps the version only when the content changed.
macro_rules! set_mutators {
    ($($field:ident: $add:ident, $remove:ident, $ty:ty;)*) => {$(
        #[doc = concat!("Adds ", stringify!($field), "; bumps the version if anything changed.")]
        #[must_use]
        pub fn $add<V>(mut self, items: impl crate::primitives::IntoIterOrSingle<$ty, V>) -> Self {
            let before = self.$field.len();
            self.$field.extend(items.into_items());
            let changed = self.$field.len() != before;
            self.bump_if(changed)
        }

        #[doc = concat!("Removes ", stringify!($field), "; bumps the version if anything changed.")]
        #[must_use]
        pub fn $remove<V>(mut self, items: impl crate::primitives::IntoIterOrSingle<$ty, V>) -> Self {
            let before = self.$field.len();
            for item in items.into_items() {
                self.$field.remove(&item);
            }
            let changed = self.$field.len() != before;
            self.bump_if(changed)
        }
    )*};
}

impl PeerEntry {
    /// A fresh entry for `address` on `network`.
    pub fn new(network: NetworkId, address: EndpointAddr) -> Self {
        Self {
            protocol: semver::Version::parse(env!("CARGO_PKG_VERSION"))
                .expect("crate version is semver"),
            network,
            version: PeerEntryVersion::default(),
            address,
            tags: BTreeSet::new(),
            streams: BTreeSet::new(),
            groups: BTreeSet::new(),
            tickets: BTreeMap::new(),
        }
    }

    /// The peer's id.
    pub fn id(&self) -> &PeerId {
        &self.address.id
    }

    /// The network the entry belongs to.
    pub fn network_id(&self) -> NetworkId {
        self.network
    }

    /// The software version of the peer.
    pub fn protocol_version(&self) -> &semver::Version {
        &self.protocol
    }

    /// The peer's address.
    pub fn address(&self) -> &EndpointAddr {
        &self.address
    }

    /// The peer's tags.
    pub fn tags(&self) -> &BTreeSet<Tag> {
        &self.tags
    }

    /// Streams the peer produces.
    pub fn streams(&self) -> &BTreeSet<StreamId> {
        &self.streams
    }

    /// Groups the peer is a member of.
    pub fn groups(&self) -> &BTreeSet<GroupId> {
        &self.groups
    }

    /// The peer's tickets by id.
    pub fn tickets(&self) -> &BTreeMap<UniqueId, Ticket> {
        &self.tickets
    }

    /// The entry's version.
    pub fn update_version(&self) -> PeerEntryVersion {
        self.version
    }

    /// When the entry was last updated.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.version.updated_at()
    }

    /// When the peer's process started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.version.started_at()
    }

    /// How long the peer has been up, as of its last update.
    pub fn uptime(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.version.1 - self.version.0).unwrap_or(0))
    }

    /// blake3 of the entry's postcard encoding.
    pub fn digest(&self) -> Digest {
        Digest::hash(&encoding::serialize(self))
    }

    /// Bytes of the entry's postcard encoding (counted, not written).
    pub(crate) fn encoded_len(&self) -> usize {
        postcard::serialize_with_flavor(self, postcard::ser_flavors::Size::default())
            .unwrap_or(usize::MAX)
    }

    /// Whether this entry is strictly newer than `other`.
    pub fn is_newer_than(&self, other: &PeerEntry) -> bool {
        self.version > other.version
    }

    /// Tickets of one class.
    pub fn tickets_of(&self, class: TicketClass) -> impl Iterator<Item = &Ticket> {
        self.tickets.values().filter(move |t| t.class() == class)
    }

    /// Tickets of `class` whose data passes `valid`.
    pub fn valid_tickets(
        &self,
        class: TicketClass,
        valid: impl Fn(&[u8]) -> bool,
    ) -> impl Iterator<Item = &Ticket> {
        self.tickets_of(class).filter(move |t| valid(t.data()))
    }

    /// Whether any ticket of `class` passes `valid`.
    pub fn has_valid_ticket(&self, class: TicketClass, valid: impl Fn(&[u8]) -> bool) -> bool {
        self.valid_tickets(class, valid).next().is_some()
    }

    fn bump_if(mut self, changed: bool) -> Self {
        if changed {
            self.version = self.version.increment();
        }
        self
    }

    /// Bumps the version unconditionally (periodic re-announce).
    #[must_use]
    pub fn increment_version(self) -> Self {
        self.bump_if(true)
    }

    /// Replaces the address; the peer id must stay the same.
    pub fn update_address(mut self, address: EndpointAddr) -> Result<Self, EntryError> {
        if address.id != self.address.id {
            return Err(EntryError::PeerIdChanged);
        }
        let changed = address != self.address;
        self.address = address;
        Ok(self.bump_if(changed))
    }

    set_mutators! {
        tags: add_tags, remove_tags, Tag;
        streams: add_streams, remove_streams, StreamId;
        groups: add_groups, remove_groups, GroupId;
    }

    /// Adds a ticket (keyed by its id).
    #[must_use]
    pub fn add_ticket(mut self, ticket: Ticket) -> Self {
        let id = ticket.id();
        let changed = self.tickets.get(&id) != Some(&ticket);
        self.tickets.insert(id, ticket);
        self.bump_if(changed)
    }

    /// Removes the ticket with `id`.
    #[must_use]
    pub fn remove_ticket(mut self, id: UniqueId) -> Self {
        let changed = self.tickets.remove(&id).is_some();
        self.bump_if(changed)
    }

    /// Removes every ticket of `class`.
    #[must_use]
    pub fn remove_tickets_of(mut self, class: TicketClass) -> Self {
        let before = self.tickets.len();
        self.tickets.retain(|_, t| t.class() != class);
        let changed = self.tickets.len() != before;
        self.bump_if(changed)
    }

    /// Signs the entry; the key must be the entry's peer key.
    pub fn sign(self, key: &SecretKey) -> Result<SignedPeerEntry, EntryError> {
        if key.public() != *self.id() {
            return Err(EntryError::InvalidSecretKey);
        }
        let signature = key.sign(self.digest().as_bytes());
        Ok(SignedPeerEntry(self, signature))
    }
}

/// A peer entry with its owner's signature. Decoding verifies the
/// signature, so an invalid `SignedPeerEntry` cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedPeerEntry(PeerEntry, Signature);

impl SignedPeerEntry {
    /// Verifies `signature` over `entry`.
    pub fn verify(entry: PeerEntry, signature: Signature) -> Result<Self, EntryError> {
        entry
            .id()
            .verify(entry.digest().as_bytes(), &signature)
            .map_err(|_| EntryError::InvalidSignature)?;
        Ok(Self(entry, signature))
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.1
    }

    /// Drops the signature.
    pub fn into_unsigned(self) -> PeerEntry {
        self.0
    }
}

impl From<SignedPeerEntry> for PeerEntry {
    fn from(entry: SignedPeerEntry) -> Self {
        entry.into_unsigned()
    }
}

/// `Short(entry)` shows the peer id's first 5 bytes, by value or reference.
macro_rules! short_entry {
    ($($ty:ty),*) => {$(
        impl core::fmt::Display for crate::primitives::Short<$ty> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&crate::primitives::Short(self.0.id()), f)
            }
        }

        impl core::fmt::Debug for crate::primitives::Short<$ty> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(self, f)
            }
        }
    )*};
}

short_entry!(PeerEntry, &PeerEntry, SignedPeerEntry, &SignedPeerEntry);

impl Deref for SignedPeerEntry {
    type Target = PeerEntry;

    fn deref(&self) -> &PeerEntry {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SignedPeerEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (entry, signature) = <(PeerEntry, Signature)>::deserialize(deserializer)?;
        Self::verify(entry, signature).map_err(serde::de::Error::custom)
    }
}

/// The wire shape of a signed entry before verification: lets a catalog
/// snapshot be checked entry by entry, so one forged entry is rejected
/// without discarding its honest neighbours.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UnverifiedEntry(pub(crate) PeerEntry, pub(crate) Signature);

impl UnverifiedEntry {
    pub(crate) fn verify(self) -> Result<SignedPeerEntry, EntryError> {
        SignedPeerEntry::verify(self.0, self.1)
    }
}

impl From<SignedPeerEntry> for UnverifiedEntry {
    fn from(value: SignedPeerEntry) -> Self {
        Self(value.0, value.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &SecretKey) -> PeerEntry {
        PeerEntry::new(NetworkId::from("net"), EndpointAddr::new(key.public()))
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = SecretKey::generate();
        let signed = entry(&key).add_tags([Tag::from("a")]).sign(&key).unwrap();
        let bytes = encoding::serialize(&signed);
        let back: SignedPeerEntry = encoding::deserialize(&bytes).unwrap();
        assert_eq!(back, signed);
        // Re-sign a modified entry with a different key: decode must fail.
        let other = SecretKey::generate();
        let forged = UnverifiedEntry(
            signed.clone().into_unsigned().add_tags([Tag::from("b")]),
            other.sign(b"x"),
        );
        let bytes = encoding::serialize(&forged);
        assert!(encoding::deserialize::<SignedPeerEntry>(&bytes).is_err());
        assert_eq!(
            entry(&key).sign(&other).unwrap_err(),
            EntryError::InvalidSecretKey
        );
    }

    #[test]
    fn mutators_bump_only_on_change() {
        let key = SecretKey::generate();
        let e = entry(&key);
        let v0 = e.update_version();
        let e = e.add_tags([Tag::from("t")]);
        let v1 = e.update_version();
        assert!(v1 > v0);
        let e = e.add_tags([Tag::from("t")]);
        assert_eq!(e.update_version(), v1);
        let e = e.remove_tags([Tag::from("zzz")]);
        assert_eq!(e.update_version(), v1);
        let ticket = Ticket::new(TicketClass::from("c"), bytes::Bytes::from_static(b"d"));
        let e = e.add_ticket(ticket.clone());
        assert!(e.update_version() > v1);
        assert_eq!(e.tickets_of(TicketClass::from("c")).count(), 1);
        let e = e.remove_tickets_of(TicketClass::from("c"));
        assert!(e.tickets().is_empty());
        let err = e.update_address(EndpointAddr::new(SecretKey::generate().public()));
        assert_eq!(err.unwrap_err(), EntryError::PeerIdChanged);
    }

    #[test]
    fn versions_order_restart_first() {
        let old = PeerEntryVersion(100, 5_000);
        let restarted = PeerEntryVersion(200, 200);
        assert!(restarted > old);
        assert!(old.increment().1 > old.1);
    }
}
