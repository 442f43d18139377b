//! The catalog-sync and ping protocols, both sides.
//!
//! Every exchange runs under `exchange_timeout` in a task of its own, so a
//! peer that connects and goes silent never stalls discovery; one that
//! runs out of time is closed with `TimedOut`. How many acceptor tasks
//! exist is bounded by the network's admission caps.

use {
    super::{
        Error, SignedPeerEntry,
        entry::UnverifiedEntry,
        handle::Shared,
        messages::{
            CatalogSnapshot, DepartProtocol, GracefulDeparture, PingProtocol, SyncProtocol,
        },
    },
    crate::{
        PeerId,
        network::{Cancelled, CloseReason, Link, Listener, ProtocolViolation, Success, TimedOut},
        primitives::ShortFmtExt,
    },
    core::time::Duration,
    iroh::EndpointAddr,
    std::{sync::Arc, time::Instant},
};

fn snapshot_of(shared: &Shared) -> CatalogSnapshot {
    let catalog = shared.catalog.borrow();
    let drift = chrono::Duration::from_std(shared.config.max_time_drift).unwrap_or_default();
    CatalogSnapshot(
        catalog
            .iter_signed()
            .cloned()
            .map(UnverifiedEntry::from)
            .collect(),
        catalog
            .departures_since(chrono::Utc::now() - drift)
            .take(shared.config.max_snapshot_entries)
            .cloned()
            .collect(),
    )
}

/// Takes the departure notices of a snapshot that concern a peer we still
/// hold (the same or an older incarnation); the others are dropped before
/// any signature is checked, so a flood of notices costs a lookup each.
fn merge_departures(shared: &Shared, from: PeerId, notices: Vec<GracefulDeparture>) {
    for notice in notices {
        let held = shared
            .catalog
            .borrow()
            .signed_entry(&notice.peer_id)
            .is_some_and(|e| e.update_version().0 <= notice.last_version.0);
        if held {
            shared.departure(&notice, from);
        }
    }
}

/// Merges a received snapshot; refuses it whole if it is oversized.
///
/// Cheap checks before signatures: an entry not newer than the one we hold
/// is skipped unverified, and at most `max_new_entries_per_sync` entries we
/// did not know are considered (a per-source limit). The rest are merged in
/// one catalog change.
fn merge_snapshot(shared: &Shared, from: PeerId, snapshot: CatalogSnapshot) -> Result<(), Error> {
    let size = snapshot.0.len().max(snapshot.1.len());
    if size > shared.config.max_snapshot_entries {
        shared.reject(from, "oversized_snapshot");
        return Err(Error::Other(format!(
            "catalog snapshot of {size} entries or departures exceeds the limit of {}",
            shared.config.max_snapshot_entries
        )));
    }
    let net = shared.local.network_id().short().to_string();
    metrics::counter!("mosaik.discovery.catalog.syncs", "network" => net).increment(1);
    let catalog = shared.catalog.borrow().clone();
    let limit = shared.config.max_new_entries_per_sync;
    let (mut new, mut capped) = (0usize, false);
    let mut verified = Vec::new();
    let CatalogSnapshot(entries, departures) = snapshot;
    for entry in entries {
        let peer = *entry.0.id();
        if peer == catalog.local_id() || shared.oversized(&entry.0, from) {
            continue;
        }
        match catalog.signed_entry(&peer) {
            Some(known) if !entry.0.is_newer_than(known) => continue,
            Some(_) => {}
            None if new >= limit => {
                capped = true;
                continue;
            }
            None if catalog.refuses(&entry.0, peer == from) => continue,
            None => new += 1,
        }
        match entry.verify() {
            Ok(entry) => verified.push((entry, peer == from)),
            Err(_) => shared.reject(from, "invalid_signature"),
        }
    }
    if capped {
        shared.reject(from, "source_limit");
    }
    // The sender's own entry, if it is new to us, is broadcast on its
    // behalf: a newcomer's own announcement does not reach every node of a
    // growing swarm (40 nodes joining at once: a dozen missed the last
    // newcomer for seconds), ours goes out from a node already in the
    // overlay. The same signed bytes make the same gossip message, so nodes
    // that had it drop the copy.
    let own = verified
        .iter()
        .find(|(e, proven)| *proven && *e.id() == from)
        .map(|(e, _)| e.clone());
    // Entries learned from a snapshot cause no exchanges of their own: the
    // sender holds them all, and their owners hear of us through gossip
    // (bounded fan-out, see `worker::CONTACT_FANOUT`).
    let outcomes = shared.merge_batch(verified);
    if let Some(entry) = own
        && outcomes.iter().any(|(p, o)| *p == from && o.changed())
    {
        // Full queue: the entry's owner announces it too; this is a bonus.
        let _ = shared
            .commands
            .try_send(super::worker::Command::RelayEntry(Box::new(entry)));
    }
    merge_departures(shared, from, departures);
    Ok(())
}

