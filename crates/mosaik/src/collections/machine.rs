//! The one state machine behind every collection: [`Machine`] wraps a
//! kind-specific [`CollectionState`] (a persistent `imbl` structure plus its
//! deterministic `apply`) and publishes every applied state into a `watch`
//! that all local handles of the store read synchronously.

use {
    crate::{
        StoreId, UniqueId,
        groups::{
            ApplyContext, Command, EncodeItemError, LeadershipPreference, Snapshot, SnapshotItem,
            SnapshotStateMachine, SnapshotSync, StateMachine, encode_each, encode_item,
        },
        primitives::ShortFmtExt as _,
    },
    core::ops::ControlFlow,
    std::sync::Arc,
    tokio::sync::watch,
};

/// The replicated data of one collection kind.
pub(crate) trait CollectionState: Default + Clone + Send + Sync + 'static {
    /// The log entries.
    type Command: Command;
    /// One element of a snapshot.
    type Item: SnapshotItem;
    /// Kind name in the signature (`mosaik_collections_<kind>`).
    const KIND: &'static str;
    /// Name of the size gauge.
    const SIZE_METRIC: &'static str;

    /// Applies one committed command. Deterministic; never panics (the
    /// command comes from the replicated log).
    fn apply(&mut self, command: Self::Command);

    /// Number of elements (the size gauge; also the snapshot's item count).
    fn len(&self) -> u64;

    /// The snapshot items, in the structure's deterministic order (tests
    /// read whole states; serving reads ranges through `items_from`).
    #[cfg(test)]
    fn items(&self) -> impl Iterator<Item = Self::Item> + '_ {
        self.items_from(0)
    }

    /// The snapshot items after the first `skip`, in the same order. The
    /// skipped ones are passed over without being cloned: a snapshot is
    /// served and digested in ranges, and `items().skip(n)` cloned (and
    /// dropped) every item before the range, which made a transfer of a
    /// large map quadratic in copied bytes.
    fn items_from(&self, skip: usize) -> impl Iterator<Item = Self::Item> + '_;

    /// Encodes `take` items after the first `skip`, in `items_from`'s
    /// order, handing each encoding to `each` until it breaks. The default
    /// encodes what `items_from` yields; states that hold their values
    /// override it to encode from references (a digest or a served range
    /// then copies no value before encoding it).
    fn encode_from(
        &self,
        skip: usize,
        take: usize,
        each: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<(), EncodeItemError> {
        let items = self.items_from(skip).take(take);
        encode_each(items, |item, buf| encode_item(&item, buf), each)
    }

    /// Adds one item while a snapshot is rebuilt.
    fn push_item(&mut self, item: Self::Item);

    /// Signature of the state machine: kind, store and type parameters
    /// (the type name carries them, including a queue's `CAP`).
    fn signature(store: StoreId) -> UniqueId {
        UniqueId::from(format!("mosaik_collections_{}", Self::KIND).as_str())
            .derive(store.as_bytes())
            .derive(core::any::type_name::<Self>())
    }
}

/// A collection's state machine: the state, its role and where it
/// publishes.
pub(crate) struct Machine<S: CollectionState> {
    state: S,
    signature: UniqueId,
    writer: bool,
    sync: SnapshotSync<Self>,
    publish: Arc<watch::Sender<S>>,
    /// Applied states below this index are not published: a node that
    /// rejoins as a writer replays from scratch and must not show its
    /// handles an older state than they already saw.
    publish_from: u64,
}

impl<S: CollectionState> Clone for Machine<S> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            signature: self.signature,
            writer: self.writer,
            sync: self.sync.clone(),
            publish: self.publish.clone(),
            publish_from: self.publish_from,
        }
    }
}

impl<S: CollectionState> Machine<S> {
    pub(crate) fn new(
        store: StoreId,
        writer: bool,
        sync: SnapshotSync<Self>,
        publish: Arc<watch::Sender<S>>,
        publish_from: u64,
    ) -> Self {
        Self {
            state: S::default(),
            signature: S::signature(store),
            writer,
            sync,
            publish,
            publish_from,
        }
    }

    fn publish(&self) {
        self.publish.send_replace(self.state.clone());
    }
}

impl<S: CollectionState> StateMachine for Machine<S> {
    type Command = S::Command;
    // Reads are served from the local replica (the published watch).
    type Query = ();
    type QueryResult = ();
    type StateSync = SnapshotSync<Self>;

    fn signature(&self) -> UniqueId {
        self.signature
    }

    fn apply(&mut self, command: S::Command, ctx: &dyn ApplyContext) {
        self.apply_batch([command], ctx);
    }

    fn apply_batch(
        &mut self,
        commands: impl IntoIterator<Item = S::Command>,
        ctx: &dyn ApplyContext,
    ) {
        let mut applied = 0;
        for command in commands {
            self.state.apply(command);
            applied += 1;
        }
        if ctx.committed().1.0 + applied >= self.publish_from {
            self.publish();
        }
        let labels = [
            ("network", ctx.network_id().short().to_string()),
            ("group", ctx.group_id().short().to_string()),
        ];
        #[allow(clippy::cast_precision_loss)] // a gauge; precision loss past 2^53 is fine
        metrics::gauge!(S::SIZE_METRIC, &labels).set(self.state.len() as f64);
    }

    fn query(&self, (): ()) {}

    fn state_sync(&self) -> Self::StateSync {
        self.sync.clone()
    }

    fn leadership_preference(&self) -> LeadershipPreference {
        if self.writer {
            LeadershipPreference::Normal
        } else {
            LeadershipPreference::Observer
        }
    }
}

