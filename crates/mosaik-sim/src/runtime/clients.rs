//! Clients: each drives the group through the public `Group` API on one
//! member at a time and records what it observed.

use super::cluster::Cluster;
use super::machine::{Answer, Put, Query};
use crate::checkers::linearizable::KvOp;
use crate::linearizability::{KvInput, KvOutput, Operation};
use core::time::Duration;
use mosaik::groups::{CommandError, Consistency};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::time::{Instant, sleep, timeout};

/// Keys written (few, so operations contend).
const KEYS: u64 = 3;
/// How long a client waits for one answer before it gives up on it.
const PATIENCE: Duration = Duration::from_secs(8);
/// Resubmissions of commands the API reported not applied (`Superseded`
/// or `Offline`).
const RETRIES: usize = 3;
/// Pause before resubmitting commands refused as `Offline`: no leader was
/// known (an election, usually), and one takes an election timeout (2 s by
/// default) or more, so an immediate retry would most likely be refused
/// too. `Superseded` names a newer leader already and retries at once.
const OFFLINE_BACKOFF: Duration = Duration::from_millis(400);

/// Which refusals a client resubmits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resubmit {
    /// `Superseded` and `Offline`: everything the API promises was not
    /// applied (the default).
    Refused,
    /// `Superseded` only, giving up on `Offline`: the clients as they were
    /// before 7 Dec 2026, whose schedules the regression seeds of that time
    /// replay exactly (a resubmission waits and sends again, and so moves
    /// everything after it).
    SupersededOnly,
}

/// What all clients observed.
#[derive(Default)]
pub struct Record {
    /// The history for the linearizability checker.
    pub history: Vec<KvOp>,
    /// Values of puts `execute`/`execute_many` acknowledged.
    pub acknowledged: Vec<u64>,
    /// Resubmissions of commands answered `Superseded`.
    pub superseded: u64,
    /// Resubmissions of commands answered `Offline`.
    pub offline: u64,
    /// Values of puts every attempt of which was answered `Superseded` or
    /// `Offline` until the client gave up (and of feeds refused as
    /// `Offline`): the API promises none of them was applied, so none may
    /// ever show up in a replica (they are left out of `history`: they
    /// never took effect).
    pub refused: Vec<u64>,
    /// Weak reads answered (not part of the checked history).
    pub weak_reads: u64,
}

/// Call and return times (microseconds since the run began) and unique
/// written values, shared by the clients of one run (every workload).
#[derive(Clone)]
pub struct Stamps {
    origin: Instant,
    next_value: Arc<Mutex<u64>>,
}

impl Stamps {
    /// Times count from `origin`; values from 1.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            next_value: Arc::new(Mutex::new(0)),
        }
    }

    /// Microseconds since `origin`.
    pub fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// A value no client of this run wrote before.
    pub fn fresh_value(&self) -> u64 {
        let mut next = self
            .next_value
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *next += 1;
        *next
    }
}

/// Shared between the clients of one run.
#[derive(Clone)]
pub struct Recorder {
    record: Arc<Mutex<Record>>,
    stamps: Stamps,
}