/// Closes a connection that is still open when its exchange is dropped
/// (timed out, or the node shut down) with a named reason instead of the
/// bare code 0 a dropped connection sends.
struct CloseOnDrop<'a> {
    conn: iroh::endpoint::Connection,
    shared: &'a Shared,
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if self.conn.close_reason().is_some() {
            return;
        }
        let reason: &dyn CloseReason = if self.shared.local.termination().is_cancelled() {
            &Cancelled
        } else {
            &TimedOut
        };
        self.conn.close(
            iroh::endpoint::VarInt::from_u32(reason.code()),
            reason.name().as_bytes(),
        );
    }
}

fn guard<'a, P: crate::network::Protocol>(shared: &'a Shared, link: &Link<P>) -> CloseOnDrop<'a> {
    CloseOnDrop {
        conn: link.connection().clone(),
        shared,
    }
}

async fn bounded<T>(
    shared: &Shared,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::select! {
        () = shared.local.termination().cancelled() => Err(Error::Cancelled),
        r = tokio::time::timeout(shared.config.exchange_timeout, fut) => {
            r.unwrap_or_else(|_| Err(Error::Other("exchange timed out".into())))
        }
    }
}

/// Initiator side of a full catalog exchange.
pub(crate) async fn sync_with(shared: &Shared, peer: EndpointAddr) -> Result<(), Error> {
    let remote = peer.id;
    bounded(shared, async {
        let mut link = shared
            .local
            .connect::<SyncProtocol>(peer)
            .await
            .map_err(crate::network::LinkError::from)?;
        let _guard = guard(shared, &link);
        link.send(&snapshot_of(shared))
            .await
            .map_err(crate::network::LinkError::from)?;
        let theirs: CatalogSnapshot = link.recv().await.map_err(crate::network::LinkError::from)?;
        let merged = merge_snapshot(shared, remote, theirs);
        if merged.is_err() {
            let _ = link.close(ProtocolViolation).await;
        } else {
            let _ = link.close(Success).await;
        }
        merged
    })
    .await
}

/// Acceptor side of a catalog exchange.
async fn serve_sync(shared: Arc<Shared>, link: &mut Link<SyncProtocol>) -> Result<(), Error> {
    let remote = link.remote_id();
    let theirs: CatalogSnapshot = link.recv().await.map_err(crate::network::LinkError::from)?;
    link.send(&snapshot_of(&shared))
        .await
        .map_err(crate::network::LinkError::from)?;
    if let Err(err) = merge_snapshot(&shared, remote, theirs) {
        crate::streams::close_now(link.connection(), &ProtocolViolation);
        return Err(err);
    }
    // The initiator closes once it has our snapshot.
    let _ = link.closed().await;
    Ok(())
}

/// Pings `peer`: its fresh entry and the RTT sample.
pub(crate) async fn ping(
    shared: &Shared,
    peer: EndpointAddr,
) -> Result<(SignedPeerEntry, Duration), Error> {
    let remote = peer.id;
    let (entry, rtt) = bounded(shared, async {
        let mut link = shared
            .local
            .connect::<PingProtocol>(peer)
            .await
            .map_err(crate::network::LinkError::from)?;
        let _guard = guard(shared, &link);
        let started = Instant::now();
        link.send(&())
            .await
            .map_err(crate::network::LinkError::from)?;
        let entry: SignedPeerEntry = link.recv().await.map_err(crate::network::LinkError::from)?;
        let rtt = started.elapsed();
        let _ = link.close(Success).await;
        Ok((entry, rtt))
    })
    .await?;
    if *entry.id() != remote {
        shared.reject(remote, "ping_identity_mismatch");
        return Err(Error::Other(
            "ping answered with another peer's entry".into(),
        ));
    }
    shared.rtt_sample(remote, rtt);
    Ok((entry, rtt))
}

