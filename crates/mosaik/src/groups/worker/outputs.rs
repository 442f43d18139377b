//! Output side of the driver: carrying out the engine's outputs in order
//! (persist before anything that depends on it), applying committed
//! entries in per-term batches, publishing status.

use {
    super::{Worker, gauge},
    crate::{
        PeerId,
        groups::{
            Cursor, QueryError, QueryResultAt, StateMachine, Storage,
            machine::BatchContext,
            messages::{BondMessage, Cmd},
            storage::{LogEntry, StorageError},
            types::engine as map,
            when::Status,
        },
        primitives::background::drop_entries,
    },
    mosaik_raft::{Output, Role},
};

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Carries out the engine's outputs in order (group commit): a run of
    /// `Persist*` outputs is written to storage without waiting, and one
    /// `flush` makes it durable right before the first output that depends
    /// on it (anything that leaves the member or is applied). Compacts the
    /// log (when the sync strategy snapshots) once the outputs are carried
    /// out, and drains what the compaction produced. Everything written is
    /// durable when this returns, except in strict mode a hard state that
    /// only moves the commit record, which goes with the next sync
    /// (`commit_record_only`).
    ///
    /// One exception (Raft thesis §10.2.1): while everything unflushed is
    /// log appends made in this drain, a leader's `AppendEntries` leave
    /// before its flush, so the followers' flushes run while the leader's
    /// does. It stays safe because the leader's own copy is counted for
    /// commit only after its flush: the engine sees no input between those
    /// sends and the flush (every other output, including those whose
    /// handlers feed the engine, waits for the flush, and this drain ends
    /// with one), so the follower acknowledgements that could commit the
    /// entries are handled when the leader's copy is durable.
    pub(super) async fn drain(&mut self) -> Result<(), StorageError> {
        // Everything unflushed so far is appends of this drain (nothing
        // unflushed at all at its start: writes made elsewhere, e.g. by
        // compaction, are not known to be appends).
        let mut appends_only = !self.unflushed;
        // The engine emits a proposal's `ProposeResult` before the step's
        // `AppendEntries`; it is client bookkeeping only (it neither feeds
        // the engine nor reads storage), so it waits here for the flush and
        // the sends go first.
        let mut deferred = Vec::new();
        loop {
            while let Some(output) = self.engine.poll_output() {
                if output.is_persist() {
                    appends_only &= output.is_plain_append(self.storage.last().index)
                        || matches!(&output, Output::PersistHardState(state)
                            if self.commit_record_only(state));
                    self.persist(output)?;
                    continue;
                }
                let early = appends_only && self.unflushed;
                if early && matches!(output, Output::ProposeResult { .. }) {
                    deferred.push(output);
                    continue;
                }
                if !(early && output.is_append_entries()) {
                    self.flush().await?;
                    appends_only = true;
                    for held in deferred.drain(..) {
                        self.output(held)?;
                    }
                }
                self.output(output)?;
            }
            self.drop_obsolete_transfer();
            if !self.compact() {
                break;
            }
            // Compaction may have written a snapshot or a prune.
            appends_only = !self.unflushed;
        }
        self.flush().await?;
        for held in deferred {
            self.output(held)?;
        }
        self.note_history();
        self.publish_status();
        Ok(())
    }

    /// Awaits the storage's durability barrier if anything that must be
    /// durable was written since the last one.
    pub(super) async fn flush(&mut self) -> Result<(), StorageError> {
        if self.unflushed {
            self.storage.flush().await?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Writes one `Persist*` output to storage (buffered: durable at the
    /// next `flush`). The index `append_entries` returns is checked: a store
    /// that put the entries anywhere else stops the group.
    fn persist(&mut self, output: Output<PeerId, Cmd<M::Command>>) -> Result<(), StorageError> {
        if let Output::PersistHardState(state) = output {
            if !self.commit_record_only(&state) {
                self.unflushed = true;
            }
            self.written_hard = Some(state);
            return self.storage.set_hard_state(state);
        }
        self.unflushed = true;
        match output {
            Output::PersistLog {
                truncate_from,
                first_index,
                append,
            } => {
                if let Some(at) = truncate_from {
                    self.storage.truncate(at)?;
                }
                if append.is_empty() {
                    return Ok(());
                }
                if self.storage.last().index.next() != first_index {
                    self.storage.truncate(first_index)?;
                }
                // The positions-only store gets no commands (nothing
                // reads them), so none is copied for it.
                let commands = self.storage.keeps_commands();
                let entries = append
                    .into_iter()
                    .map(|entry| {
                        Ok(LogEntry {
                            term: entry.term,
                            payload: match entry.payload {
                                mosaik_raft::Payload::Command(c) if commands => {
                                    mosaik_raft::Payload::Command(
                                        c.into_value().map_err(undecodable)?,
                                    )
                                }
                                _ => mosaik_raft::Payload::Noop,
                            },
                        })
                    })
                    .collect::<Result<Vec<LogEntry<M::Command>>, StorageError>>()?;
                let expected = first_index + (entries.len() as u64 - 1);
                let count = entries.len();
                let last = self.storage.append_owned(first_index, entries)?;
                if last != expected || self.storage.last().index != expected {
                    return Err(StorageError::contract(format!(
                        "append of {} entries at {first_index} ended at {last} (storage last {}), \
                         expected {expected}",
                        count,
                        self.storage.last().index
                    )));
                }
                Ok(())
            }
            Output::PersistLogPrune { up_to, pruned } => {
                // A compaction interval of commands: freeing them here held
                // the loop for 1–3 ms at every B6 compaction (1,000 commands
                // of 1 KiB), and the writes behind it waited.
                drop_entries("pruned", pruned);
                self.persist_prune(up_to)
            }
            Output::PersistLogReset { base } => self.persist_reset(base),
            other => self.output(other),
        }
    }

    /// Strict mode: `state` changes only what the member knows committed
    /// (commit index, weight, peak) since the last hard state written. Such
    /// a record waits for the next sync instead of holding up what follows
    /// (an answer to a client, an acknowledgement): the commit index is
    /// volatile in Raft, and a member restarted with an older one learns it
    /// from the leader again. The only reader of a durable commit record is
    /// the dynamic-mode merge rule, which strict mode never reaches (its
    /// quorums intersect). Saves one `fdatasync` per commit on the leader's
    /// path, and the followers' own sync after each append.
    fn commit_record_only(&self, state: &super::super::HardState) -> bool {
        self.acceptor.config.consensus().min_quorum.is_some()
            && self
                .written_hard
                .is_some_and(|w| state.moves_only_commit(&w))
    }

    /// Carries out one output that is not a `Persist*` (storage is durable).
    pub(super) fn output(
        &mut self,
        output: Output<PeerId, Cmd<M::Command>>,
    ) -> Result<(), StorageError> {
        match output {
            Output::PersistHardState(_)
            | Output::PersistLog { .. }
            | Output::PersistLogPrune { .. }
            | Output::PersistLogReset { .. } => self.persist(output)?,
            Output::Send { to, msg } => {
                tracing::trace!(to = %to.fmt_short(), ?msg, "send");
                if let Some(bond) = self.bonds.get(&to) {
                    // Best effort: a full queue drops the message and the
                    // engine retransmits.
                    let _ = bond.out.try_send(BondMessage::Raft(msg));
                }
            }
            Output::Apply { entries } => self.apply(entries)?,
            Output::Reverted {
                to,
                discarded,
                replay_from,
            } => self.reverted(to, discarded, replay_from)?,
            Output::CommitAdvanced(index) => {
                self.committed.1 = map::index(index);
                self.committed_gauge.set(gauge(index.0));
                self.sync_committed();
            }
            Output::NeedLogFetch { up_to, .. } => self.need_log_fetch(up_to),
            Output::RoleChanged(role) => {
                tracing::debug!(?role, "role changed");
                if role != Role::Follower {
                    // Only a follower takes fetched entries.
                    self.end_session();
                }
                if role == Role::Candidate {
                    metrics::counter!("mosaik.groups.raft.elections", self.labels.as_ref())
                        .increment(1);
                }
            }
            Output::LeaderChanged(leader) => {
                tracing::debug!(leader = ?leader.map(|l| l.fmt_short().to_string()), "leader changed");
                metrics::counter!("mosaik.groups.raft.leader.changes", self.labels.as_ref())
                    .increment(1);
            }
            Output::CaughtUp => self.caught_up(),
            Output::ProposeResult { request_id, result } => {
                self.proposals.assigned(request_id, result);
            }
            Output::Committed { request_id, result } => {
                self.proposals.committed(request_id, &result);
            }
            Output::ReadReady { request_id, .. } => {
                if let Some((query, reply)) = self.reads.remove(&request_id) {
                    let result = self.machine.query(query);
                    let _ = reply.send(Ok(QueryResultAt {
                        result,
                        at_position: self.committed.1,
                    }));
                }
            }
            Output::ReadFailed { request_id } => {
                if let Some((query, reply)) = self.reads.remove(&request_id) {
                    let _ = reply.send(Err(QueryError::Offline(query)));
                }
            }
            Output::NeedStateSync { leader, base } => {
                tracing::debug!(leader = %leader.fmt_short(), base = base.index.0, "state sync needed");
                self.need_state_sync(leader, base);
            }
        }
        Ok(())
    }

    /// Dynamic-mode heal: our committed suffix lost. The machine restarts
    /// from its initial value and the engine replays the surviving log.
    fn reverted(
        &mut self,
        to: mosaik_raft::Index,
        discarded: u64,
        replay_from: mosaik_raft::Cursor<PeerId>,
    ) -> Result<(), StorageError> {
        tracing::warn!(
            to = to.0,
            discarded,
            "committed entries discarded after a partition healed"
        );
        metrics::counter!("mosaik.groups.raft.discarded", self.labels.as_ref())
            .increment(discarded);
        self.restore_to(to, replay_from)?;
        self.committed = map::cursor(replay_from);
        self.status.send_modify(|s| {
            s.committed = self.committed.1;
            s.commit_reverts += 1;
        });
        Ok(())
    }

    /// Applies committed entries, one `apply_batch` per run of equal terms,
    /// split at snapshot anchors: the snapshot due at an anchor is taken
    /// right before the first command after it (the machine reflects
    /// exactly the anchor then, as noops change nothing).
    pub(super) fn apply(
        &mut self,
        entries: Vec<(
            mosaik_raft::Index,
            mosaik_raft::Term<PeerId>,
            Cmd<M::Command>,
        )>,
    ) -> Result<(), StorageError> {
        let log_position = map::cursor(self.engine.last_log());
        let group_id = *self.acceptor.config.group_id();
        let network_id = self.local.network_id();
        let mut iter = entries.into_iter().peekable();
        let before = |index: mosaik_raft::Index| mosaik_raft::Index(index.0.saturating_sub(1));
        while let Some((index, term, first)) = iter.next() {
            if let Some(anchor) = self.anchor_due(before(index)) {
                self.snapshot_at(anchor);
            }
            let mut batch = vec![first.into_applied().map_err(undecodable)?];
            let mut last = index;
            while let Some((next, _, command)) =
                iter.next_if(|(i, t, _)| *t == term && self.anchor_due(before(*i)).is_none())
            {
                batch.push(command.into_applied().map_err(undecodable)?);
                last = next;
            }
            let ctx = BatchContext {
                committed: self.committed,
                log_position,
                term: map::term(term),
                group_id,
                network_id,
            };
            self.machine.apply_batch(batch, &ctx);
            self.committed = Cursor(map::term(term), map::index(last));
        }
        Ok(())
    }

    pub(super) fn publish_status(&self) {
        let leader = self.engine.leader();
        let is_leader = self.engine.is_leader();
        let next = Status {
            leader,
            is_leader,
            online: is_leader || (self.engine.role() == Role::Follower && leader.is_some()),
            committed: self.committed.1,
            log: map::cursor(self.engine.last_log()),
            commit_reverts: 0,
            log_reverts: 0,
        };
        self.telemetry.publish(super::super::telemetry::Telemetry {
            term: self.engine.term().round(),
            // Any of these means the local state is still being brought
            // up to the group's: an empty-log catch-up, a snapshot
            // transfer, or a log fetch toward a state-sync target.
            syncing: self.engine.is_catching_up()
                || self.transfer.is_some()
                || self.session.is_some()
                || self.sync_target.is_some(),
            matched: self
                .engine
                .progress()
                .map(|progress| {
                    progress
                        .iter()
                        .map(|(peer, p)| (*peer, p.match_index.0))
                        .collect()
                })
                .unwrap_or_default(),
        });
        self.status.send_if_modified(|s| {
            let log_reverts = s.log_reverts + u64::from(next.log < s.log);
            let updated = Status {
                commit_reverts: s.commit_reverts,
                log_reverts,
                ..next
            };
            let changed = *s != updated;
            *s = updated;
            changed
        });
    }
}

/// A command in the log whose bytes do not decode when its value is needed
/// again (see `Cmd`): only a `Datum` that breaks its contract gets here
/// (`decode` refuses what `encode` made, or what it accepted once), and
/// the group stops rather than apply something else.
fn undecodable(err: impl core::fmt::Display) -> StorageError {
    tracing::error!(%err, "a command in the log no longer decodes");
    StorageError::new(format!("a command in the log no longer decodes: {err}"))
}
