//! Read freshness: a strong read observes every write acknowledged before the read was issued.
//!
//! This is the read-index half of linearizability, checked the moment `ReadReady` fires, which
//! catches a stale read even when the value read happens to be unchanged.

use std::collections::BTreeMap;

use mosaik_raft::{Index, Output, RequestId};

use super::{Checker, View};
use crate::harness::{Id, Out};

/// The highest index acknowledged as committed, and the floor of every pending read.
#[derive(Default)]
pub struct ReadFreshness {
    acknowledged: Index,
    floors: BTreeMap<(Id, RequestId), Index>,
}

impl Checker for ReadFreshness {
    fn name(&self) -> &'static str {
        "read-freshness"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        match out {
            Output::Committed {
                result: Ok(range), ..
            } => {
                self.acknowledged = self.acknowledged.max(*range.end());
                Ok(())
            }
            Output::ReadReady {
                request_id,
                read_index,
            } => {
                let floor = self
                    .floors
                    .remove(&(view.node.id, *request_id))
                    .unwrap_or_default();
                if view.strong && *read_index < floor {
                    return Err(format!(
                        "strong read {request_id:?} at index {read_index} misses a write acknowledged at {floor}"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_read_issued(&mut self, node: Id, request: RequestId) {
        self.floors.insert((node, request), self.acknowledged);
    }
}