/// Acceptor side of a ping: reply with the current local entry.
///
/// The original replies with a version-bumped copy it never stores; peers
/// then hold a version newer than the node's own, and its next
/// announcements and its departure look stale to them. We reply with the
/// entry as it is.
async fn serve_ping(shared: Arc<Shared>, link: &mut Link<PingProtocol>) -> Result<(), Error> {
    link.recv::<()>()
        .await
        .map_err(crate::network::LinkError::from)?;
    let current = shared.catalog.borrow().local().clone();
    link.send(&current)
        .await
        .map_err(crate::network::LinkError::from)?;
    let _ = link.closed().await;
    Ok(())
}

/// Sends a departure notice straight to `peer`; true once the peer has
/// read it (it closes the link after applying the notice).
pub(crate) async fn notify_departure(
    shared: &Shared,
    peer: EndpointAddr,
    departure: &GracefulDeparture,
) -> bool {
    bounded(shared, async {
        let mut link = shared
            .local
            .connect::<DepartProtocol>(peer)
            .await
            .map_err(crate::network::LinkError::from)?;
        let _guard = guard(shared, &link);
        link.send(departure)
            .await
            .map_err(crate::network::LinkError::from)?;
        let _ = link.closed().await;
        Ok(())
    })
    .await
    .is_ok()
}

/// Accept loops for the sync, ping and departure protocols; each connection is served in its own
/// task under the exchange timeout.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut sync: Listener<SyncProtocol>,
    mut ping: Listener<PingProtocol>,
    mut depart: Listener<DepartProtocol>,
) {
    loop {
        tokio::select! {
            conn = sync.next_connection() => {
                let Some(conn) = conn else { break };
                let shared = shared.clone();
                let accept = sync.accept_link(conn);
                tokio::spawn(async move {
                    let result = bounded(&shared.clone(), async {
                        let mut link = accept.await.map_err(crate::network::LinkError::from)?;
                        let _guard = guard(&shared, &link);
                        let peer = link.remote_id();
                        let out = serve_sync(shared.clone(), &mut link).await;
                        if out.is_ok() {
                            // We just exchanged catalogs: no need for a
                            // first-contact sync with this peer.
                            shared.synced_with(peer);
                        }
                        out
                    }).await;
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "catalog sync (acceptor) failed");
                    }
                });
            }
            conn = depart.next_connection() => {
                let Some(conn) = conn else { break };
                let shared = shared.clone();
                let accept = depart.accept_link(conn);
                tokio::spawn(async move {
                    let _ = bounded(&shared.clone(), async {
                        let mut link = accept.await.map_err(crate::network::LinkError::from)?;
                        let _guard = guard(&shared, &link);
                        let from = link.remote_id();
                        let departure: GracefulDeparture =
                            link.recv().await.map_err(crate::network::LinkError::from)?;
                        if shared.departure(&departure, from) {
                            // The leaver's own broadcast may have reached few
                            // (or no) peers before its endpoint closed: flood
                            // what we accepted. Gossip drops the copy where
                            // the original already arrived (same message id).
                            let relay = super::worker::Command::Relay(departure);
                            // Full queue: the leaver notifies every peer
                            // directly as well, so the relay is a bonus.
                            let _ = shared.commands.try_send(relay);
                        }
                        let _ = link.close(Success).await;
                        Ok(())
                    }).await;
                });
            }
            conn = ping.next_connection() => {
                let Some(conn) = conn else { break };
                let shared = shared.clone();
                let accept = ping.accept_link(conn);
                tokio::spawn(async move {
                    let result = bounded(&shared.clone(), async {
                        let mut link = accept.await.map_err(crate::network::LinkError::from)?;
                        let _guard = guard(&shared, &link);
                        serve_ping(shared.clone(), &mut link).await
                    }).await;
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "ping (acceptor) failed");
                    }
                });
            }
        }
    }
    tracing::trace!(peer = %shared.local.id().fmt_short(), "discovery acceptors stopped");
}
