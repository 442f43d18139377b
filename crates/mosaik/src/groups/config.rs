//! Configuration: the network-wide [`Config`], the per-group
//! [`ConsensusConfig`], and [`GroupConfig`] (everything that makes a group
//! id).

use {
    super::GroupKey,
    crate::{
        Digest, GroupId,
        discovery::SignedPeerEntry,
        tickets::{Expiration, InvalidTicket, TicketValidator, validate_all},
    },
    core::time::Duration,
    serde::{Deserialize, Serialize},
    std::sync::Arc,
};

/// Default of [`Config::max_append_bytes`]: 4 MiB, a quarter of the
/// default link frame size.
pub const DEFAULT_MAX_APPEND_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of one replicated message besides its commands (terms, peer ids,
/// positions, rank), rounded up generously.
pub(crate) const APPEND_OVERHEAD: usize = 1024;

/// Bytes one command adds to a forwarded proposal besides its encoding
/// (its length prefix), rounded up. (An `AppendEntries` adds more per entry,
/// its term, but the bond writer splits those by their real size.)
pub(crate) const ENTRY_OVERHEAD: usize = 8;

/// Network-wide settings of the groups subsystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long a bond handshake may take, each side.
    pub handshake_timeout: Duration,
    /// Byte budget of one consensus message on a bond. A leader's
    /// `AppendEntries` larger than this goes out as several consecutive
    /// ones (the follower acknowledges each), so a long or large batch
    /// never exceeds a peer's frame limit. One proposal (a command, an
    /// `execute_many`/`feed_many` batch) must fit in it whole, or it is
    /// refused with [`CommandError::TooLarge`](super::CommandError::TooLarge):
    /// a follower forwards it to the leader in one message. Must stay below
    /// every member's `LinkConfig::max_frame_size` (16 MiB by default); at
    /// most half the local one is used.
    pub max_append_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(2),
            max_append_bytes: DEFAULT_MAX_APPEND_BYTES,
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }
}

/// Builds a [`Config`] (`NetworkBuilder::with_groups` takes it).
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// How long a bond handshake may take, each side (default 2 s).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.0.handshake_timeout = timeout;
        self
    }

    /// The configuration.
    pub fn build(self) -> Config {
        self.0
    }
}

/// Consensus timing of one group. Only `heartbeat_interval`,
/// `heartbeat_jitter`, `max_missed_heartbeats` and `min_quorum` are part of
/// the group id (see `ConsensusConfig::digest`); the election and request
/// timeouts are per-node tunables.
#[derive(Debug, Clone, Hash, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusConfig {
    /// Bond ping interval, and the leader's heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Bond pings fire at `heartbeat_interval - U[0, heartbeat_jitter)`.
    /// Zero is valid (no jitter).
    pub heartbeat_jitter: Duration,
    /// A bond is dead after this many heartbeat intervals without traffic.
    pub max_missed_heartbeats: u32,
    /// Base follower/candidate timeout.
    pub election_timeout: Duration,
    /// Election timeouts are `U[election_timeout, +jitter)`. Zero is valid.
    pub election_timeout_jitter: Duration,
    /// Added to the first election timeout so members can find each other.
    pub bootstrap_delay: Duration,
    /// How long a follower waits for the leader to acknowledge a forwarded
    /// command.
    pub forward_timeout: Duration,
    /// How long a strong query may take.
    pub query_timeout: Duration,
    /// Strict mode (SPEC C1): elections and commits need at least this many
    /// voters, self included. `None` = dynamic mode. Part of the group id.
    /// A strict group holds at most `2 × min_quorum − 1` voters: a member
    /// past that is refused at bonding (close reason `StrictGroupFull`).
    pub min_quorum: Option<usize>,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(500),
            heartbeat_jitter: Duration::from_millis(150),
            max_missed_heartbeats: 10,
            election_timeout: Duration::from_secs(2),
            election_timeout_jitter: Duration::from_millis(500),
            bootstrap_delay: Duration::from_secs(3),
            forward_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(2),
            min_quorum: None,
        }
    }
}

