//! Leader append-only: a leader never overwrites or deletes entries in its own log.

use mosaik_raft::{Output, Role};

use super::{Checker, View};
use crate::harness::Out;

/// Flags any log truncation persisted while the node leads.
pub struct LeaderAppendOnly;

impl Checker for LeaderAppendOnly {
    fn name(&self) -> &'static str {
        "leader-append-only"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let Output::PersistLog {
            truncate_from: Some(from),
            ..
        } = out
        else {
            return Ok(());
        };
        // `role_seen` follows the `RoleChanged` outputs in order, so a leader that stepped down
        // earlier in the same step (and then truncated as a follower) is not flagged.
        if view.node.role_seen == Role::Leader && view.node.engine().is_leader() {
            return Err(format!(
                "leader of term {} truncated its log at {from}",
                view.node.engine().term()
            ));
        }
        Ok(())
    }
}
