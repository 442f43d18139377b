//! No amnesiac voter: a member that starts with empty storage may have
//! been a member before and lost what it stored (an in-memory store loses
//! everything on every restart). If it voted at once, a candidate lacking
//! entries the lost storage had acknowledged could win with its vote, and
//! in dynamic mode an empty member that elected itself alone could even
//! take over the group. So it first catches up (the engine's
//! `BeginCatchUp`, its first input: it abstains, never campaigns and does
//! not count itself until its commit index reaches what the leaders it
//! follows announced and, in strict mode, `min_quorum` voters told it
//! their terms; the hard state records the catch-up, so one a crash
//! interrupted resumes on restart), and announces itself as an `Observer` meanwhile
//! (its [`Standing`], in every handshake and `BondMessage::Standing`), so
//! its peers do not count it either. `CaughtUp` ends it: the configured
//! preference is announced to every bond and used for later handshakes.
//!
//! Someone has to lead it, though. A standing also says whether the member
//! holds log entries (`history`, from its first entry on). The catch-up
//! ends without a leader (`EndCatchUp`) when nobody it knows of has history
//! to bring it: once `bootstrap_delay` passed since the start (what a
//! brand-new group also waits before its first election, so discovery and
//! bonds had their chance), every member of the group the catalog lists is
//! bonded (but those whose tickets we refuse: they never will be), and no
//! bonded member is a voter with history. That covers a
//! brand-new group (nobody else: it self-elects its first member, as the
//! original does; or everybody starts empty together), and a group that
//! restarted as a whole with empty storage: all of them catch up, none
//! could ever lead them, and without the rule they would wait for each
//! other forever. Members that end it this way do not hold each other back
//! (they have no history yet), so even a strict-mode group, which needs
//! several of them to vote, forms. Observers with history do not hold it
//! back either: they can neither lead nor hand their log to a voter, so
//! around a sole voter that lost its storage the group re-forms (the engine's
//! merge rule then decides over the observers' committed entries).
//!
//! While a member that may hold history is listed but not bonded, or a
//! bonded voter has history, the member waits: that one leads it, or it
//! leaves the catalog (departure, or purge after `purge_after`). In strict
//! mode a group whose remaining voters with storage cannot reach
//! `min_quorum` stays leaderless: counting amnesiac votes is exactly what
//! could lose committed entries there.