/// Builder of [`ConsensusConfig`]; every setter is `with_<field>`.
#[derive(Debug, Clone, Default)]
pub struct ConsensusConfigBuilder(ConsensusConfig);

macro_rules! setters {
    ($($(#[$meta:meta])* $setter:ident: $field:ident: $ty:ty;)*) => {
        impl ConsensusConfigBuilder {$(
            $(#[$meta])*
            #[must_use]
            pub fn $setter(mut self, value: $ty) -> Self {
                self.0.$field = value;
                self
            }
        )*}
    };
}

setters! {
    /// Sets [`ConsensusConfig::heartbeat_interval`].
    with_heartbeat_interval: heartbeat_interval: Duration;
    /// Sets [`ConsensusConfig::heartbeat_jitter`].
    with_heartbeat_jitter: heartbeat_jitter: Duration;
    /// Sets [`ConsensusConfig::max_missed_heartbeats`].
    with_max_missed_heartbeats: max_missed_heartbeats: u32;
    /// Sets [`ConsensusConfig::election_timeout`].
    with_election_timeout: election_timeout: Duration;
    /// Sets [`ConsensusConfig::election_timeout_jitter`].
    with_election_timeout_jitter: election_timeout_jitter: Duration;
    /// Sets [`ConsensusConfig::bootstrap_delay`].
    with_bootstrap_delay: bootstrap_delay: Duration;
    /// Sets [`ConsensusConfig::forward_timeout`].
    with_forward_timeout: forward_timeout: Duration;
    /// Sets [`ConsensusConfig::query_timeout`].
    with_query_timeout: query_timeout: Duration;
}

impl ConsensusConfigBuilder {
    /// Strict mode: elections and commits need `n` voters (self included).
    #[must_use]
    pub fn with_min_quorum(mut self, n: usize) -> Self {
        self.0.min_quorum = Some(n);
        self
    }

    /// The configuration. Infallible: every combination is usable (zero
    /// jitters are valid, unlike in the original).
    pub fn build(self) -> Result<ConsensusConfig, core::convert::Infallible> {
        Ok(self.0)
    }
}

impl ConsensusConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ConsensusConfigBuilder {
        ConsensusConfigBuilder::default()
    }

    /// A heartbeat tick: `interval - U[0, jitter)`.
    pub(crate) fn heartbeat_tick(&self) -> Duration {
        let jitter = u64::try_from(self.heartbeat_jitter.as_millis()).unwrap_or(u64::MAX);
        let cut = if jitter == 0 {
            0
        } else {
            rand::random_range(0..jitter)
        };
        self.heartbeat_interval
            .saturating_sub(Duration::from_millis(cut))
            .max(Duration::from_millis(1))
    }

    /// The part of the configuration that goes into the group id: heartbeat
    /// interval and jitter (u128 LE milliseconds), max missed heartbeats
    /// (u128 LE), and — only when set — the strict-mode quorum, so dynamic
    /// groups keep the original's id.
    pub(crate) fn digest(&self) -> Digest {
        let mut parts = vec![
            self.heartbeat_interval.as_millis().to_le_bytes(),
            self.heartbeat_jitter.as_millis().to_le_bytes(),
            u128::from(self.max_missed_heartbeats).to_le_bytes(),
        ];
        if let Some(n) = self.min_quorum {
            parts.push((n as u128).to_le_bytes());
        }
        Digest::from_parts(&parts)
    }

    /// The engine's configuration for this group and preference.
    pub(crate) fn engine(
        &self,
        preference: mosaik_raft::LeadershipPreference,
    ) -> mosaik_raft::Config {
        mosaik_raft::Config::default()
            .with_heartbeat_interval(self.heartbeat_interval)
            .with_election_timeout(self.election_timeout)
            .with_election_timeout_jitter(self.election_timeout_jitter)
            .with_bootstrap_delay(self.bootstrap_delay)
            .with_forward_timeout(self.forward_timeout)
            .with_query_timeout(self.query_timeout)
            .with_min_quorum(self.min_quorum)
            .with_preference(preference)
    }
}

/// Everything that identifies a group, and its admission rules.
#[derive(Clone)]
pub struct GroupConfig {
    group_id: GroupId,
    key: GroupKey,
    consensus: ConsensusConfig,
    auth: Arc<[Box<dyn TicketValidator>]>,
}

impl core::fmt::Debug for GroupConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupConfig")
            .field("group_id", &self.group_id)
            .field("key", &self.key)
            .field("consensus", &self.consensus)
            .field("validators", &self.auth.len())
            .finish()
    }
}

