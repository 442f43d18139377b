//! Read-only samples of this node's producers and consumers for observers
//! (the dashboard). Producers are found through the registry; consumers,
//! which the registry does not hold, are listed here as weak references so
//! a listed consumer is never kept alive by being observed.

// Read only by the dashboard; without it the samples are unused.
#![cfg_attr(not(feature = "dashboard"), allow(dead_code))]

use {
    super::{State, Stats, when::Status},
    crate::{PeerId, StreamId},
    std::sync::{Mutex, PoisonError, Weak},
};

/// One subscription seen from either end.
#[derive(Debug, Clone)]
pub(crate) struct ChannelSample {
    pub(crate) peer: PeerId,
    pub(crate) state: State,
    pub(crate) datums: u64,
}

/// One local producer.
#[derive(Debug, Clone)]
pub(crate) struct ProducerSample {
    pub(crate) stream_id: StreamId,
    pub(crate) datum: &'static str,
    /// Datums handed to the producer since it started.
    pub(crate) sent: u64,
    /// Datums no subscriber took (no subscriber, or a full queue).
    pub(crate) dropped: u64,
    pub(crate) consumers: Vec<ChannelSample>,
}

/// One local consumer.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSample {
    pub(crate) stream_id: StreamId,
    pub(crate) datum: &'static str,
    pub(crate) received: u64,
    pub(crate) producers: Vec<ChannelSample>,
}

/// Samples one channel list from the given end.
pub(crate) fn channels(status: &Status, producer_end: bool) -> Vec<ChannelSample> {
    status
        .channels()
        .iter()
        .map(|c| ChannelSample {
            peer: if producer_end {
                c.consumer_id()
            } else {
                c.producer_id()
            },
            state: c.state(),
            datums: c.stats().datums() as u64,
        })
        .collect()
}

struct Listed {
    stream_id: StreamId,
    datum: &'static str,
    status: Weak<Status>,
    stats: Weak<Stats>,
}

/// The node's consumers, weakly held; dropped consumers are pruned on
/// every insert and sample, so the list is as long as the live ones.
#[derive(Default)]
pub(crate) struct Consumers(Mutex<Vec<Listed>>);

impl core::fmt::Debug for Consumers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumers").finish_non_exhaustive()
    }
}

impl Consumers {
    pub(crate) fn insert(
        &self,
        stream_id: StreamId,
        datum: &'static str,
        status: Weak<Status>,
        stats: Weak<Stats>,
    ) {
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|l| l.status.strong_count() > 0);
        list.push(Listed {
            stream_id,
            datum,
            status,
            stats,
        });
    }

    pub(crate) fn sample(&self) -> Vec<ConsumerSample> {
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|l| l.status.strong_count() > 0);
        list.iter()
            .filter_map(|l| {
                let status = l.status.upgrade()?;
                let stats = l.stats.upgrade()?;
                Some(ConsumerSample {
                    stream_id: l.stream_id,
                    datum: l.datum,
                    received: stats.datums() as u64,
                    producers: channels(&status, false),
                })
            })
            .collect()
    }
}
