//! The process-wide metrics registry: a `metrics::Recorder` keeping every
//! series in memory, rendered in the Prometheus text exposition format.

use {
    metrics::{
        Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
        Unit, atomics::AtomicU64,
    },
    std::{
        collections::{BTreeMap, HashMap},
        fmt::Write as _,
        sync::{Arc, Mutex, PoisonError, atomic::Ordering},
    },
};

/// A histogram reduced to its count and sum (exposed as a summary with no
/// quantiles): enough for rates and means, constant memory.
#[derive(Debug, Default)]
struct Moments(Mutex<(u64, f64)>);

impl HistogramFn for Moments {
    fn record(&self, value: f64) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.0 += 1;
        m.1 += value;
    }
}

/// Every series recorded in this process. Series are never removed: their
/// number is bounded by the metric names of the code times the label values
/// (networks, streams and groups this process touched).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    counters: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<Key, Arc<Moments>>>,
}

/// The installed recorder: a shared handle on the registry.
#[derive(Debug, Clone)]
pub(crate) struct Handle(pub(crate) Arc<Registry>);

fn entry<T: Default>(map: &Mutex<HashMap<Key, Arc<T>>>, key: &Key) -> Arc<T> {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.clone())
        .or_default()
        .clone()
}

impl Recorder for Handle {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(entry(&self.0.counters, key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(entry(&self.0.gauges, key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(entry(&self.0.histograms, key))
    }
}

/// Prometheus names allow `[a-zA-Z0-9_:]`: dots and anything else become `_`.
fn metric_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The label set of `key` as seen by the endpoint of `network`: `None` when
/// the series belongs to another network, else the rendered `{...}` with
/// `network` added when the series has none (process-wide series).
fn labels(key: &Key, network: &str) -> Option<String> {
    let mut pairs = Vec::new();
    let mut has_network = false;
    for label in key.labels() {
        if label.key() == "network" {
            if label.value() != network {
                return None;
            }
            has_network = true;
        }
        pairs.push(format!(
            "{}=\"{}\"",
            metric_name(label.key()),
            escape(label.value())
        ));
    }
    if !has_network {
        pairs.push(format!("network=\"{}\"", escape(network)));
    }
    pairs.sort();
    Some(format!("{{{}}}", pairs.join(",")))
}

impl Registry {
    /// The text exposition of every series of `network` (plus the
    /// process-wide ones, labelled with `network`).
    pub(crate) fn render(&self, network: &str) -> String {
        // name -> (type, lines); BTreeMaps make the output stable.
        let mut families: BTreeMap<String, (&str, BTreeMap<String, String>)> = BTreeMap::new();
        let mut add = |key: &Key, kind: &'static str, lines: Vec<(String, String)>| {
            let Some(labels) = labels(key, network) else {
                return;
            };
            let family = families
                .entry(metric_name(key.name()))
                .or_insert_with(|| (kind, BTreeMap::new()));
            for (suffix, value) in lines {
                family.1.insert(format!("{suffix}{labels}"), value);
            }
        };
        for (key, c) in lock(&self.counters).iter() {
            add(
                key,
                "counter",
                vec![(String::new(), c.load(Ordering::Relaxed).to_string())],
            );
        }
        for (key, g) in lock(&self.gauges).iter() {
            let value = f64::from_bits(g.load(Ordering::Relaxed));
            add(key, "gauge", vec![(String::new(), value.to_string())]);
        }
        for (key, h) in lock(&self.histograms).iter() {
            let (count, sum) = *h.0.lock().unwrap_or_else(PoisonError::into_inner);
            add(
                key,
                "summary",
                vec![
                    ("_count".to_owned(), count.to_string()),
                    ("_sum".to_owned(), sum.to_string()),
                ],
            );
        }
        let mut out = String::new();
        for (name, (kind, lines)) in families {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (series, value) in lines {
                let _ = writeln!(out, "{name}{series} {value}");
            }
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use {super::*, metrics::Label};

    #[test]
    fn renders_families_filtered_by_network() {
        let registry = Arc::new(Registry::default());
        let handle = Handle(registry.clone());
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let mine = Key::from_parts("a.b", vec![Label::new("network", "n1")]);
        let other = Key::from_parts("a.b", vec![Label::new("network", "n2")]);
        let global = Key::from_name("x.bytes");
        handle.register_counter(&mine, &meta).increment(3);
        handle.register_counter(&other, &meta).increment(5);
        handle.register_gauge(&global, &meta).set(1.5);
        let text = registry.render("n1");
        assert!(
            text.contains("# TYPE a_b counter\na_b{network=\"n1\"} 3\n"),
            "{text}"
        );
        assert!(!text.contains("n2"), "{text}");
        assert!(text.contains("x_bytes{network=\"n1\"} 1.5"), "{text}");
    }
}
