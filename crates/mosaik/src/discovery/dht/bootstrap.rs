//! The bootstrap loop: scan all slots, feed healthy peers to discovery,
//! keep our own record present in exactly one slot.

use {
    super::{
        DhtConfig, DhtHost, SLOT_COUNT,
        client::{Lookup, PublishError, SlotClient},
        health::Streak,
        record::SlotRecord,
        slots::{slot_ids, slot_keypair},
    },
    crate::PeerId,
    core::time::Duration,
    futures::future::join_all,
    pkarr::{Keypair, PublicKey, Timestamp},
    std::{collections::BTreeMap, sync::Arc},
    tokio::time::Instant,
    tokio_util::sync::CancellationToken,
};

/// Consecutive lost compare-and-swap races that are rescanned at once;
/// beyond that we wait a poll interval, so two nodes fighting over the same
/// slots cannot spin.
const MAX_IMMEDIATE_RESCANS: u32 = 3;

/// Unreachable cycles after which the DHT node is rebuilt, which resolves
/// the bootstrap names again (their addresses may have changed while we
/// were offline).
const REBUILD_AFTER_FAILURES: u32 = 12;

/// What one cycle found in one slot.
#[derive(Clone, Debug)]
enum Slot {
    /// The DHT did not answer for this slot: neither use nor overwrite it.
    Unknown,
    /// Nobody holds the slot.
    Empty,
    /// The slot holds garbage with this sequence number.
    Malformed(i64),
    /// Our own record.
    Own(SlotRecord),
    /// Another peer's record; `useful` = healthy and the newest record of
    /// that peer (an older duplicate only wastes a slot).
    Foreign { seq: i64, useful: bool },
}

/// A slot we may publish into.
#[derive(Clone, Copy, Debug)]
enum Free {
    /// Nothing to replace.
    Empty,
    /// Replace the value with this sequence number (compare-and-swap).
    Replace(i64),
}

impl Free {
    /// The compare-and-swap argument of the publish.
    fn cas(self) -> Option<i64> {
        match self {
            Self::Empty => None,
            Self::Replace(seq) => Some(seq),
        }
    }
}

impl Slot {
    /// Whether, and how, we may publish here.
    fn free(&self) -> Option<Free> {
        match self {
            Self::Empty => Some(Free::Empty),
            Self::Malformed(seq) | Self::Foreign { seq, useful: false } => {
                Some(Free::Replace(*seq))
            }
            _ => None,
        }
    }
}

/// Whether the loop waits a poll interval or rescans at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Wait,
    Rescan,
}

/// Our last successful publish.
#[derive(Clone, Copy, Debug)]
struct Published {
    slot: usize,
    at: Instant,
}

/// State of one network's bootstrap task.
pub(super) struct Bootstrap {
    config: DhtConfig,
    host: Arc<dyn DhtHost>,
    keypairs: Vec<Keypair>,
    keys: Vec<PublicKey>,
    client: Option<SlotClient>,
    published: Option<Published>,
    unreachable_cycles: u32,
    lookups: Streak,
    publishes: Streak,
}

impl Bootstrap {
    pub(super) fn new(config: DhtConfig, host: Arc<dyn DhtHost>) -> Self {
        let keypairs: Vec<Keypair> = slot_ids(config.network_id)
            .into_iter()
            .map(slot_keypair)
            .collect();
        let keys = keypairs.iter().map(Keypair::public_key).collect();
        Self {
            config,
            host,
            keypairs,
            keys,
            client: None,
            published: None,
            unreachable_cycles: 0,
            lookups: Streak::new("DHT bootstrap lookup"),
            publishes: Streak::new("DHT bootstrap publish"),
        }
    }

