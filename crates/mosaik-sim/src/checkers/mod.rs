//! Safety checkers, one per property, fed by the harness after every carried-out output and
//! after every simulated step.
//!
//! Each checker keeps just enough history to decide its property incrementally (a map of
//! committed terms, the leaders seen per term, …), so running all of them on every step stays
//! cheap. The end-of-run properties — linearizability of the client histories, liveness and
//! convergence after the heal — are checked once per seed by [`linearizable`] and the harness.
//!
//! "Strong" checks (committed prefix, leader completeness, state machine safety, read
//! freshness, one leader per round) hold in strict mode always, and in dynamic mode only while
//! every leader's quorum is a majority of ALL members (then any two quorums intersect, as in
//! strict mode): once a leader is elected or commits or confirms a read with fewer — a
//! partition side, the survivors of crashes that unbonded, a member alone behind stale bonds —
//! both sides may commit, and the engine then legitimately reverts the losing side. The harness
//! tells the checkers which regime applies through [`View::strong`].
//!
//! Restart safety (issue 14) has three checkers of its own: [`CatchUpDiscipline`] (a member
//! that restarted empty neither votes nor campaigns before it caught up), [`AcknowledgedWrites`]
//! (no acknowledged write is lost: all of them in strict mode, those a majority of all members
//! stored in dynamic mode without partitions) and [`MergeRule`] (dynamic mode: a revert is
//! always caused by a history at least as strong as the one it discards).

mod acknowledged;
mod append_only;
mod catch_up;
mod committed;
mod durability;
mod election;
pub mod linearizable;
mod log_matching;
mod merge_rule;
mod monotonic;
mod reads;
mod state_machine;

use std::fmt;

use mosaik_raft::RequestId;

use crate::harness::{Id, Out, SimNode};

pub use acknowledged::{AcknowledgedWrites, Protection};
pub use append_only::LeaderAppendOnly;
pub use catch_up::CatchUpDiscipline;
pub use committed::CommittedPrefix;
pub use durability::PersistBeforeSend;
pub use election::ElectionSafety;
pub use log_matching::LogMatching;
pub use merge_rule::{Cause, MergeRule};
pub use monotonic::Monotonic;
pub use reads::ReadFreshness;
pub use state_machine::StateMachineSafety;

/// What a checker sees of the node that just produced an output or took a step.
pub struct View<'a> {
    /// Global simulated time in milliseconds.
    pub now: u64,
    /// Whether the strong properties must hold right now (see the module docs).
    pub strong: bool,
    /// The node, after the output was carried out (persisted, applied, sent).
    pub node: &'a SimNode,
    /// Every member (the node included), indexed by id.
    pub nodes: &'a [SimNode],
    /// The leader whose `AppendEntries` the node is handling, if it is handling one.
    pub cause: Option<Cause>,
}

/// One safety property, decided incrementally. Every hook returns `Err(detail)` on a violation.
pub trait Checker {
    /// Short name printed with a violation.
    fn name(&self) -> &'static str;

    /// Called after the harness carried out `out` of `view.node`.
    fn on_output(&mut self, _view: &View<'_>, _out: &Out) -> Result<(), String> {
        Ok(())
    }

    /// Called after the node handled one input and all its outputs were carried out.
    fn after_step(&mut self, _view: &View<'_>) -> Result<(), String> {
        Ok(())
    }

    /// The node restarted from disk or installed a snapshot: its volatile state starts over.
    fn on_reset(&mut self, _view: &View<'_>) {}

    /// The node restarted with empty storage: even what it persisted is gone. By default the
    /// same as [`Checker::on_reset`].
    fn on_wipe(&mut self, view: &View<'_>) {
        self.on_reset(view);
    }

    /// The run ended with every member converged on one state (after the heal).
    fn at_end(&mut self, _nodes: &[SimNode]) -> Result<(), String> {
        Ok(())
    }

    /// A client issued a strong read at `node`.
    fn on_read_issued(&mut self, _node: Id, _request: RequestId) {}
}

/// A property that failed, with enough context to start debugging the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The checker (property) that failed.
    pub checker: &'static str,
    /// Global simulated time of the failure in milliseconds.
    pub at_ms: u64,
    /// What went wrong.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] at {} ms: {}",
            self.checker, self.at_ms, self.detail
        )
    }
}

/// Every incremental checker, run in a fixed order.
pub struct Checkers {
    list: Vec<Box<dyn Checker>>,
}

impl Default for Checkers {
    fn default() -> Self {
        Self::new(Protection::All)
    }
}

impl Checkers {
    /// All the incremental checkers; `protection` says which acknowledged writes must survive.
    pub fn new(protection: Protection) -> Self {
        Self {
            list: vec![
                Box::new(CatchUpDiscipline),
                Box::new(AcknowledgedWrites::new(protection)),
                Box::new(MergeRule),
                Box::new(ElectionSafety::default()),
                Box::new(LogMatching::default()),
                Box::new(LeaderAppendOnly),
                Box::new(CommittedPrefix::default()),
                Box::new(StateMachineSafety::default()),
                Box::new(Monotonic::default()),
                Box::new(PersistBeforeSend),
                Box::new(ReadFreshness::default()),
            ],
        }
    }

    /// Runs every checker's `on_output`; the first failure wins.
    pub fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), Violation> {
        for checker in &mut self.list {
            checker
                .on_output(view, out)
                .map_err(|detail| violation(checker.as_ref(), view, &detail))?;
        }
        Ok(())
    }

    /// Runs every checker's `after_step`; the first failure wins.
    pub fn after_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        for checker in &mut self.list {
            checker
                .after_step(view)
                .map_err(|detail| violation(checker.as_ref(), view, &detail))?;
        }
        Ok(())
    }

    /// Tells every checker that the node's volatile state started over.
    pub fn on_reset(&mut self, view: &View<'_>) {
        for checker in &mut self.list {
            checker.on_reset(view);
        }
    }

    /// Tells every checker that the node restarted with empty storage.
    pub fn on_wipe(&mut self, view: &View<'_>) {
        for checker in &mut self.list {
            checker.on_wipe(view);
        }
    }

    /// Runs every checker's end-of-run check on the converged members; the first failure wins.
    pub fn at_end(&mut self, nodes: &[SimNode], now: u64) -> Result<(), Violation> {
        for checker in &mut self.list {
            checker.at_end(nodes).map_err(|detail| Violation {
                checker: checker.name(),
                at_ms: now,
                detail,
            })?;
        }
        Ok(())
    }

    /// Tells every checker that a strong read was issued.
    pub fn on_read_issued(&mut self, node: Id, request: RequestId) {
        for checker in &mut self.list {
            checker.on_read_issued(node, request);
        }
    }
}

fn violation(checker: &dyn Checker, view: &View<'_>, detail: &str) -> Violation {
    Violation {
        checker: checker.name(),
        at_ms: view.now,
        detail: format!("node {}: {detail}", view.node.id),
    }
}
