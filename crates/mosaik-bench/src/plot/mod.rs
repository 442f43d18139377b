//! `mosaik-bench plot`: reads saved bench output (the JSON records among
//! its lines), groups the records into scaling curves, and draws one PNG
//! per curve family with data.
//!
//! Rendering is self-contained (a hand-written rasteriser and bitmap font,
//! `png` only for the encoding) so it needs no system fonts or native
//! libraries on the machine that draws the plots.

mod axis;
mod canvas;
mod chart;
mod font;
mod records;

use {
    anyhow::Context,
    chart::{Chart, Series},
    records::{FAMILIES, Figure, Point, System},
    std::{
        collections::{BTreeMap, BTreeSet},
        fs,
        path::{Path, PathBuf},
    },
};

/// One system's line in a figure: the median y at each x.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Whose line.
    pub system: System,
    /// (x, median y), by increasing x.
    pub points: Vec<(f64, f64)>,
    /// The most records behind one point (1 when nothing was repeated).
    pub most: usize,
    /// The fewest records behind one point.
    pub fewest: usize,
}

impl Curve {
    /// The legend text: the system, and how many runs a median was taken
    /// over when some point was measured more than once.
    fn legend(&self, figure: Figure) -> String {
        let name = self.system.label(figure);
        match (self.fewest, self.most) {
            (_, 0 | 1) => name.to_owned(),
            (fewest, most) if fewest == most => format!("{name}, median of {most} runs"),
            (_, most) => format!("{name}, median of up to {most} runs"),
        }
    }
}

/// The median of `ys` (the mean of the middle two for an even count).
fn median(ys: &mut [f64]) -> f64 {
    ys.sort_by(f64::total_cmp);
    let mid = ys.len() / 2;
    if ys.len().is_multiple_of(2) {
        f64::midpoint(ys[mid - 1], ys[mid])
    } else {
        ys[mid]
    }
}

/// Groups points into curves, per figure, systems in a fixed order. A
/// system's summary points (medians the bench already took) are used only
/// when the input has none of its per-run records for that figure, which
/// the summary repeats.
pub fn curves(points: &[Point]) -> BTreeMap<Figure, Vec<Curve>> {
    let per_run: BTreeSet<(Figure, System)> = points
        .iter()
        .filter(|p| !p.summary)
        .map(|p| (p.figure, p.system))
        .collect();
    // x values are positive and finite: their bit patterns order like them.
    let mut grouped: BTreeMap<(Figure, System), BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for p in points {
        if p.summary && per_run.contains(&(p.figure, p.system)) {
            continue;
        }
        grouped
            .entry((p.figure, p.system))
            .or_default()
            .entry(p.x.to_bits())
            .or_default()
            .push(p.y);
    }
    let mut out: BTreeMap<Figure, Vec<Curve>> = BTreeMap::new();
    for ((figure, system), by_x) in grouped {
        let most = by_x.values().map(Vec::len).max().unwrap_or(0);
        let fewest = by_x.values().map(Vec::len).min().unwrap_or(0);
        let points = by_x
            .into_iter()
            .map(|(x, mut ys)| (f64::from_bits(x), median(&mut ys)))
            .collect();
        out.entry(figure).or_default().push(Curve {
            system,
            points,
            most,
            fewest,
        });
    }
    out
}

/// The chart of `figure`.
fn chart(figure: Figure, curves: &[Curve]) -> Chart {
    let ((x_label, x_scale), (y_label, y_scale)) = (figure.x_axis(), figure.y_axis());
    Chart {
        title: figure.title(),
        x_label: x_label.to_owned(),
        y_label: y_label.to_owned(),
        x_scale,
        y_scale,
        series: curves
            .iter()
            .map(|c| {
                // Styled by system, so a system looks alike in every chart.
                let (colour, marker) = chart::style(c.system as usize);
                Series {
                    name: c.legend(figure),
                    colour,
                    marker,
                    points: c.points.clone(),
                }
            })
            .collect(),
    }
}