use {
    super::{Worker, gauge},
    crate::groups::{
        LeadershipPreference, StateMachine, Storage,
        bond::BondHandle,
        messages::{BondMessage, Standing},
        storage::StorageError,
    },
    crate::primitives::ShortFmtExt as _,
    mosaik_raft::{Index, Input},
    tokio::{sync::mpsc::error::TrySendError, time::Instant},
};

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// The worker starts catching up (the engine got `BeginCatchUp` as its
    /// first input, or resumed a catch-up its hard state recorded).
    pub(super) fn begin_catch_up(&mut self) {
        let history = self.engine.last_log().index > Index::ZERO;
        self.set_standing(Standing {
            preference: LeadershipPreference::Observer,
            history,
        });
        let delay = self.acceptor.config.consensus().bootstrap_delay;
        self.catch_up_from = Some(self.origin + delay);
        tracing::info!(
            group = %self.acceptor.config.group_id().short(),
            history,
            "catching up (storage was empty or a catch-up was interrupted): not voting until caught up"
        );
        self.catch_up_gauge();
    }

    /// The engine's `CaughtUp` (it reached the leader's commit index, or
    /// was told `EndCatchUp`): take part with the configured preference
    /// again and tell every bonded peer.
    pub(super) fn caught_up(&mut self) {
        self.catch_up_from = None;
        let preference = self.preference;
        let history = self.advertised.borrow().history;
        self.set_standing(Standing {
            preference,
            history,
        });
        tracing::info!(
            group = %self.acceptor.config.group_id().short(),
            committed = self.engine.commit_index().0,
            ?preference,
            "caught up: taking part with the configured preference"
        );
        self.catch_up_gauge();
    }

    /// After every step: the first log entry we hold makes our standing
    /// say we have history; and while we catch up, a sole survivor (the
    /// engine's: every other member lost its storage too) sees us as the
    /// voter we are for it alone. As an observer we were not among the
    /// voters its engine asks and counts, so it never got our vote and the
    /// group stayed leaderless for good (runtime simulator, strict `vec`
    /// seed 6002826). Our engine still votes for nobody else and
    /// acknowledges for nobody else.
    pub(super) fn note_history(&mut self) {
        let standing = *self.advertised.borrow();
        let history = standing.history || self.engine.last_log().index > Index::ZERO;
        let preference = if !self.engine.is_catching_up() {
            standing.preference
        } else if self.engine.sole_survivor().is_some() {
            self.preference
        } else {
            LeadershipPreference::Observer
        };
        if history != standing.history || preference != standing.preference {
            self.set_standing(Standing {
                preference,
                history,
            });
        }
    }

    /// Announces `standing` to every bond (and to later handshakes) if it
    /// changed.
    fn set_standing(&mut self, standing: Standing) {
        if self.advertised.send_if_modified(|s| {
            let changed = *s != standing;
            *s = standing;
            changed
        }) {
            for bond in self.bonds.values() {
                announce(bond, standing);
            }
        }
    }

    /// A bond formed: if our handshake announced a standing that is no
    /// longer ours (it changed while the handshake ran), correct it.
    pub(super) fn correct_advertised(&self, bond: &BondHandle<M::Command>, advertised: Standing) {
        let current = *self.advertised.borrow();
        if advertised != current {
            announce(bond, current);
        }
    }

    /// Ends the catch-up when no member we know of can bring us history
    /// (the rule in the module docs). Called on every catalog change and
    /// rescan, bond change, standing announcement, and once
    /// `bootstrap_delay` after the start.
    pub(super) async fn check_catch_up(&mut self) -> Result<(), StorageError> {
        let Some(from) = self.catch_up_from else {
            return Ok(());
        };
        if !self.engine.is_catching_up() {
            self.catch_up_from = None;
            self.catch_up_gauge();
            return Ok(());
        }
        if Instant::now() < from {
            return Ok(());
        }
        let me = self.local.id();
        let config = &self.acceptor.config;
        let group = *config.group_id();
        // Members whose tickets we refuse can never bond with us (nor lead
        // us): they do not count.
        let unbonded = self
            .discovery
            .catalog()
            .signed_peers()
            .filter(|e| e.groups().contains(&group) && *e.id() != me)
            .filter(|e| !self.bonds.contains_key(e.id()))
            .any(|e| config.authorize_peer(e).is_ok());
        let holder = self
            .bonds
            .values()
            .any(|b| b.standing.history && b.standing.preference.is_voter());
        if unbonded || holder {
            return Ok(());
        }
        tracing::info!(
            group = %group.short(),
            bonds = self.bonds.len(),
            "no member to catch up from: voting from an empty log"
        );
        self.engine.handle(self.now(), Input::EndCatchUp);
        self.drain().await
    }

    fn catch_up_gauge(&self) {
        let catching_up = u64::from(self.catch_up_from.is_some());
        metrics::gauge!("mosaik.groups.raft.catching_up", self.labels.as_ref())
            .set(gauge(catching_up));
    }
}

/// Sends our standing to a bonded peer. It must not be lost (the peer
/// would count us wrongly for the bond's lifetime), so a full queue waits
/// for room in a task instead of dropping it; ordering against consensus
/// messages does not matter (a vote of ours that arrives first merely is
/// not counted yet).
fn announce<C: Send + Sync + 'static>(bond: &BondHandle<C>, standing: Standing) {
    let msg = BondMessage::Standing(standing);
    if let Err(TrySendError::Full(msg)) = bond.out.try_send(msg) {
        let out = bond.out.clone();
        tokio::spawn(async move {
            let _ = out.send(msg).await;
        });
    }
}
