//! Builds this node's [`View`] every interval and publishes it when it
//! changed. One sampler per dashboard: every HTTP client reads the latest
//! published snapshot, so the cost of sampling does not grow with clients.

use {
    super::{
        DashboardConfig,
        rows::{self, TagNames, channels, edge, peer},
        view::{Consumer, Election, Envelope, Group, Member, Producer, View},
    },
    crate::{
        PeerId,
        discovery::Discovery,
        groups::{Groups, telemetry::GroupSample},
        streams::Streams,
    },
    core::time::Duration,
    std::{
        collections::{BTreeSet, HashMap, VecDeque},
        sync::Arc,
        time::Instant,
    },
    tokio::sync::watch,
    tokio_util::sync::CancellationToken,
};

/// Leader changes kept per group (older ones are dropped).
pub(super) const MAX_ELECTIONS: usize = 16;

/// Rates are averaged over at least this long, so a short sampling
/// interval does not make them jump.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The node parts a dashboard reads.
#[derive(Clone)]
pub(crate) struct Sources {
    pub(crate) discovery: Discovery,
    pub(crate) streams: Streams,
    pub(crate) groups: Groups,
}

impl Sources {
    pub(crate) fn new(discovery: &Discovery, streams: &Streams, groups: &Groups) -> Self {
        Self {
            discovery: discovery.clone(),
            streams: streams.clone(),
            groups: groups.clone(),
        }
    }
}

/// One published snapshot: its version and its JSON text.
#[derive(Debug, Default)]
pub(super) struct Published {
    pub(super) version: u64,
    pub(super) json: String,
}

/// Starts the sampling task; the receiver always holds the latest
/// snapshot (one value, however many clients read it).
pub(super) fn spawn(
    sources: Sources,
    config: &DashboardConfig,
    cancel: CancellationToken,
) -> watch::Receiver<Arc<Published>> {
    let interval = config.interval;
    let mut sampler = Sampler {
        sources,
        tag_names: config.tag_names.clone(),
        max_collections: config.max_collections,
        rates: HashMap::new(),
        elections: HashMap::new(),
        last: None,
        version: 0,
    };
    let (tx, rx) = watch::channel(Arc::new(sampler.publish()));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Some(next) = sampler.sample() {
                tx.send_replace(Arc::new(next));
            }
        }
    });
    rx
}

struct Rate {
    since: Instant,
    base: u64,
    per_second: f64,
}

struct Sampler {
    sources: Sources,
    tag_names: TagNames,
    max_collections: usize,
    /// Per counter key: the window's start and the last computed rate.
    rates: HashMap<String, Rate>,
    /// Per group id: the last (term, leader) seen and the changes.
    elections: HashMap<String, (u64, Option<PeerId>, VecDeque<Election>)>,
    last: Option<View>,
    version: u64,
}

impl Sampler {
    /// The current view, published only if it differs from the last one.
    fn sample(&mut self) -> Option<Published> {
        let view = self.view();
        if self.last.as_ref() == Some(&view) {
            return None;
        }
        self.last = Some(view);
        Some(self.envelope())
    }

    fn publish(&mut self) -> Published {
        let view = self.view();
        self.last = Some(view);
        self.envelope()
    }

    fn envelope(&mut self) -> Published {
        self.version += 1;
        let view = self.last.as_ref().expect("a view was just stored");
        let json = serde_json::to_string(&Envelope {
            version: self.version,
            at_ms: chrono::Utc::now().timestamp_millis(),
            view,
        })
        .unwrap_or_default();
        Published {
            version: self.version,
            json,
        }
    }