    /// Runs cycles until `cancel` fires; every await is raced against it.
    pub(super) async fn run(mut self, cancel: CancellationToken) {
        let mut rescans = 0;
        loop {
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                next = self.cycle() => next,
            };
            if next == Next::Rescan && rescans < MAX_IMMEDIATE_RESCANS {
                rescans += 1;
                continue;
            }
            rescans = 0;
            let delay = self.poll_interval();
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Fast polling while gossip has no neighbors (we are looking for a
    /// way in), slow once connected, plus up to a third of random jitter so
    /// nodes started together do not scan in lockstep.
    fn poll_interval(&self) -> Duration {
        let base = if self.host.gossip_neighbors() == 0 {
            self.config.poll_fast
        } else {
            self.config.poll_slow
        };
        let max_jitter = u64::try_from(base.as_millis() / 3).unwrap_or(u64::MAX);
        base + Duration::from_millis(rand::random_range(0..=max_jitter))
    }

    /// One scan: read all slots, probe foreign records, publish if needed.
    async fn cycle(&mut self) -> Next {
        let client = if let Some(client) = self.client.clone() {
            client
        } else {
            let bootstrap = self.config.bootstrap.as_deref();
            match SlotClient::connect(bootstrap, self.config.request_timeout).await {
                Ok(client) => self.client.insert(client).clone(),
                Err(error) => {
                    self.lookups.fail(&error);
                    return Next::Wait;
                }
            }
        };
        let lookups = join_all(self.keys.iter().map(|key| client.lookup(key))).await;
        if lookups.iter().all(|lookup| *lookup == Lookup::Unreachable) {
            self.lookups.fail(&"no DHT node answered");
            self.unreachable_cycles += 1;
            if self.unreachable_cycles >= REBUILD_AFTER_FAILURES {
                self.unreachable_cycles = 0;
                self.client = None;
            }
            return Next::Wait;
        }
        self.unreachable_cycles = 0;
        self.lookups.succeed();
        let me = self.host.local_addr();
        let slots = self.classify(lookups, me.id).await;
        self.maintain_own_record(&client, &slots, &me).await
    }

    /// Classifies every slot, probing each distinct foreign peer once (all
    /// in parallel) and handing healthy ones to discovery.
    async fn classify(&self, lookups: Vec<Lookup>, me: PeerId) -> Vec<Slot> {
        // The newest record of each foreign peer, and which slot holds it.
        let mut newest: BTreeMap<PeerId, (usize, &SlotRecord)> = BTreeMap::new();
        for (slot, lookup) in lookups.iter().enumerate() {
            if let Lookup::Record(record) = lookup
                && record.peer != me
            {
                let entry = newest.entry(record.peer).or_insert((slot, record));
                if record.timestamp > entry.1.timestamp {
                    *entry = (slot, record);
                }
            }
        }
        let probes = newest.values().map(|(slot, record)| {
            let addr = record.to_endpoint_addr();
            let probe = self.host.probe(addr.clone());
            async move { (*slot, addr, probe.await.is_some()) }
        });
        let mut useful = [false; SLOT_COUNT];
        for (slot, addr, healthy) in join_all(probes).await {
            if healthy {
                useful[slot] = true;
                self.host.discovered(addr);
            }
        }
        lookups
            .into_iter()
            .enumerate()
            .map(|(slot, lookup)| match lookup {
                Lookup::Unreachable => Slot::Unknown,
                Lookup::Empty => Slot::Empty,
                Lookup::Malformed { seq } => Slot::Malformed(seq),
                Lookup::Record(record) if record.peer == me => Slot::Own(record),
                Lookup::Record(record) => Slot::Foreign {
                    seq: seq_of(record.timestamp),
                    useful: useful[slot],
                },
            })
            .collect()
    }

    /// Keeps exactly one fresh record of ours in the slots.
    async fn maintain_own_record(
        &mut self,
        client: &SlotClient,
        slots: &[Slot],
        me: &iroh::EndpointAddr,
    ) -> Next {
        if !me.addrs.iter().any(|addr| addr.is_ip() || addr.is_relay()) {
            return Next::Wait; // nothing dialable to advertise yet
        }
        let own = slots
            .iter()
            .enumerate()
            .filter_map(|(slot, state)| match state {
                Slot::Own(record) => Some((slot, record)),
                _ => None,
            })
            .max_by_key(|(_, record)| record.timestamp);
        if let Some((slot, record)) = own {
            // Present. Rewrite in place if our addresses changed, or when the
            // record is older than its TTL (DHT nodes drop unrefreshed values).
            let age = Duration::from_micros(now_micros().saturating_sub(record.timestamp));
            if record.matches(me) && age < self.config.record_ttl {
                return Next::Wait;
            }
            return self
                .publish(client, slot, Some(seq_of(record.timestamp)), me)
                .await;
        }
        // Absent. Waiting out the TTL after a publish tolerates DHT
        // propagation lag, but if another record now sits in the slot we
        // wrote, we were overwritten and look for another slot at once.
        let recently = self
            .published
            .is_some_and(|p| p.at.elapsed() < self.config.record_ttl);
        let overwritten = self
            .published
            .is_some_and(|p| matches!(slots[p.slot], Slot::Foreign { .. } | Slot::Malformed(_)));
        if recently && !overwritten {
            return Next::Wait;
        }
        let candidates: Vec<(usize, Free)> = slots
            .iter()
            .enumerate()
            .filter_map(|(slot, state)| state.free().map(|free| (slot, free)))
            .collect();
        if candidates.is_empty() {
            return Next::Wait; // every slot holds a healthy peer
        }
        let (slot, free) = candidates[rand::random_range(0..candidates.len())];
        self.publish(client, slot, free.cas(), me).await
    }

    /// Writes our record into `slot`, replacing the value with sequence
    /// number `cas`.
    async fn publish(
        &mut self,
        client: &SlotClient,
        slot: usize,
        cas: Option<i64>,
        me: &iroh::EndpointAddr,
    ) -> Next {
        // The new sequence number must exceed the replaced one even if our
        // clock is behind the previous writer's.
        let floor = cas.map_or(0, |seq| u64::try_from(seq).unwrap_or(0).saturating_add(1));
        let record = SlotRecord::from_endpoint_addr(me, now_micros().max(floor));
        let result = client
            .publish(&self.keypairs[slot], &record, self.config.record_ttl, cas)
            .await;
        match result {
            Ok(()) => {
                self.publishes.succeed();
                self.published = Some(Published {
                    slot,
                    at: Instant::now(),
                });
                tracing::debug!(slot, "published our DHT bootstrap record");
                Next::Wait
            }
            Err(PublishError::Lost) => {
                tracing::trace!(slot, "lost a DHT slot race; rescanning");
                Next::Rescan
            }
            Err(error) => {
                self.publishes.fail(&error);
                Next::Wait
            }
        }
    }
}

/// Now in microseconds since the Unix epoch (the pkarr timestamp unit).
fn now_micros() -> u64 {
    Timestamp::now().as_u64()
}

/// A record timestamp as a DHT sequence number.
fn seq_of(timestamp: u64) -> i64 {
    i64::try_from(timestamp).unwrap_or(i64::MAX)
}