impl GroupConfig {
    /// Derives the group id: blake3(secret) → derive(consensus digest) →
    /// derive(machine signature) → derive(state sync signature) →
    /// derive(each validator signature, in order).
    pub(crate) fn new(
        key: GroupKey,
        consensus: ConsensusConfig,
        machine_signature: Digest,
        sync_signature: Digest,
        auth: Vec<Box<dyn TicketValidator>>,
    ) -> Self {
        let id = Self::derive_id(&key, &consensus, machine_signature, sync_signature, &auth);
        Self {
            group_id: id,
            key,
            consensus,
            auth: auth.into(),
        }
    }

    /// The id [`GroupConfig::new`] derives from these inputs (also used to
    /// name per-group resources before joining).
    pub(crate) fn derive_id(
        key: &GroupKey,
        consensus: &ConsensusConfig,
        machine_signature: Digest,
        sync_signature: Digest,
        auth: &[Box<dyn TicketValidator>],
    ) -> GroupId {
        let mut id = key
            .secret()
            .hashed()
            .derive(consensus.digest().as_bytes())
            .derive(machine_signature.as_bytes())
            .derive(sync_signature.as_bytes());
        for validator in auth {
            id = id.derive(validator.signature().as_bytes());
        }
        id
    }

    /// The group id.
    pub fn group_id(&self) -> &GroupId {
        &self.group_id
    }

    /// The group key.
    pub fn key(&self) -> &GroupKey {
        &self.key
    }

    /// Consensus settings.
    pub fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    /// Same as [`Self::consensus`] (the timing intervals; the name some 0.3
    /// releases use).
    pub fn intervals(&self) -> &ConsensusConfig {
        self.consensus()
    }

    /// Ticket validators, in the order they were added.
    pub fn auth(&self) -> &[Box<dyn TicketValidator>] {
        &self.auth
    }

    /// Checks a peer's tickets against every validator; the earliest expiry
    /// of the accepted tickets on success.
    pub fn authorize_peer(&self, peer: &SignedPeerEntry) -> Result<Expiration, InvalidTicket> {
        validate_all(self.auth.iter().map(AsRef::as_ref), peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_heartbeat_settings_and_quorum_change_the_digest() {
        let base = ConsensusConfig::default();
        let slower = ConsensusConfig::builder()
            .with_election_timeout(Duration::from_secs(9))
            .with_bootstrap_delay(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(base.digest(), slower.digest());
        let beat = ConsensusConfig::builder()
            .with_heartbeat_interval(Duration::from_millis(100))
            .build()
            .unwrap();
        assert_ne!(base.digest(), beat.digest());
        let strict = ConsensusConfig::builder()
            .with_min_quorum(2)
            .build()
            .unwrap();
        assert_ne!(base.digest(), strict.digest());
    }

    #[test]
    fn zero_jitter_is_valid() {
        let cfg = ConsensusConfig::builder()
            .with_election_timeout_jitter(Duration::ZERO)
            .with_heartbeat_jitter(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(cfg.heartbeat_tick(), cfg.heartbeat_interval);
    }
}
