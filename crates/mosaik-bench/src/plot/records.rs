//! The bench's JSON records as chart points: which scaling curve each
//! record feeds (`Figure`), for which system, at which x and y. The record
//! layouts are those printed by `groups.rs`, `groups_etcd.rs`,
//! `original.rs` (and `bench/original`), `durable.rs`, `streams.rs` (with
//! `nats.rs` and `zenoh.rs`), `discovery.rs` and `transport.rs`.

use {
    super::axis::Scale,
    serde_json::{Map, Value},
    std::collections::HashMap,
};

/// One scaling curve family: one PNG each (B3 one per consumer count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    /// Group commits/s against clients, in-memory logs.
    B1,
    /// Group commits/s against clients, logs on disk.
    B1Durable,
    /// Stream throughput per consumer against message size.
    B3 {
        /// Consumers of the one producer.
        consumers: u64,
    },
    /// Stream ping-pong p50 RTT against message size.
    B4,
    /// Discovery convergence time against cluster size.
    B5,
    /// Link framing throughput against frame size.
    B7,
}

/// The figure families, each with a name for "no data" messages (B3
/// stands for every consumer count).
pub const FAMILIES: [(Figure, &str); 6] = [
    (Figure::B1, "B1 (commits/s vs clients)"),
    (Figure::B1Durable, "B1 durable (commits/s vs clients)"),
    (
        Figure::B3 { consumers: 0 },
        "B3 (stream MB/s vs message size)",
    ),
    (Figure::B4, "B4 (stream RTT vs message size)"),
    (Figure::B5, "B5 (convergence vs nodes)"),
    (Figure::B7, "B7 (link MiB/s vs frame size)"),
];

impl Figure {
    /// Whether `self` is of the same family as `other` (any consumer
    /// count for B3).
    pub fn same_family(self, other: Figure) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }

    /// The PNG's file name.
    pub fn file(self) -> String {
        match self {
            Self::B1 => "b1-commits-vs-clients.png".into(),
            Self::B1Durable => "b1-durable-commits-vs-clients.png".into(),
            Self::B3 { consumers } => format!("b3-stream-throughput-1to{consumers}.png"),
            Self::B4 => "b4-stream-rtt-vs-size.png".into(),
            Self::B5 => "b5-convergence-vs-nodes.png".into(),
            Self::B7 => "b7-link-throughput-vs-frame.png".into(),
        }
    }

    /// The chart title.
    pub fn title(self) -> String {
        match self {
            Self::B1 => "B1: 3-member group commits, in-memory log".into(),
            Self::B1Durable => "B1 durable: 3-member group commits, log on disk".into(),
            Self::B3 { consumers: 1 } => "B3: stream throughput, 1 producer to 1 consumer".into(),
            Self::B3 { consumers } => {
                format!("B3: stream throughput, 1 producer to {consumers} consumers")
            }
            Self::B4 => "B4: stream ping-pong round trip, p50".into(),
            Self::B5 => "B5: discovery convergence from one bootstrap peer".into(),
            Self::B7 => "B7: Link framing throughput".into(),
        }
    }

    /// The x axis label and scale.
    pub fn x_axis(self) -> (&'static str, Scale) {
        match self {
            Self::B1 | Self::B1Durable => ("concurrent clients", Scale::Log2),
            Self::B3 { .. } | Self::B4 => ("message size (bytes)", Scale::Log2),
            Self::B5 => ("nodes", Scale::Log2),
            Self::B7 => ("frame size (bytes)", Scale::Log2),
        }
    }

    /// The y axis label and scale. Throughput against size spans decades
    /// (tiny messages are bound by per-message cost), so B3 is log scaled.
    pub fn y_axis(self) -> (&'static str, Scale) {
        match self {
            Self::B1 | Self::B1Durable => ("commits/s", Scale::Linear),
            Self::B3 { .. } => ("MB/s per consumer", Scale::Log10),
            Self::B4 => ("p50 round trip (us)", Scale::Linear),
            Self::B5 => ("time until all know all (ms)", Scale::Linear),
            Self::B7 => ("MiB/s", Scale::Linear),
        }
    }
}

