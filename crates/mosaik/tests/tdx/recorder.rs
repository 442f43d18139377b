//! A process-wide metrics recorder that keeps one series: refused bonds
//! (`mosaik.groups.bonds.rejected{reason="not_allowed"}`) per network.
//!
//! A "never bonds" check waits until the gated members have refused each
//! other a few times instead of sleeping for a guessed while: the refusal
//! count is the event that says the check was given its chance.

use {
    metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit},
    mosaik::primitives::ShortFmtExt as _,
    std::{
        collections::HashMap,
        sync::{
            Arc, Mutex, OnceLock,
            atomic::{AtomicU64, Ordering},
        },
    },
};

#[derive(Default)]
struct Refusals {
    /// Short network id → refusals counted in it.
    by_network: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Refusals {
    fn series(&self, network: &str) -> Arc<AtomicU64> {
        let mut map = self
            .by_network
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(network.to_owned()).or_default().clone()
    }
}

impl Recorder for Refusals {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() != "mosaik.groups.bonds.rejected" {
            return Counter::noop();
        }
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
        };
        match (label("reason").as_deref(), label("network")) {
            (Some("not_allowed"), Some(network)) => Counter::from_arc(self.series(&network)),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

static RECORDER: OnceLock<&'static Refusals> = OnceLock::new();

/// Bonds refused for a failed ticket check in `network` so far, by every
/// node of this process. Installs the recorder on first use (before the
/// nodes of the test start counting).
pub fn refused_bonds(network: &mosaik::NetworkId) -> u64 {
    let recorder = RECORDER.get_or_init(|| {
        let recorder: &'static Refusals = Box::leak(Box::default());
        metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
        recorder
    });
    recorder
        .series(&network.short().to_string())
        .load(Ordering::Relaxed)
}