/// A snapshot: an O(1) clone of the persistent state, read in ranges.
#[derive(Clone, Default)]
pub(crate) struct StateSnapshot<S>(pub(crate) S);

impl<S: CollectionState> Snapshot for StateSnapshot<S> {
    type Item = S::Item;

    fn len(&self) -> u64 {
        self.0.len()
    }

    fn iter_range(
        &self,
        range: core::ops::Range<u64>,
    ) -> Option<impl Iterator<Item = S::Item> + '_> {
        if range.end > self.len() || range.start > range.end {
            return None;
        }
        let skip = usize::try_from(range.start).ok()?;
        let take = usize::try_from(range.end - range.start).ok()?;
        Some(self.0.items_from(skip).take(take))
    }

    fn append(&mut self, items: impl IntoIterator<Item = S::Item>) {
        for item in items {
            self.0.push_item(item);
        }
    }

    fn encode_range(
        &self,
        range: core::ops::Range<u64>,
        each: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Option<Result<(), EncodeItemError>> {
        if range.end > self.len() || range.start > range.end {
            return None;
        }
        let skip = usize::try_from(range.start).ok()?;
        let take = usize::try_from(range.end - range.start).ok()?;
        Some(self.0.encode_from(skip, take, each))
    }
}

impl<S: CollectionState> SnapshotStateMachine for Machine<S> {
    type Snapshot = StateSnapshot<S>;

    fn create_snapshot(&self) -> StateSnapshot<S> {
        StateSnapshot(self.state.clone())
    }

    fn install_snapshot(&mut self, snapshot: StateSnapshot<S>) {
        self.state = snapshot.0;
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        crate::collections::vec_state::{VecCommand, VecState},
        crate::primitives::{Datum, Encoded},
    };

    #[test]
    fn snapshot_ranges_are_bounded_and_ordered() {
        let mut state = VecState::<u32>::default();
        state.apply(VecCommand::Extend {
            entries: (0..10).map(Encoded).collect(),
        });
        let snapshot = StateSnapshot(state);
        let part: std::vec::Vec<u32> = snapshot.iter_range(3..6).unwrap().map(|e| e.0).collect();
        assert_eq!(part, [3, 4, 5]);
        assert!(snapshot.iter_range(5..11).is_none(), "past the end");
        #[allow(clippy::reversed_empty_ranges)]
        let inverted = snapshot.iter_range(6..3);
        assert!(inverted.is_none());
        assert_eq!(snapshot.iter_range(10..10).unwrap().count(), 0);
        // Rebuilding from ranges gives the same state.
        let mut copy = StateSnapshot::<VecState<u32>>::default();
        copy.append(snapshot.iter_range(0..4).unwrap());
        copy.append(snapshot.iter_range(4..10).unwrap());
        assert_eq!(copy.0.items, snapshot.0.items);
    }

    /// `encode_range` of `snapshot` over `range`, item by item.
    fn encoded<S: CollectionState>(
        snapshot: &StateSnapshot<S>,
        range: core::ops::Range<u64>,
    ) -> Option<std::vec::Vec<std::vec::Vec<u8>>> {
        let mut out = std::vec::Vec::new();
        snapshot
            .encode_range(range, &mut |item| {
                out.push(item.to_vec());
                ControlFlow::Continue(())
            })?
            .unwrap();
        Some(out)
    }

    /// What the digest and the provider send must be what an item encodes
    /// to (peers of earlier versions, and the receiver's digest check, use
    /// `iter_range` and `Datum::encode`): the map, set and vec encode from
    /// references, every range gives the same bytes.
    fn encode_range_matches_the_items<S: CollectionState>(state: S) {
        let snapshot = StateSnapshot(state);
        let len = snapshot.len();
        for range in [
            0..len,
            0..1,
            1..len,
            len / 2..len,
            len / 3..len / 2,
            len..len,
        ] {
            let want: std::vec::Vec<std::vec::Vec<u8>> = snapshot
                .iter_range(range.clone())
                .unwrap()
                .map(|item| item.encode().unwrap().to_vec())
                .collect();
            assert_eq!(encoded(&snapshot, range.clone()), Some(want), "{range:?}");
        }
        assert!(encoded(&snapshot, 0..len + 1).is_none(), "past the end");
        // `each` stops the walk.
        let mut seen = 0;
        snapshot
            .encode_range(0..len, &mut |_| {
                seen += 1;
                ControlFlow::Break(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn collections_encode_ranges_from_references_as_their_items_encode() {
        use crate::collections::{
            map_state::{MapCommand, MapState},
            set_state::{SetCommand, SetState},
        };
        let value = |i: u32| bytes::Bytes::from(vec![(i % 251) as u8; (i as usize * 37) % 300]);
        let mut map = MapState::<u32, bytes::Bytes>::default();
        map.apply(MapCommand::Extend {
            entries: (0..200).map(|i| (Encoded(i), Encoded(value(i)))).collect(),
        });
        encode_range_matches_the_items(map);
        let mut set = SetState::<String>::default();
        set.apply(SetCommand::Extend(
            (0..200).map(|i| Encoded(format!("member-{i}"))).collect(),
        ));
        encode_range_matches_the_items(set);
        let mut vec = VecState::<bytes::Bytes>::default();
        vec.apply(VecCommand::Extend {
            entries: (0..200).map(|i| Encoded(value(i))).collect(),
        });
        encode_range_matches_the_items(vec);
    }
}
