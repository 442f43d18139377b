//! The seam between the group driver and what carries it.
//!
//! The worker needs four things from its surroundings: who it is
//! ([`Local`]), who the members are ([`Members`]: the catalog), a way to
//! dial a member into a bond ([`dial`]), and bonds it can run and close
//! ([`BondLink`], [`Conn`], [`spawn`]). In production every one of them is
//! iroh (endpoint, discovery, QUIC connections). With the `runtime-sim`
//! feature each has a second variant backed by the in-memory, fault
//! injecting transport of `groups::sim`, so the real driver runs under a
//! deterministic simulation. The enums keep the production path free of
//! dynamic dispatch and the worker free of another type parameter.

#[cfg(feature = "runtime-sim")]
use super::sim;
use {
    super::{
        Error, GroupConfig,
        bond::{self, Acceptor, BondEvent, BondHandle, Heartbeat, NewBond},
        messages::GroupsProtocol,
    },
    crate::{
        GroupId, NetworkId, PeerId,
        discovery::{Catalog, Discovery, SignedPeerEntry},
        network::{CloseReason, Link, LocalNode},
        primitives::Datum,
    },
    core::time::Duration,
    std::sync::Arc,
    tokio::sync::{mpsc, watch},
    tokio_util::sync::CancellationToken,
};

/// This member's identity and lifetime.
#[derive(Debug, Clone)]
pub(crate) enum Local {
    Iroh(LocalNode),
    #[cfg(feature = "runtime-sim")]
    Sim(Arc<sim::Node>),
}

