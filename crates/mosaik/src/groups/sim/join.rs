//! [`SimNet::join`]: a group member on a simulated machine, built as
//! `GroupBuilder::join` builds one, with the simulated transport and disk.

use {
    super::{SimNet, store::Disk, store::SimStore},
    crate::groups::{
        ConsensusConfig, Group, GroupConfig, GroupKey, LeadershipPreference, StateMachine,
        StateSync, When,
        bond::Acceptor,
        bonds::BondSet,
        group::Inner,
        messages::Standing,
        registry::Registry,
        transport::{Local, Members},
        when::Status,
        worker::{REQUEST_QUEUE, Setup, Worker, starts_catching_up, starts_empty},
    },
    std::sync::Arc,
    tokio::sync::{mpsc, watch},
    tokio_util::sync::CancellationToken,
};

/// Capacity of the queue of finished handshakes (as `builder.rs`).
const INCOMING_QUEUE: usize = 64;

impl SimNet {
    /// Starts a new process on machine `slot` (crashing the running one)
    /// and joins the group of `key`/`consensus` with `machine`, on the
    /// storage `disk` kept. Must run inside the simulation's runtime.
    pub fn join<M: StateMachine>(
        &self,
        slot: usize,
        key: GroupKey,
        consensus: ConsensusConfig,
        disk: &Disk<M::Command>,
        machine: M,
    ) -> Group<M> {
        let node = self.start(slot);
        let storage = SimStore::open(disk, node.termination().clone());
        let config = Arc::new(GroupConfig::new(
            key,
            consensus,
            machine.signature(),
            machine.state_sync().signature(),
            Vec::new(),
        ));
        let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
        let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
        let (status_tx, status) = watch::channel(Status::initial());
        let (bonds_tx, bonds) = watch::channel(BondSet::default());
        let cancel = CancellationToken::new();
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
        let failure = Arc::new(std::sync::OnceLock::new());
        let inner = Arc::new(Inner {
            config,
            requests: requests_tx,
            when: When::new(status.clone()),
            status,
            bonds,
            cancel: cancel.clone(),
            registry: Arc::new(Registry::default()),
            generation: 1,
            discovery: Members::Sim(node.clone()),
            network_label: format!("sim{slot}"),
            detached: false,
            failure: failure.clone(),
        });
        node.add_group(acceptor.clone());
        let setup = Setup {
            local: Local::Sim(node.clone()),
            discovery: Members::Sim(node),
            acceptor,
            handshake_timeout: crate::groups::Config::default().handshake_timeout,
            append_budget: crate::groups::Config::default().max_append_bytes,
            storage,
            machine,
            requests,
            incoming,
            status: status_tx,
            bonds: bonds_tx,
            standing: standing_tx,
            cancel,
            failure,
            telemetry: crate::groups::telemetry::SharedTelemetry::default(),
        };
        // Every line the worker logs names its machine (`MOSAIK_SIM_LOG`).
        let span = tracing::debug_span!("sim", slot);
        tokio::spawn(tracing::Instrument::instrument(Worker::run(setup), span));
        Group::from_inner(inner)
    }
}