/// The subcommand: reads `inputs`, writes the PNGs into `out` and prints
/// the path of each; families without records are reported and skipped.
pub fn plot(inputs: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let mut points = Vec::new();
    for input in inputs {
        let text =
            fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
        points.extend(records::parse_log(&text));
    }
    let curves = curves(&points);
    for (family, name) in FAMILIES {
        if !curves.keys().any(|f| f.same_family(family)) {
            println!("skipped {name}: no records in the input");
        }
    }
    anyhow::ensure!(
        !curves.is_empty(),
        "no bench records in {} input file(s)",
        inputs.len()
    );
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (figure, curves) in &curves {
        let png = chart(*figure, curves).render().encode_png()?;
        let path = out.join(figure.file());
        fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(figure: Figure, system: System, x: f64, y: f64, summary: bool) -> Point {
        Point {
            figure,
            system,
            x,
            y,
            summary,
        }
    }

    #[test]
    fn medians_of_repeated_points() {
        assert!((median(&mut [3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(&mut [4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
        let log = [10.0, 30.0, 20.0]
            .map(|r| format!(r#"{{"scenario":"B1","clients":64,"commits_per_s":{r}}}"#))
            .join("\nB1: noise\n")
            + "\n{\"scenario\":\"B1\",\"clients\":1,\"commits_per_s\":5}";
        let curves = curves(&records::parse_log(&log));
        let b1 = &curves[&Figure::B1];
        assert_eq!(b1.len(), 1);
        assert_eq!(b1[0].points, [(1.0, 5.0), (64.0, 20.0)]);
        assert_eq!((b1[0].fewest, b1[0].most), (1, 3));
        assert_eq!(b1[0].legend(Figure::B1), "mosaik, median of up to 3 runs");
    }

    /// Summary records stand in only for systems without per-run records.
    #[test]
    fn summaries_only_fill_gaps() {
        let points = [
            point(Figure::B1, System::Mosaik, 8.0, 100.0, false),
            point(Figure::B1, System::Mosaik, 8.0, 999.0, true),
            point(Figure::B1, System::Etcd, 8.0, 50.0, true),
            point(Figure::B1, System::Etcd, 8.0, 70.0, true),
        ];
        let b1 = &curves(&points)[&Figure::B1];
        assert_eq!(b1[0].system, System::Mosaik);
        assert_eq!(b1[0].points, [(8.0, 100.0)]);
        assert_eq!(b1[0].legend(Figure::B1), "mosaik");
        assert_eq!(b1[1].system, System::Etcd);
        assert_eq!(b1[1].points, [(8.0, 60.0)]);
        assert_eq!(
            b1[1].legend(Figure::B1),
            "etcd (HTTP gateway), median of 2 runs"
        );
    }

    /// Every system the bench measures (the match makes a new one a compile
    /// error here until it is listed).
    const SYSTEMS: [System; 10] = [
        System::Mosaik,
        System::Original,
        System::Etcd,
        System::RawIroh,
        System::RawIrohPerMessage,
        System::Nats,
        System::Serf,
        System::Zenoh,
        System::ZenohQuic,
        System::Iperf3,
    ];

    fn listed(system: System) -> bool {
        match system {
            System::Mosaik
            | System::Original
            | System::Etcd
            | System::RawIroh
            | System::RawIrohPerMessage
            | System::Nats
            | System::Serf
            | System::Zenoh
            | System::ZenohQuic
            | System::Iperf3 => SYSTEMS.contains(&system),
        }
    }

    /// No two systems look alike in a chart (same colour and marker).
    #[test]
    fn every_system_has_its_own_style() {
        assert!(SYSTEMS.iter().all(|&s| listed(s)));
        for (i, &a) in SYSTEMS.iter().enumerate() {
            for &b in &SYSTEMS[i + 1..] {
                assert_ne!(
                    chart::style(a as usize),
                    chart::style(b as usize),
                    "{a:?} and {b:?}"
                );
            }
        }
    }

    /// Every text any figure can draw has a glyph in the font.
    #[test]
    fn every_chart_text_has_glyphs() {
        let systems = SYSTEMS;
        let figures = [
            Figure::B1,
            Figure::B1Durable,
            Figure::B3 { consumers: 1 },
            Figure::B3 { consumers: 4 },
            Figure::B4,
            Figure::B5,
            Figure::B7,
        ];
        for figure in figures {
            let curves: Vec<Curve> = systems
                .iter()
                .map(|&system| Curve {
                    system,
                    points: vec![(1.0, 0.5), (64.0, 12_345.0), (1_048_576.0, 2e6)],
                    most: 3,
                    fewest: 2,
                })
                .collect();
            for text in chart(figure, &curves).texts() {
                for ch in text.chars() {
                    assert!(font::glyph(ch).is_some(), "{ch:?} in {text:?}");
                }
            }
        }
    }

    /// The subcommand end to end: PNGs for the families with records,
    /// each a decodable image.
    #[test]
    fn writes_one_png_per_curve() {
        let dir = std::env::temp_dir().join(format!("mosaik-plot-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("run.log");
        fs::write(
            &log,
            "startup: x\n{\"scenario\":\"B5\",\"nodes\":5,\"convergence_ms\":101}\n\
             {\"scenario\":\"B5\",\"system\":\"serf\",\"nodes\":5,\"convergence_ms\":231}\n\
             {\"scenario\":\"B5\",\"nodes\":10,\"convergence_ms\":456}\n",
        )
        .expect("log written");
        let out = dir.join("plots");
        plot(std::slice::from_ref(&log), &out).expect("plots");
        let written: Vec<_> = fs::read_dir(&out)
            .expect("out dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(written, [Figure::B5.file().as_str()]);
        let file = fs::File::open(out.join(Figure::B5.file())).expect("png");
        let reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .expect("a PNG");
        assert_eq!(reader.info().width, 960);
        // No records at all is an error, not an empty directory.
        fs::write(&log, "nothing here\n").expect("log written");
        assert!(plot(std::slice::from_ref(&log), &dir.join("none")).is_err());
        assert!(!dir.join("none").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