impl Local {
    pub(crate) fn id(&self) -> PeerId {
        match self {
            Self::Iroh(local) => local.id(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.id(),
        }
    }

    pub(crate) fn network_id(&self) -> NetworkId {
        match self {
            Self::Iroh(local) => local.network_id(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.network_id(),
        }
    }

    pub(crate) fn max_frame_size(&self) -> usize {
        match self {
            Self::Iroh(local) => local.max_frame_size(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.max_frame_size(),
        }
    }

    /// Cancelled when the network (a simulated process: its crash) ends.
    pub(crate) fn termination(&self) -> &CancellationToken {
        match self {
            Self::Iroh(local) => local.termination(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.termination(),
        }
    }

    /// The seed of the consensus engine's randomness (election timeouts):
    /// OS randomness in production, the simulation's seeded stream there.
    pub(crate) fn engine_seed(&self) -> u64 {
        match self {
            Self::Iroh(_) => rand::random(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.engine_seed(),
        }
    }

    /// The storage epoch this process gives a group's storage if it begins
    /// empty (`Engine::with_life_epoch`): it must exceed every earlier
    /// life's, so the wall clock in microseconds in production (a leader
    /// ignores a follower's answers of a lower epoch than the highest it
    /// heard as late ones of a lost life; a clock stepped back only delays
    /// the new life until the next leader), with a random tie-break below;
    /// in the simulator the incarnation number, which is deterministic.
    pub(crate) fn life_epoch(&self) -> u64 {
        match self {
            Self::Iroh(_) => {
                let micros = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| {
                        u64::try_from(d.as_micros()).unwrap_or(u64::MAX >> 12)
                    });
                (micros.min(u64::MAX >> 12) << 12) | (rand::random::<u64>() & 0xfff)
            }
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.life_epoch(),
        }
    }
}

/// The membership source: this node's catalog of peers.
#[derive(Debug, Clone)]
pub(crate) enum Members {
    Iroh(Discovery),
    #[cfg(feature = "runtime-sim")]
    Sim(Arc<sim::Node>),
}

impl Members {
    /// Our own signed entry.
    pub(crate) fn me(&self) -> SignedPeerEntry {
        match self {
            Self::Iroh(discovery) => discovery.me(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.catalog().local().clone(),
        }
    }

    pub(crate) fn catalog(&self) -> Catalog {
        match self {
            Self::Iroh(discovery) => discovery.catalog(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.catalog(),
        }
    }

    pub(crate) fn catalog_watch(&self) -> watch::Receiver<Catalog> {
        match self {
            Self::Iroh(discovery) => discovery.catalog_watch(),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.catalog_watch(),
        }
    }

    /// Upserts an entry a peer handed us; true if the catalog changed.
    /// (The iroh bond tasks feed `Discovery` directly.)
    #[cfg_attr(not(feature = "runtime-sim"), allow(dead_code))]
    pub(crate) fn feed(&self, entry: SignedPeerEntry) -> bool {
        match self {
            Self::Iroh(discovery) => discovery.feed(entry),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.feed(entry),
        }
    }

    /// Stops advertising `ids` in our entry.
    pub(crate) fn remove_groups(&self, ids: impl IntoIterator<Item = GroupId>) {
        match self {
            Self::Iroh(discovery) => discovery.remove_groups(ids),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(node) => node.remove_groups(ids),
        }
    }
}

/// A handshaken link, not yet running as a bond.
// The production variant is the large one; it moves once per bond, as the
// link did before this enum existed.
#[allow(clippy::large_enum_variant)]
pub(crate) enum BondLink {
    Iroh(Link<GroupsProtocol>),
    #[cfg(feature = "runtime-sim")]
    Sim(sim::SimLink),
}

impl BondLink {
    /// Refuses the link (`AlreadyBonded`): the pair keeps its other bond.
    pub(crate) fn refuse(self) {
        self.refuse_with(super::close::AlreadyBonded);
    }

    /// Closes a link the worker will not bond over, with `reason`.
    pub(crate) fn refuse_with<R: CloseReason + Send + 'static>(self, reason: R) {
        match self {
            Self::Iroh(link) => {
                tokio::spawn(async move {
                    let _ = link.close(reason).await;
                });
            }
            #[cfg(feature = "runtime-sim")]
            Self::Sim(link) => link.close(),
        }
    }
}

/// What closes a running bond (both of its tasks end).
#[derive(Debug, Clone)]
pub(crate) enum Conn {
    Iroh(iroh::endpoint::Connection),
    #[cfg(feature = "runtime-sim")]
    Sim(sim::Closer),
}

impl Conn {
    /// Closes at once with `reason` (no flush).
    pub(crate) fn close_now(&self, reason: &dyn CloseReason) {
        match self {
            Self::Iroh(conn) => bond::close_now(conn, reason),
            #[cfg(feature = "runtime-sim")]
            Self::Sim(closer) => closer.close(),
        }
    }
}

/// Dials `entry`'s member into a bond (the initiator side).
pub(crate) async fn dial(
    local: &Local,
    members: &Members,
    acceptor: &Acceptor,
    entry: SignedPeerEntry,
    timeout: Duration,
) -> Result<NewBond, Error> {
    match (local, members) {
        (Local::Iroh(local), Members::Iroh(discovery)) => {
            bond::dial(local, discovery, acceptor, entry, timeout).await
        }
        #[cfg(feature = "runtime-sim")]
        (Local::Sim(node), _) => node.dial(acceptor, entry, timeout).await,
        #[cfg(feature = "runtime-sim")]
        (Local::Iroh(_), Members::Sim(_)) => Err(Error::Link("mixed transports".into())),
    }
}

/// Starts the tasks of a formed bond.
pub(crate) fn spawn<C: Datum + Sync + Clone>(
    new: NewBond,
    events: mpsc::Sender<BondEvent<C>>,
    members: &Members,
    config: Arc<GroupConfig>,
    heartbeat: Heartbeat,
    labels: &Arc<[(&'static str, String); 2]>,
) -> BondHandle<C> {
    let NewBond {
        link,
        entry,
        standing,
        expires,
        ..
    } = new;
    match (link, members) {
        (BondLink::Iroh(link), Members::Iroh(discovery)) => bond::spawn(
            link,
            (entry, standing, expires),
            events,
            discovery.clone(),
            config,
            heartbeat,
            labels,
        ),
        #[cfg(feature = "runtime-sim")]
        (BondLink::Sim(link), members) => {
            sim::spawn_bond(link, entry, standing, events, members.clone(), &heartbeat)
        }
        #[cfg(feature = "runtime-sim")]
        (BondLink::Iroh(_), Members::Sim(_)) => {
            unreachable!("an iroh link reaches a worker only through the iroh acceptor")
        }
    }
}

/// The consistency a query is served with: as asked, except under the
/// simulation's planted bug `strong-read-local` (a strong read answered
/// from the local machine, skipping the read index).
pub(crate) fn served_consistency(asked: super::Consistency) -> super::Consistency {
    #[cfg(feature = "runtime-sim")]
    if sim::planted("strong-read-local") {
        return super::Consistency::Weak;
    }
    asked
}
