//! [`GroupBuilder`]: the typestate builder behind
//! `network.groups().with_key(key)` (the seed's API).

use {
    super::{
        ConsensusConfig, Group, GroupConfig, GroupId, GroupKey, Groups, InMemoryLogStore,
        JoinError, LeadershipPreference, NoOp, StateMachine, StateSync, Storage, When,
        bond::Acceptor,
        bonds::BondSet,
        group::Inner,
        messages::Standing,
        registry::Registered,
        telemetry::GroupView,
        transport::{Local, Members},
        when::Status,
        worker::{REQUEST_QUEUE, Setup, Worker, starts_catching_up, starts_empty},
    },
    crate::primitives::ShortFmtExt as _,
    crate::tickets::TicketValidator,
    std::sync::{Arc, Weak},
    tokio::sync::{mpsc, watch},
    tokio_util::sync::CancellationToken,
};

/// Capacity of the queue of finished handshakes into a worker.
const INCOMING_QUEUE: usize = 64;

/// Configures a group before joining it. `S` is the storage, `M` the state
/// machine; both start as `()`.
pub struct GroupBuilder<'g, S = (), M = ()> {
    groups: &'g Groups,
    key: GroupKey,
    consensus: Option<ConsensusConfig>,
    storage: S,
    state_machine: M,
    auth: Vec<Box<dyn TicketValidator>>,
}

impl<'g> GroupBuilder<'g, (), ()> {
    pub(super) fn new(groups: &'g Groups, key: GroupKey) -> Self {
        Self {
            groups,
            key,
            consensus: None,
            storage: (),
            state_machine: (),
            auth: Vec::new(),
        }
    }

    /// Sets the state machine (part of the group id); storage defaults to
    /// an [`InMemoryLogStore`].
    pub fn with_state_machine<SM: StateMachine>(
        self,
        state_machine: SM,
    ) -> GroupBuilder<'g, InMemoryLogStore<SM::Command>, SM> {
        GroupBuilder {
            groups: self.groups,
            key: self.key,
            consensus: self.consensus,
            storage: InMemoryLogStore::positions_only(),
            state_machine,
            auth: self.auth,
        }
    }

    /// Joins with the [`NoOp`] machine: leader tracking and membership only.
    pub fn join(self) -> Group<NoOp> {
        self.with_state_machine(NoOp).join()
    }
}

impl<'g, M: StateMachine> GroupBuilder<'g, InMemoryLogStore<M::Command>, M> {
    /// Replaces the log storage (not part of the group id).
    pub fn with_log_storage<S: Storage<M::Command>>(self, storage: S) -> GroupBuilder<'g, S, M> {
        GroupBuilder {
            groups: self.groups,
            key: self.key,
            consensus: self.consensus,
            storage,
            state_machine: self.state_machine,
            auth: self.auth,
        }
    }
}

impl<S, M> GroupBuilder<'_, S, M> {
    /// Sets the consensus configuration (its heartbeat settings and
    /// `min_quorum` are part of the group id).
    #[must_use]
    pub fn with_consensus_config(mut self, consensus: ConsensusConfig) -> Self {
        self.consensus = Some(consensus);
        self
    }

    /// Requires peers to hold a ticket this validator accepts. Repeatable;
    /// every validator must pass. Part of the group id (order matters).
    #[must_use]
    pub fn require_ticket(mut self, auth: impl TicketValidator) -> Self {
        self.auth.push(Box::new(auth));
        self
    }
}

impl<S, M: StateMachine> GroupBuilder<'_, S, M> {
    /// The group id [`GroupBuilder::join`] will join (collections name
    /// their storage directory after it before choosing the storage).
    pub(crate) fn group_id(&self) -> GroupId {
        GroupConfig::derive_id(
            &self.key,
            &self.consensus.clone().unwrap_or_default(),
            self.state_machine.signature(),
            self.state_machine.state_sync().signature(),
            &self.auth,
        )
    }
}