    fn view(&mut self) -> View {
        let discovery = self.sources.discovery.clone();
        let catalog = discovery.catalog();
        let me = discovery.me();
        let node = me.id().to_string();
        let names = &self.tag_names;
        let mut peers = vec![peer(&me, true, None, names)];
        let mut edges = BTreeSet::new();
        for entry in catalog.signed_peers() {
            let rtt = catalog.rtt(entry.id());
            peers.push(peer(entry, false, rtt, names));
            edges.insert(edge(&node, &entry.id().to_string(), "known"));
        }
        let now = Instant::now();
        let mut live = BTreeSet::new();
        let producers = self.sources.streams.0.registry.samples();
        let producers = producers
            .into_iter()
            .map(|p| {
                let key = format!("p{}", p.stream_id);
                let rate = self.rate(&key, p.sent, now);
                live.insert(key);
                for c in &p.consumers {
                    edges.insert(edge(&node, &c.peer.to_string(), "stream"));
                }
                Producer {
                    stream: p.stream_id.to_string(),
                    datum: p.datum,
                    sent: p.sent,
                    dropped: p.dropped,
                    rate,
                    consumers: channels(&p.consumers),
                }
            })
            .collect();
        let consumers = self.sources.streams.0.consumers.sample();
        let consumers = consumers
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let key = format!("c{}/{i}", c.stream_id);
                let rate = self.rate(&key, c.received, now);
                live.insert(key);
                for p in &c.producers {
                    edges.insert(edge(&p.peer.to_string(), &node, "stream"));
                }
                Consumer {
                    stream: c.stream_id.to_string(),
                    datum: c.datum,
                    received: c.received,
                    rate,
                    producers: channels(&c.producers),
                }
            })
            .collect();
        self.rates.retain(|key, _| live.contains(key));
        let samples: Vec<GroupSample> = self
            .sources
            .groups
            .views()
            .iter()
            .map(crate::groups::telemetry::GroupView::sample)
            .collect();
        let mut groups = Vec::with_capacity(samples.len());
        for sample in &samples {
            for bond in &sample.bonds {
                edges.insert(edge(&node, &bond.to_string(), "bond"));
            }
            groups.push(self.group(sample, me.id()));
        }
        let network = catalog.network_id();
        let (collections, collections_total) =
            rows::collections(*me.id(), network, self.max_collections, &samples);
        let gossip_neighbors: Vec<String> = discovery
            .gossip_neighbor_list()
            .iter()
            .map(ToString::to_string)
            .collect();
        for neighbor in &gossip_neighbors {
            edges.insert(edge(&node, neighbor, "gossip"));
        }
        let seen: BTreeSet<&str> = groups.iter().map(|g: &Group| g.id.as_str()).collect();
        self.elections.retain(|id, _| seen.contains(id.as_str()));
        View {
            network: discovery.catalog().network_id().to_string(),
            node,
            peers,
            edges: edges.into_iter().collect(),
            producers,
            consumers,
            groups,
            collections,
            collections_total,
            gossip_neighbors,
        }
    }

    /// Per-second rate of counter `key` over the last window.
    fn rate(&mut self, key: &str, count: u64, now: Instant) -> f64 {
        let rate = self.rates.entry(key.to_owned()).or_insert(Rate {
            since: now,
            base: count,
            per_second: 0.0,
        });
        let elapsed = now.duration_since(rate.since);
        if elapsed >= RATE_WINDOW {
            #[allow(clippy::cast_precision_loss)]
            let moved = count.saturating_sub(rate.base) as f64;
            // One decimal: the page shows no more, and an unchanged rate
            // then leaves the view unchanged.
            rate.per_second = (moved / elapsed.as_secs_f64() * 10.0).round() / 10.0;
            rate.since = now;
            rate.base = count;
        }
        rate.per_second
    }

    fn group(&mut self, s: &GroupSample, me: &PeerId) -> Group {
        let id = s.id.to_string();
        let history = self
            .elections
            .entry(id.clone())
            .or_insert((0, None, VecDeque::new()));
        if s.leader.is_some() && (history.0, history.1) != (s.term, s.leader) {
            if history.2.len() == MAX_ELECTIONS {
                history.2.pop_front();
            }
            history.2.push_back(Election {
                at_ms: chrono::Utc::now().timestamp_millis(),
                term: s.term,
                leader: s.leader.map(|l| l.to_string()),
            });
            (history.0, history.1) = (s.term, s.leader);
        }
        let matched: HashMap<PeerId, u64> = s.matched.iter().copied().collect();
        let lead = |peer: &PeerId| {
            let matched = if s.is_leader && peer == me {
                Some(s.log_index)
            } else {
                matched.get(peer).copied()
            };
            Member {
                peer: peer.to_string(),
                matched,
                lag: matched.map(|m| s.log_index.saturating_sub(m)),
            }
        };
        let mut members: Vec<Member> = core::iter::once(me)
            .chain(s.bonds.iter().filter(|b| *b != me))
            .map(lead)
            .collect();
        members.sort_by(|a, b| a.peer.cmp(&b.peer));
        Group {
            kind: if s.machine.contains("mosaik::collections::") {
                "collection"
            } else {
                "group"
            },
            id,
            machine: s.machine,
            leader: s.leader.map(|l| l.to_string()),
            is_leader: s.is_leader,
            online: s.online,
            term: s.term,
            syncing: s.syncing,
            committed: s.committed,
            log_index: s.log_index,
            reverts: s.reverts,
            members,
            elections: history.2.iter().cloned().collect(),
        }
    }
}