impl Recorder {
    /// An empty record; times count from `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            record: Arc::default(),
            stamps: Stamps::new(origin),
        }
    }

    fn now(&self) -> u64 {
        self.stamps.now()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        f(&mut self.record.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn fresh_value(&self) -> u64 {
        self.stamps.fresh_value()
    }

    /// Takes the record (after the clients stopped).
    pub fn take(&self) -> Record {
        self.with(core::mem::take)
    }
}

/// One client: operations back to back on random members until `until`.
pub async fn run(
    id: u64,
    cluster: Cluster,
    recorder: Recorder,
    strict: bool,
    until: Instant,
    resubmit: Resubmit,
) {
    while Instant::now() < until {
        let slot = usize::try_from(cluster.net.random() % cluster.size() as u64).unwrap_or(0);
        let Some(group) = cluster.group(slot) else {
            sleep(Duration::from_millis(50)).await;
            continue;
        };
        let pick = cluster.net.random() % 20;
        let key = cluster.net.random() % KEYS;
        match pick {
            0..=8 => {
                let puts = vec![Put {
                    key,
                    value: recorder.fresh_value(),
                }];
                execute(id, &cluster, &recorder, slot, puts, resubmit).await;
            }
            9..=11 => {
                let count = 2 + cluster.net.random() % 3;
                let puts = (0..count)
                    .map(|i| Put {
                        key: (key + i) % KEYS,
                        value: recorder.fresh_value(),
                    })
                    .collect();
                execute(id, &cluster, &recorder, slot, puts, resubmit).await;
            }
            12..=13 => {
                let put = Put {
                    key,
                    value: recorder.fresh_value(),
                };
                let call = recorder.now();
                // Resolves at index assignment: whether it commits is
                // unknown to the client, unless it was refused as
                // `Offline` (nothing appended; not resubmitted: a feed's
                // success says nothing either).
                let fed = timeout(PATIENCE, group.feed(put)).await;
                tracing::debug!(client = id, slot, value = put.value, outcome = ?fed.as_ref().map(|r| r.as_ref().map(|_| ()).map_err(ToString::to_string)), "feed");
                recorder.with(|r| match fed {
                    Ok(Err(CommandError::Offline(_))) => r.refused.push(put.value),
                    _ => r.history.push(pending(id, put, call)),
                });
            }
            14..=17 if strict => {
                let call = recorder.now();
                let answer = timeout(PATIENCE, group.query(Query::Get(key), Consistency::Strong));
                if let Ok(Ok(result)) = answer.await
                    && let Answer::Value(value) = result.result
                {
                    let ret = recorder.now();
                    let op = Operation::completed(
                        id,
                        KvInput::Get { key },
                        call,
                        ret,
                        KvOutput::Value(value),
                    );
                    recorder.with(|r| r.history.push(op));
                }
            }
            _ => {
                let answer = timeout(PATIENCE, group.query(Query::Get(key), Consistency::Weak));
                if let Ok(Ok(_)) = answer.await {
                    recorder.with(|r| r.weak_reads += 1);
                }
            }
        }
        sleep(Duration::from_millis(cluster.net.random() % 40)).await;
    }
}

fn pending(client: u64, put: Put, call: u64) -> KvOp {
    let input = KvInput::Put {
        key: put.key,
        value: put.value,
    };
    Operation::pending(client, input, call)
}

/// Why the API refused commands it promised were not applied.
#[derive(Clone, Copy)]
enum Refusal {
    Superseded,
    Offline,
}

/// `execute`s `puts` (one command, or a batch through `execute_many`).
/// `Superseded` and `Offline` promise the commands were not applied (the
/// first: they never commit at the indexes they had; the second: nothing
/// was appended), so they are resubmitted, as the errors' docs invite, and
/// if every attempt was refused so the puts are recorded as never applied
/// (`Record::refused`). Every other failure, and a timeout, leaves their
/// outcome unknown. A put applied although refused shows up twice in a
/// replica once a retry succeeds (`checks::exactly_once`), or at all if
/// none did (`checks::refused_absent`), or in a strong read of a value no
/// recorded put wrote (`checks::linearizable`).
async fn execute(
    id: u64,
    cluster: &Cluster,
    recorder: &Recorder,
    slot: usize,
    puts: Vec<Put>,
    resubmit: Resubmit,
) {
    let call = recorder.now();
    let mut slot = slot;
    // Whether every attempt so far was refused with a promise that nothing
    // was applied.
    let mut refused = true;
    // What refused the previous attempt, counted once the commands really
    // go out again (not when the client runs out of retries or members).
    let mut resubmitting = None;
    for attempt in 0..=RETRIES {
        let Some(group) = cluster.group(slot) else {
            break;
        };
        match resubmitting {
            Some(Refusal::Superseded) => recorder.with(|r| r.superseded += 1),
            Some(Refusal::Offline) => recorder.with(|r| r.offline += 1),
            None => {}
        }
        let answer = if puts.len() == 1 {
            timeout(PATIENCE, async { group.execute(puts[0]).await.map(|_| ()) }).await
        } else {
            timeout(PATIENCE, async {
                group.execute_many(puts.clone()).await.map(|_| ())
            })
            .await
        };
        let values: Vec<u64> = puts.iter().map(|p| p.value).collect();
        tracing::debug!(client = id, slot, attempt, ?values, outcome = ?answer.as_ref().map(|r| r.as_ref().map_err(ToString::to_string)), "execute");
        match answer {
            Ok(Ok(())) => {
                let ret = recorder.now();
                recorder.with(|r| {
                    for put in &puts {
                        let input = KvInput::Put {
                            key: put.key,
                            value: put.value,
                        };
                        r.history
                            .push(Operation::completed(id, input, call, ret, KvOutput::Ok));
                        r.acknowledged.push(put.value);
                    }
                });
                return;
            }
            Ok(Err(CommandError::Superseded(_))) => {
                resubmitting = Some(Refusal::Superseded);
                slot = cluster.leader().unwrap_or(slot);
            }
            Ok(Err(CommandError::Offline(_))) => {
                if attempt == RETRIES || resubmit == Resubmit::SupersededOnly {
                    break;
                }
                sleep(OFFLINE_BACKOFF).await;
                resubmitting = Some(Refusal::Offline);
                slot = cluster.leader().unwrap_or(slot);
            }
            Ok(Err(_)) | Err(_) => {
                refused = false;
                break;
            }
        }
    }
    recorder.with(|r| {
        for put in &puts {
            if refused {
                r.refused.push(put.value);
            } else {
                r.history.push(pending(id, *put, call));
            }
        }
    });
}