impl<S, M> GroupBuilder<'_, S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Joins the group. If this node already runs the same group id, returns
    /// another handle to it (this builder's machine, storage and timing are
    /// discarded).
    ///
    /// If this node runs the group id with another state machine type, the
    /// error is logged and the handle returned is terminated (every call
    /// answers `GroupTerminated`); [`try_join`](Self::try_join) returns the
    /// error instead. Never panics.
    pub fn join(self) -> Group<M> {
        let groups = self.groups;
        let fallback = (self.key, self.consensus.clone());
        match self.try_join_inner() {
            Ok(group) => group,
            Err(failed) => {
                let (err, config) = *failed;
                tracing::error!(%err, key = ?fallback.0, "group not joined");
                Group::terminated(
                    Arc::new(config),
                    groups.registry.clone(),
                    Members::Iroh(groups.discovery.clone()),
                )
            }
        }
    }

    /// Like [`join`](Self::join), but a group id this node already runs
    /// with another state machine type is an error.
    ///
    /// # Errors
    /// [`JoinError::TypeMismatch`].
    pub fn try_join(self) -> Result<Group<M>, JoinError> {
        self.try_join_inner().map_err(|failed| failed.0)
    }

    fn try_join_inner(self) -> Result<Group<M>, Box<(JoinError, GroupConfig)>> {
        let sync_signature = self.state_machine.state_sync().signature();
        let config = GroupConfig::new(
            self.key,
            self.consensus.unwrap_or_default(),
            self.state_machine.signature(),
            sync_signature,
            self.auth,
        );
        let group_id = *config.group_id();
        let groups = self.groups;
        let registry = groups.registry.clone();
        let storage = self.storage;
        let machine = self.state_machine;
        registry.clone().with(move |table| {
            if let Some(existing) = table.get(&group_id) {
                let Some(weak) = existing.handle.downcast_ref::<Weak<Inner<M>>>() else {
                    let err = JoinError::TypeMismatch {
                        group: group_id,
                        wanted: core::any::type_name::<M>(),
                    };
                    return Err(Box::new((err, config)));
                };
                if let Some(inner) = weak.upgrade() {
                    return Ok(Group::from_inner(inner));
                }
            }
            let config = Arc::new(config);
            let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
            let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
            let (status_tx, status) = watch::channel(Status::initial());
            let (bonds_tx, bonds) = watch::channel(BondSet::default());
            let cancel = CancellationToken::new();
            let failure = Arc::new(std::sync::OnceLock::new());
            // A member that starts catching up announces itself as an
            // observer from its very first handshake (see
            // `worker/rejoin.rs`).
            let (standing_tx, standing) = watch::channel(Standing {
                preference: if starts_catching_up(&storage) {
                    LeadershipPreference::Observer
                } else {
                    machine.leadership_preference()
                },
                history: !starts_empty(&storage),
            });
            let acceptor = Acceptor {
                config: config.clone(),
                standing,
                bonds: bonds.clone(),
                incoming: incoming_tx,
            };
            let generation = registry.next_generation();
            let (view, telemetry) = GroupView::new::<M>(&config, &status, &bonds);
            let inner = Arc::new(Inner {
                config,
                requests: requests_tx,
                when: When::new(status.clone()),
                status,
                bonds,
                cancel: cancel.clone(),
                registry: registry.clone(),
                generation,
                discovery: Members::Iroh(groups.discovery.clone()),
                network_label: groups.local.network_id().short().to_string(),
                detached: false,
                failure: failure.clone(),
            });
            let group = Group::from_inner(inner);
            table.insert(
                group_id,
                Registered {
                    generation,
                    handle: Box::new(group.downgrade()),
                    acceptor: acceptor.clone(),
                    view,
                },
            );
            groups.discovery.add_groups([group_id]);
            let network = [("network", groups.local.network_id().short().to_string())];
            metrics::gauge!("mosaik.groups.active", &network).increment(1.0);
            let setup = Setup {
                local: Local::Iroh(groups.local.clone()),
                discovery: Members::Iroh(groups.discovery.clone()),
                acceptor,
                handshake_timeout: groups.config.handshake_timeout,
                append_budget: groups
                    .config
                    .max_append_bytes
                    .min(groups.local.max_frame_size() / 2),
                storage,
                machine,
                requests,
                incoming,
                status: status_tx,
                bonds: bonds_tx,
                standing: standing_tx,
                cancel,
                failure,
                telemetry,
            };
            tokio::spawn(Worker::run(setup));
            Ok(group)
        })
    }
}