/// A system measured by the bench: one line per system in a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum System {
    /// This project.
    Mosaik,
    /// The original mosaik 0.3.18.
    Original,
    /// etcd through its HTTP gateway.
    Etcd,
    /// A raw iroh stream of bytes.
    RawIroh,
    /// Raw iroh, one length-prefixed frame per message.
    RawIrohPerMessage,
    /// `nats-server`.
    Nats,
    /// `serf` agents.
    Serf,
    /// Zenoh sessions in peer mode over loopback TCP (`bench/zenoh`).
    Zenoh,
    /// The same over loopback QUIC.
    ZenohQuic,
    /// `iperf3` over loopback TCP (B7's kernel reference).
    Iperf3,
}

impl System {
    /// The legend text in `figure`.
    pub fn label(self, figure: Figure) -> &'static str {
        match (self, figure) {
            (Self::Mosaik, Figure::B3 { .. } | Figure::B4) => "mosaik streams",
            (Self::Mosaik, Figure::B7) => "mosaik Link",
            (Self::Mosaik, _) => "mosaik",
            (Self::Original, _) => "original mosaik 0.3.18",
            (Self::Etcd, _) => "etcd (HTTP gateway)",
            (Self::RawIroh, Figure::B4) => "raw iroh echo",
            (Self::RawIroh, _) => "raw iroh byte stream",
            (Self::RawIrohPerMessage, _) => "raw iroh per message",
            (Self::Nats, _) => "NATS",
            (Self::Serf, _) => "Serf",
            (Self::Zenoh, _) => "Zenoh (peer, TCP)",
            (Self::ZenohQuic, _) => "Zenoh (peer, QUIC)",
            (Self::Iperf3, _) => "iperf3 TCP",
        }
    }
}

/// One measurement: a y at an x for a system in a figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The chart.
    pub figure: Figure,
    /// The line.
    pub system: System,
    /// The x value (clients, bytes, nodes).
    pub x: f64,
    /// The measured value.
    pub y: f64,
    /// Taken from a summary record (itself a median of per-run records
    /// printed in the same run): used only where no per-run record exists.
    pub summary: bool,
}

/// The points of every record in a saved bench stdout; lines that are not
/// JSON objects are skipped.
pub fn parse_log(text: &str) -> Vec<Point> {
    // The latest human summary line per scenario ("B1: ..."), which the
    // bench prints right before that scenario's record.
    let mut said: HashMap<&str, &str> = HashMap::new();
    let mut points = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('{') {
            if let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) {
                points.extend(record_points(&record, &said));
            }
        } else if let Some((name, _)) = line.split_once(": ")
            && !name.contains(' ')
        {
            said.insert(name, line);
        }
    }
    points
}

/// What a record of `scenario` (and `system`) holds: its figure (B1 for
/// both B1 figures), the key of its x, whether it is a summary, and the
/// key of each system's y.
type Layout = (
    Figure,
    &'static str,
    bool,
    &'static [(System, &'static str)],
);

