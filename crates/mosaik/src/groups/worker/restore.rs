//! Restoring a worker from storage at start: the engine's durable state,
//! and the machine from the stored snapshot when the log was pruned.

use {
    super::Cmd,
    crate::{
        PeerId,
        groups::{StateMachine, Storage, storage::StorageError},
    },
    mosaik_raft::Restored,
};

/// The engine's durable state and, when the log was pruned, the machine
/// rebuilt from the stored snapshot with its position.
pub(super) type RestoredState<M, C> = (
    Restored<PeerId, Cmd<C>>,
    Option<(mosaik_raft::Cursor<PeerId>, M)>,
);

/// Rebuilds the engine's durable state from storage. Without a stored
/// snapshot the machine starts empty and `applied` is 0 (a log with a base
/// past 0 but no snapshot cannot be restored: the pruned prefix would be
/// lost). With one, the machine is the snapshot installed into the initial
/// value and `applied` its index; entries after it replay as they
/// re-commit. A snapshot past the log's end (a crash between saving an
/// installed snapshot and resetting the log) or disagreeing with the log
/// resets the log to it.
pub(super) async fn restore<
    C: crate::groups::Command,
    S: Storage<C>,
    M: StateMachine<Command = C>,
>(
    storage: &mut S,
    sync: &M::StateSync,
    pristine: &M,
) -> Result<RestoredState<M, C>, StorageError> {
    let hard_state = storage.hard_state()?;
    let mut base = storage.base();
    let stored = storage.snapshot()?;
    let snapshot = match stored {
        Some(snapshot) if snapshot.at.index > mosaik_raft::Index::ZERO => {
            let machine = super::compaction::decode_snapshot(sync, pristine, &snapshot.data)
                .map_err(|err| StorageError::Corrupt {
                    file: "snapshot".into(),
                    offset: 0,
                    reason: format!(
                        "the stored snapshot at {} does not decode: {err}",
                        snapshot.at.index
                    ),
                })?;
            if snapshot.at.index < base.index {
                return Err(StorageError::Corrupt {
                    file: "snapshot".into(),
                    offset: 0,
                    reason: format!(
                        "the stored snapshot at {} is older than the log base {}",
                        snapshot.at.index, base.index
                    ),
                });
            }
            if storage.term_at(snapshot.at.index)? != Some(snapshot.at.term) {
                tracing::warn!(
                    snapshot = snapshot.at.index.0,
                    last = storage.last().index.0,
                    "the log does not hold the stored snapshot's position: reset to it"
                );
                storage.reset_to(snapshot.at)?;
                storage.flush().await?;
                base = snapshot.at;
            }
            Some((snapshot.at, machine))
        }
        _ if base.index > mosaik_raft::Index::ZERO => {
            return Err(StorageError::Corrupt {
                file: "snapshot".into(),
                offset: 0,
                reason: format!(
                    "the log was pruned up to {} but no snapshot is stored: refusing to start \
                     without the pruned state",
                    base.index
                ),
            });
        }
        _ => None,
    };
    let entries = storage
        .get_range(&storage.available())?
        .into_iter()
        .map(|(_, e)| mosaik_raft::Entry {
            term: e.term,
            payload: match e.payload {
                mosaik_raft::Payload::Noop => mosaik_raft::Payload::Noop,
                mosaik_raft::Payload::Command(c) => mosaik_raft::Payload::Command(Cmd::new(c)),
            },
        });
    let applied = snapshot.as_ref().map_or(base.index, |(at, _)| at.index);
    Ok((
        Restored {
            hard_state,
            log: mosaik_raft::Log::from_parts(base, entries),
            applied,
        },
        snapshot,
    ))
}
