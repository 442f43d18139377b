//! Client operations and their results, as a test observes them.

use std::time::Duration;

use mosaik_raft::{Engine, Index, Input, Output, RequestId};

use super::{Cluster, Cmd, Id, Out};

impl Cluster {
    pub fn leaders(&self) -> Vec<Id> {
        self.nodes
            .values()
            .filter(|n| n.engine.as_ref().is_some_and(Engine::is_leader))
            .map(|n| n.id)
            .collect()
    }

    /// The single current leader, if exactly one.
    pub fn leader(&self) -> Option<Id> {
        match self.leaders().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    pub fn wait_for_leader(&mut self) -> Id {
        assert!(
            self.run_until(Duration::from_secs(30), |c| c.leader().is_some()),
            "no leader elected"
        );
        self.leader().unwrap()
    }

    pub fn propose(&mut self, id: Id, commands: Vec<Cmd>) -> RequestId {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        self.input(
            id,
            Input::Propose {
                request_id,
                commands,
            },
        );
        request_id
    }

    pub fn read(&mut self, id: Id) -> RequestId {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        self.read_floors.insert((id, request_id), self.acked_max);
        self.input(id, Input::Read { request_id });
        request_id
    }

    pub fn propose_result(&self, id: Id, request: RequestId) -> Option<Out> {
        self.nodes[&id]
            .events
            .iter()
            .find(
                |e| matches!(e, Output::ProposeResult { request_id, .. } if *request_id == request),
            )
            .cloned()
    }

    pub fn commit_result(&self, id: Id, request: RequestId) -> Option<Out> {
        self.nodes[&id]
            .events
            .iter()
            .find(|e| matches!(e, Output::Committed { request_id, .. } if *request_id == request))
            .cloned()
    }

    /// `Some(Ok(read_index))`, `Some(Err(()))` on failure, `None` while pending.
    pub fn read_result(&self, id: Id, request: RequestId) -> Option<Result<Index, ()>> {
        self.nodes[&id].events.iter().find_map(|e| match e {
            Output::ReadReady {
                request_id,
                read_index,
            } if *request_id == request => Some(Ok(*read_index)),
            Output::ReadFailed { request_id } if *request_id == request => Some(Err(())),
            _ => None,
        })
    }

    /// Whether `request`, proposed at `id`, committed successfully.
    pub fn committed_ok(&self, id: Id, request: RequestId) -> bool {
        matches!(
            self.commit_result(id, request),
            Some(Output::Committed { result: Ok(_), .. })
        )
    }

    /// Proposes `commands` one by one at the current leader, each acknowledged before the
    /// next. Returns the acknowledged commands.
    pub fn write_through_leader(&mut self, commands: &[Cmd]) -> Vec<Cmd> {
        let mut acked = Vec::new();
        for &cmd in commands {
            let leader = self.wait_for_leader();
            let request = self.propose(leader, vec![cmd]);
            self.run_until(Duration::from_secs(2), |c| {
                c.commit_result(leader, request).is_some()
            });
            if self.committed_ok(leader, request) {
                acked.push(cmd);
            }
        }
        acked
    }
}
