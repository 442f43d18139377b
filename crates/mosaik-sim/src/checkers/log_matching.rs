//! Log matching: two logs holding an entry with the same (term, index) are identical up to it.
//!
//! Checked inductively and incrementally: every stored entry is recorded with its payload and
//! the term of the entry before it. If every (term, index) has one payload and one predecessor
//! term everywhere, then by induction over the index equal entries imply equal prefixes, without
//! ever comparing whole logs.

use std::collections::HashMap;

use mosaik_raft::{Index, Output, Payload, Term};

use super::{Checker, View};
use crate::harness::{Id, Out};
use crate::kv::Put;

/// An entry's identity: its term and index.
type Position = (Term<Id>, Index);
/// What an entry position must mean everywhere: the predecessor's term and the payload.
type Meaning = (Term<Id>, Payload<Put>);

/// Every (term, index) ever stored, with its predecessor's term and its payload.
#[derive(Default)]
pub struct LogMatching {
    seen: HashMap<Position, Meaning>,
}

impl Checker for LogMatching {
    fn name(&self) -> &'static str {
        "log-matching"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let Output::PersistLog {
            first_index,
            append,
            ..
        } = out
        else {
            return Ok(());
        };
        let disk = &view.node.disk;
        for (offset, entry) in append.iter().enumerate() {
            let index = *first_index + offset as u64;
            let prev = disk
                .written_term_at(index.prev())
                .ok_or_else(|| format!("stored {index} without its predecessor"))?;
            if prev > entry.term {
                return Err(format!(
                    "entry {index} of term {} follows an entry of later term {prev}",
                    entry.term
                ));
            }
            let recorded = self
                .seen
                .entry((entry.term, index))
                .or_insert_with(|| (prev, entry.payload.clone()));
            if recorded.0 != prev || recorded.1 != entry.payload {
                return Err(format!(
                    "entry ({}, {index}) is {:?} after term {prev} here, {:?} after term {} elsewhere",
                    entry.term, entry.payload, recorded.1, recorded.0
                ));
            }
        }
        Ok(())
    }
}