/// The layout of the records of `scenario` tagged `system`, if plotted.
fn layout(scenario: &str, system: Option<&str>) -> Option<Layout> {
    use System::{
        Etcd, Iperf3, Mosaik, Nats, Original, RawIroh, RawIrohPerMessage, Serf, Zenoh, ZenohQuic,
    };
    const B3: Figure = Figure::B3 { consumers: 0 };
    Some(match (scenario, system) {
        ("B1", None) => (Figure::B1, "clients", false, &[(Mosaik, "commits_per_s")]),
        ("B1", Some("original")) => (Figure::B1, "clients", false, &[(Original, "commits_per_s")]),
        ("B1", Some("summary")) => (
            Figure::B1,
            "clients",
            true,
            &[
                (Mosaik, "mosaik_commits_per_s"),
                (Original, "original_commits_per_s"),
                (Etcd, "etcd_commits_per_s"),
            ],
        ),
        ("B1-etcd", None) => (Figure::B1, "clients", false, &[(Etcd, "commits_per_s")]),
        ("B1-durable", None) => (
            Figure::B1Durable,
            "clients",
            true,
            &[(Mosaik, "commits_per_s"), (Etcd, "etcd_commits_per_s")],
        ),
        ("B3", None) => (
            B3,
            "payload_bytes",
            false,
            &[
                (Mosaik, "streams_mb_s"),
                (RawIroh, "raw_iroh_mb_s"),
                (RawIrohPerMessage, "raw_framed_mb_s"),
            ],
        ),
        ("B3", Some("nats")) => (B3, "payload_bytes", false, &[(Nats, "nats_mb_s")]),
        ("B3", Some("zenoh")) => (B3, "payload_bytes", false, &[(Zenoh, "zenoh_mb_s")]),
        ("B3", Some("zenoh_quic")) => (
            B3,
            "payload_bytes",
            false,
            &[(ZenohQuic, "zenoh_quic_mb_s")],
        ),
        ("B4", None) => (
            Figure::B4,
            "payload_bytes",
            false,
            &[(Mosaik, "streams_p50_us"), (RawIroh, "raw_iroh_p50_us")],
        ),
        ("B4", Some("nats")) => (Figure::B4, "payload_bytes", false, &[(Nats, "nats_p50_us")]),
        ("B4", Some("zenoh")) => (
            Figure::B4,
            "payload_bytes",
            false,
            &[(Zenoh, "zenoh_p50_us")],
        ),
        ("B4", Some("zenoh_quic")) => (
            Figure::B4,
            "payload_bytes",
            false,
            &[(ZenohQuic, "zenoh_quic_p50_us")],
        ),
        ("B5", None) => (Figure::B5, "nodes", false, &[(Mosaik, "convergence_ms")]),
        ("B5", Some("serf")) => (Figure::B5, "nodes", false, &[(Serf, "convergence_ms")]),
        ("B7", None) => (
            Figure::B7,
            "frame_bytes",
            false,
            &[(Mosaik, "link_mib_s"), (RawIroh, "raw_iroh_mib_s")],
        ),
        ("B7", Some("iperf3")) => (
            Figure::B7,
            "frame_bytes",
            false,
            &[(Iperf3, "iperf3_mib_s")],
        ),
        _ => return None,
    })
}

