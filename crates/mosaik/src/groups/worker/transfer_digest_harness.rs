//! What the digest tests of [`Transfer`] share: a builder that records
//! installs, honest and forged content, and a driver that plays every peer.

use {
    super::super::*,
    crate::groups::{InvalidSnapshot, sync::digest::digest_items},
    core::ops::Range,
    iroh::SecretKey,
    mosaik_raft::Term,
    std::{
        collections::{BTreeMap, VecDeque},
        sync::{Arc, Mutex},
    },
};

/// Every snapshot installed, as its items in order.
#[derive(Default, Clone)]
pub(super) struct Installed(pub(super) Arc<Mutex<Vec<Vec<Bytes>>>>);

/// Keeps the raw items; `install` records them in [`Installed`].
pub(super) struct Store {
    ranges: BTreeMap<u64, Vec<Bytes>>,
    installed: Installed,
}

impl SnapshotBuilder<()> for Store {
    fn insert(&mut self, offset: u64, items: &[Bytes]) -> Result<(), InvalidSnapshot> {
        self.ranges.insert(offset, items.to_vec());
        Ok(())
    }

    fn install(self: Box<Self>, (): &mut ()) -> Result<(), InvalidSnapshot> {
        let items = self.ranges.into_values().flatten().collect();
        self.installed.0.lock().unwrap().push(items);
        Ok(())
    }
}

pub(super) fn peer() -> PeerId {
    SecretKey::generate().public()
}

pub(super) const ITEMS: u64 = 10;

pub(super) fn settings() -> TransferSettings {
    TransferSettings {
        fetch_batch_size: 3,
        snapshot_ttl: Duration::from_secs(10),
        snapshot_request_timeout: Duration::from_secs(10),
        fetch_timeout: Duration::from_secs(5),
    }
}

/// The honest content of `range`.
pub(super) fn honest(range: &Range<u64>) -> Vec<Bytes> {
    let n = usize::try_from(range.end - range.start).unwrap();
    vec![Bytes::from_static(b"ok"); n]
}

/// `range` with its first item forged: well-formed, so only the digest
/// can tell.
pub(super) fn forged(range: &Range<u64>) -> Vec<Bytes> {
    let mut items = honest(range);
    items[0] = Bytes::from_static(b"forged");
    items
}

/// The leader's snapshot (honest content) and one at the same anchor with
/// other content (`ITEMS` forged items).
pub(super) fn snapshots() -> (SnapshotInfo, SnapshotInfo) {
    let ours = SnapshotInfo {
        anchor: Cursor::new(Term::new(1, peer()), Index(100)),
        items: ITEMS,
        digest: Some(digest_items(&honest(&(0..ITEMS)))),
    };
    let other: Vec<Bytes> = (0..ITEMS).flat_map(|i| forged(&(i..i + 1))).collect();
    let theirs = SnapshotInfo {
        digest: Some(digest_items(&other)),
        ..ours
    };
    (ours, theirs)
}

/// `info` as offered before its holder digested it.
pub(super) fn undigested(info: SnapshotInfo) -> SnapshotInfo {
    SnapshotInfo {
        digest: None,
        ..info
    }
}

/// How the played peers answer a query.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Queries {
    /// With the digests of their offers (holders that computed them).
    Digested,
    /// Without any digest, as holders do until asked for one; a digest
    /// request gets the digested offer.
    Undigested,
}

/// What a driven transfer did.
#[derive(Default)]
pub(super) struct Run {
    /// The digest of the snapshot handed out for install, if any.
    pub(super) done: Option<Digest>,
    /// Every fetch in order: (to whom, mismatches before it).
    pub(super) fetches: Vec<(PeerId, u64)>,
    pub(super) mismatches: u64,
    /// Every peer asked for its digest, in order.
    pub(super) digest_asks: Vec<PeerId>,
}

/// Plays every peer until the transfer finishes or stalls: queries are
/// answered with `offers` (as `queries` says), digest requests with
/// `offers`, fetches with `answer`, each at once, in order. A finished
/// snapshot is installed into `installed`.
pub(super) fn drive(
    t: &mut Transfer<()>,
    sends: Sends,
    (offers, queries): (&BTreeMap<PeerId, Vec<SnapshotInfo>>, Queries),
    answer: impl Fn(PeerId, &Range<u64>) -> Vec<Bytes>,
    installed: &Installed,
) -> Run {
    let mut queue = VecDeque::from(sends);
    let mut run = Run::default();
    let builder = store(installed);
    while let Some((p, msg)) = queue.pop_front() {
        assert!(run.fetches.len() < 200, "the transfer does not converge");
        let (more, progress) = match msg {
            SyncMessage::Query { .. } => {
                let mut offer = offers.get(&p).cloned().unwrap_or_default();
                if queries == Queries::Undigested {
                    offer = offer.into_iter().map(undigested).collect();
                }
                t.offer(p, offer, builder)
            }
            SyncMessage::Digest { .. } => {
                run.digest_asks.push(p);
                let offer = offers.get(&p).cloned().unwrap_or_default();
                t.offer(p, offer, builder)
            }
            SyncMessage::Fetch { anchor, range } => {
                run.fetches.push((p, run.mismatches));
                t.data(p, anchor, range.start, &answer(p, &range))
            }
            SyncMessage::Offer { .. } | SyncMessage::Data { .. } => continue,
        };
        run.mismatches += t.take_mismatches();
        queue.extend(more);
        if let Progress::Done {
            digest, builder, ..
        } = progress
        {
            builder.install(&mut ()).expect("installs");
            run.done = Some(digest);
            break;
        }
    }
    run
}

/// Makes builders that install into `installed`.
pub(super) fn store(
    installed: &Installed,
) -> impl Fn() -> Option<Box<dyn SnapshotBuilder<()>>> + Copy {
    move || {
        Some(Box::new(Store {
            ranges: BTreeMap::new(),
            installed: installed.clone(),
        }))
    }
}

pub(super) fn peers_fetched(run: &Run) -> BTreeSet<PeerId> {
    run.fetches.iter().map(|(p, _)| *p).collect()
}