/// The points of one record; `said` holds the latest summary line of each
/// scenario.
fn record_points(record: &Map<String, Value>, said: &HashMap<&str, &str>) -> Vec<Point> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    let num = |key: &str| record.get(key).and_then(Value::as_f64);
    let Some(scenario) = text("scenario") else {
        return Vec::new();
    };
    let system = text("system");
    let Some((figure, x_key, summary, ys)) = layout(scenario, system) else {
        return Vec::new();
    };
    let figure = match figure {
        // Durable B1 runs print the same `B1` / `B1-etcd` records as
        // in-memory ones; only the summary line before each tells them
        // apart.
        Figure::B1
            if system.is_none()
                && said.get(scenario).is_some_and(|line| {
                    line.contains("durable log") || line.contains("data on disk")
                }) =>
        {
            Figure::B1Durable
        }
        Figure::B3 { .. } => match record.get("consumers").and_then(Value::as_u64) {
            Some(consumers) => Figure::B3 { consumers },
            None => return Vec::new(),
        },
        other => other,
    };
    let Some(x) = num(x_key).filter(|x| x.is_finite() && *x > 0.0) else {
        return Vec::new();
    };
    ys.iter()
        .filter_map(|&(system, key)| {
            // Absent or `null` (a peer system that was not installed).
            let y = num(key).filter(|y| y.is_finite())?;
            Some(Point {
                figure,
                system,
                x,
                y,
                summary,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output lines as the bench prints them, a few per family.
    const LOG: &str = r#"== B1/B2 groups (in memory)
B1: 3-member group, in-memory log, 1 clients: 1768 commits/s, p50 520µs, p99 900µs (1000 commits)
{"scenario":"B1","clients":1,"commits":1000,"commits_per_s":1768.0,"p50_us":520,"p99_us":900}
B1-etcd: 3-member etcd (tmpfs data, HTTP gateway), 1 clients: 372 commits/s, p50 2ms, p99 3ms (1000 commits)
{"scenario":"B1-etcd","clients":1,"commits":1000,"commits_per_s":372.0,"p50_us":2600,"p99_us":3100}
B1: original mosaik 0.3.18, 3-member group, in-memory log, 8 clients: 900 commits/s
{"scenario":"B1","system":"original","clients":8,"commits":4000,"commits_per_s":900.5,"p50_us":1,"p99_us":2}
{"scenario":"B1","system":"summary","clients":8,"runs":3,"mosaik_commits_per_s":5000.0,"original_commits_per_s":900.0,"etcd_commits_per_s":null,"mosaik_over_original":5.556}
B1: 3-member group, durable log, 64 clients: 3928 commits/s, p50 1ms, p99 2ms (2000 commits)
{"scenario":"B1","clients":64,"commits":2000,"commits_per_s":3928.0,"p50_us":1,"p99_us":2}
B1-etcd: 3-member etcd (data on disk, HTTP gateway), 64 clients: 887 commits/s
{"scenario":"B1-etcd","clients":64,"commits":2000,"commits_per_s":887.0,"p50_us":1,"p99_us":2}
{"scenario":"B1-durable","clients":64,"runs":1,"commits_per_s":3928.0,"p50_us":1,"p99_us":2,"fdatasync_p50_us":1,"budget_us":1,"etcd_commits_per_s":887.0,"etcd_p50_us":1,"etcd_p99_us":2,"ratio":4.43}
{"scenario":"B3","consumers":4,"payload_bytes":1024,"messages":10,"streams_msgs_s":1,"streams_mb_s":68.3,"raw_iroh_msgs_s":1,"raw_iroh_mb_s":77.2,"ratio":0.88,"raw_framed_msgs_s":1,"raw_framed_mb_s":70.1,"framed_ratio":0.97}
{"scenario":"B3","system":"nats","consumers":4,"payload_bytes":1024,"messages":10,"nats_msgs_s":1,"nats_mb_s":111.7,"streams_over_nats":0.61}
{"scenario":"B3","system":"zenoh","consumers":4,"payload_bytes":1024,"messages":10,"zenoh_msgs_s":1,"zenoh_mb_s":95.2,"streams_over_zenoh":0.72}
{"scenario":"B3","system":"zenoh_quic","consumers":4,"payload_bytes":1024,"messages":10,"zenoh_quic_msgs_s":1,"zenoh_quic_mb_s":61.5,"streams_over_zenoh_quic":1.11}
{"scenario":"B4","payload_bytes":64,"rounds":2000,"streams_p50_us":255,"streams_p99_us":400,"raw_iroh_p50_us":240,"raw_iroh_p99_us":300,"p50_ratio":1.06}
{"scenario":"B4","system":"nats","payload_bytes":64,"rounds":2000,"nats_p50_us":225,"nats_p99_us":300,"streams_over_nats_p50":1.13}
{"scenario":"B4","system":"zenoh","payload_bytes":64,"rounds":2000,"zenoh_p50_us":180,"zenoh_p99_us":260,"streams_over_zenoh_p50":1.42}
{"scenario":"B4","system":"zenoh_quic","payload_bytes":64,"rounds":2000,"zenoh_quic_p50_us":230,"zenoh_quic_p99_us":560,"streams_over_zenoh_quic_p50":1.11}
{"scenario":"B5","nodes":10,"runs":3,"convergence_ms":456,"started_ms":1,"departure_ms":1,"shutdown_busy_ms":1,"shutdown_settled_ms":1}
{"scenario":"B5","system":"serf","nodes":10,"runs":3,"convergence_ms":407,"mosaik_over_serf":1.12}
{"scenario":"B7","frame_bytes":1024,"frames":10,"link_mib_s":300.5,"raw_iroh_mib_s":350.0,"ratio":0.86}
{"scenario":"B7","system":"iperf3","frame_bytes":1024,"bytes":10240,"iperf3_mib_s":2700.0,"link_over_iperf3":0.11}
{"scenario":"B2","timing":"defaults","runs":3,"failover_p50_ms":900}
{"bench":"B6","members":3,"entries":10000}
{"scenario":"B1","clients":"many","commits_per_s":1.0}
{"scenario":"B5","nodes":0,"convergence_ms":5}
{not json
[1, 2, 3]
"#;

    fn find(points: &[Point], figure: Figure, system: System) -> Vec<(f64, f64, bool)> {
        points
            .iter()
            .filter(|p| p.figure == figure && p.system == system)
            .map(|p| (p.x, p.y, p.summary))
            .collect()
    }

    #[test]
    fn every_family_is_read() {
        let points = parse_log(LOG);
        let b3 = Figure::B3 { consumers: 4 };
        let expect = [
            (
                Figure::B1,
                System::Mosaik,
                vec![(1.0, 1768.0, false), (8.0, 5000.0, true)],
            ),
            (Figure::B1, System::Etcd, vec![(1.0, 372.0, false)]),
            (
                Figure::B1,
                System::Original,
                vec![(8.0, 900.5, false), (8.0, 900.0, true)],
            ),
            (
                Figure::B1Durable,
                System::Mosaik,
                vec![(64.0, 3928.0, false), (64.0, 3928.0, true)],
            ),
            (
                Figure::B1Durable,
                System::Etcd,
                vec![(64.0, 887.0, false), (64.0, 887.0, true)],
            ),
            (b3, System::Mosaik, vec![(1024.0, 68.3, false)]),
            (b3, System::RawIroh, vec![(1024.0, 77.2, false)]),
            (b3, System::RawIrohPerMessage, vec![(1024.0, 70.1, false)]),
            (b3, System::Nats, vec![(1024.0, 111.7, false)]),
            (b3, System::Zenoh, vec![(1024.0, 95.2, false)]),
            (b3, System::ZenohQuic, vec![(1024.0, 61.5, false)]),
            (Figure::B4, System::Mosaik, vec![(64.0, 255.0, false)]),
            (Figure::B4, System::RawIroh, vec![(64.0, 240.0, false)]),
            (Figure::B4, System::Nats, vec![(64.0, 225.0, false)]),
            (Figure::B4, System::Zenoh, vec![(64.0, 180.0, false)]),
            (Figure::B4, System::ZenohQuic, vec![(64.0, 230.0, false)]),
            (Figure::B5, System::Mosaik, vec![(10.0, 456.0, false)]),
            (Figure::B5, System::Serf, vec![(10.0, 407.0, false)]),
            (Figure::B7, System::Mosaik, vec![(1024.0, 300.5, false)]),
            (Figure::B7, System::RawIroh, vec![(1024.0, 350.0, false)]),
            (Figure::B7, System::Iperf3, vec![(1024.0, 2700.0, false)]),
        ];
        for (figure, system, want) in &expect {
            assert_eq!(
                &find(&points, *figure, *system),
                want,
                "{figure:?} {system:?}"
            );
        }
        // Nothing else: not B2/B6, not the bad x values, not etcd's null.
        let total: usize = expect.iter().map(|e| e.2.len()).sum();
        assert_eq!(points.len(), total);
    }

    #[test]
    fn b3_is_split_by_consumers() {
        let line = |n| {
            format!(
                r#"{{"scenario":"B3","consumers":{n},"payload_bytes":64,"streams_mb_s":1,"raw_iroh_mb_s":2,"raw_framed_mb_s":3}}"#
            )
        };
        let points = parse_log(&format!("{}\n{}\n", line(1), line(4)));
        let figures: Vec<Figure> = points.iter().map(|p| p.figure).collect();
        assert_eq!(figures[..3], [Figure::B3 { consumers: 1 }; 3]);
        assert_eq!(figures[3..], [Figure::B3 { consumers: 4 }; 3]);
        assert_ne!(
            Figure::B3 { consumers: 1 }.file(),
            Figure::B3 { consumers: 4 }.file()
        );
        assert!(Figure::B3 { consumers: 1 }.same_family(Figure::B3 { consumers: 0 }));
        assert!(!Figure::B1.same_family(Figure::B1Durable));
    }
}
