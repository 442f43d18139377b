//! A line chart: title, framed plot area with grid, ticks and tick labels,
//! axis labels, one polyline with point markers per series, and a legend
//! under the plot (outside it, so it never hides a point).

use super::{
    axis::{Axis, Scale, Tick},
    canvas::{Canvas, Marker, Rect, Rgb, px},
    font,
};

/// Image width in pixels.
const WIDTH: i32 = 960;
/// Height of the plot area in pixels.
const PLOT_H: i32 = 440;
/// Scale of all text but the title: 5x7 glyphs drawn at 2x.
const TEXT: u32 = 2;
/// Height in pixels of a line of text at `TEXT`.
const LINE_H: i32 = 14;
/// Height of a legend row.
const LEGEND_ROW: i32 = 24;
/// Length of the line sample in front of a legend entry.
const SWATCH: i32 = 28;
/// Outer margin.
const EDGE: i32 = 16;
/// Radius of the point markers.
const MARKER_R: i32 = 5;

const BACKGROUND: Rgb = [255, 255, 255];
const INK: Rgb = [30, 30, 30];
const FRAME: Rgb = [90, 90, 90];
const GRID: Rgb = [222, 222, 222];
const MINOR_GRID: Rgb = [240, 240, 240];

/// Series colours (none of them grey, so none is mistaken for the grid),
/// distinct enough in hue and lightness to tell apart.
/// One per system (`plot::mod` tests that no two systems share a style).
const PALETTE: [Rgb; 10] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [23, 190, 207],
    [188, 189, 34],
    [57, 59, 121],
];

const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Square,
    Marker::Diamond,
    Marker::Triangle,
];

/// The colour and marker for the `i`-th kind of series; callers index by
/// system so one system looks the same in every chart.
pub fn style(i: usize) -> (Rgb, Marker) {
    (PALETTE[i % PALETTE.len()], MARKERS[i % MARKERS.len()])
}

/// One line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Line and marker colour.
    pub colour: Rgb,
    /// Marker shape.
    pub marker: Marker,
    /// (x, y) points, drawn in order of x.
    pub points: Vec<(f64, f64)>,
}

/// A chart ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label along the y axis.
    pub y_label: String,
    /// Spacing of the x axis.
    pub x_scale: Scale,
    /// Spacing of the y axis.
    pub y_scale: Scale,
    /// The lines.
    pub series: Vec<Series>,
}

/// Where things go, computed before drawing.
struct Layout {
    x: Axis,
    y: Axis,
    plot: Rect,
    title_scale: u32,
    legend_rows: Vec<Vec<usize>>,
    height: i32,
}

/// Width in pixels of `text` at `scale`, as an `i32`.
fn width(text: &str, scale: u32) -> i32 {
    i32::try_from(font::text_width(text, scale)).unwrap_or(i32::MAX)
}

impl Chart {
    /// The points of every series that both axes can show.
    fn shown(&self, s: &Series) -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| {
                let ok = |v: f64, scale| v.is_finite() && (scale == Scale::Linear || v > 0.0);
                ok(x, self.x_scale) && ok(y, self.y_scale)
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }

    fn layout(&self) -> Layout {
        let points: Vec<(f64, f64)> = self.series.iter().flat_map(|s| self.shown(s)).collect();
        let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
        let (x, y) = (Axis::fit(self.x_scale, &xs), Axis::fit(self.y_scale, &ys));
        let title_scale = if width(&self.title, 3) <= WIDTH - 2 * EDGE {
            3
        } else {
            2
        };
        let y_ticks = y.ticks().into_iter().filter_map(|t| t.label);
        let tick_w = y_ticks.map(|l| width(&l, TEXT)).max().unwrap_or(0);
        let left = EDGE + LINE_H + 14 + tick_w + 10;
        let top = EDGE + 7 * i32::try_from(title_scale).unwrap_or(2) + 20;
        let plot = Rect::new(left, top, WIDTH - left - 2 * EDGE, PLOT_H);
        // Legend entries flow left to right, wrapping at the plot's width.
        let mut legend_rows: Vec<Vec<usize>> = Vec::new();
        let mut used = i32::MAX;
        for (i, s) in self.series.iter().enumerate() {
            let w = SWATCH + 8 + width(&s.name, TEXT);
            if used.saturating_add(24 + w) > plot.w || legend_rows.is_empty() {
                legend_rows.push(Vec::new());
                used = -24;
            }
            legend_rows.last_mut().expect("a row").push(i);
            used += 24 + w;
        }
        let rows = i32::try_from(legend_rows.len()).unwrap_or(0);
        let height = top + PLOT_H + 10 + LINE_H + 14 + LINE_H + 18 + rows * LEGEND_ROW + EDGE;
        Layout {
            x,
            y,
            plot,
            title_scale,
            legend_rows,
            height,
        }
    }

    #[cfg(test)] // For the glyph coverage test.
    /// Every text the chart draws (title, labels, tick labels, legend).
    pub fn texts(&self) -> Vec<String> {
        let layout = self.layout();
        let labels = |a: &Axis| a.ticks().into_iter().filter_map(|t| t.label);
        let mut texts = vec![
            self.title.clone(),
            self.x_label.clone(),
            self.y_label.clone(),
        ];
        texts.extend(labels(&layout.x).chain(labels(&layout.y)));
        texts.extend(self.series.iter().map(|s| s.name.clone()));
        texts
    }

    /// Draws the chart.
    pub fn render(&self) -> Canvas {
        let layout = self.layout();
        let side = |v: i32| u32::try_from(v).unwrap_or(0);
        let mut canvas = Canvas::new(side(WIDTH), side(layout.height), BACKGROUND);
        let title_w = width(&self.title, layout.title_scale);
        let title_x = (WIDTH - title_w) / 2;
        canvas.text(title_x, EDGE, &self.title, layout.title_scale, INK);
        self.draw_axes(&mut canvas, &layout);
        self.draw_series(&mut canvas, &layout);
        self.draw_legend(&mut canvas, &layout);
        canvas
    }

    /// Grid lines, ticks, tick labels, the frame and the axis labels.
    fn draw_axes(&self, canvas: &mut Canvas, layout: &Layout) {
        let plot = layout.plot;
        let bottom = plot.y + plot.h;
        for Tick { value, label } in layout.x.ticks() {
            let Some(x) = layout.at_x(value).map(px) else {
                continue;
            };
            let grid = if label.is_some() { GRID } else { MINOR_GRID };
            canvas.fill(Rect::new(x, plot.y, 1, plot.h), grid);
            if let Some(label) = label {
                canvas.fill(Rect::new(x, bottom, 1, 5), FRAME);
                let w = width(&label, TEXT);
                canvas.text(x - w / 2, bottom + 10, &label, TEXT, INK);
            }
        }
        for Tick { value, label } in layout.y.ticks() {
            let Some(y) = layout.at_y(value).map(px) else {
                continue;
            };
            let grid = if label.is_some() { GRID } else { MINOR_GRID };
            canvas.fill(Rect::new(plot.x, y, plot.w, 1), grid);
            if let Some(label) = label {
                canvas.fill(Rect::new(plot.x - 5, y, 5, 1), FRAME);
                let w = width(&label, TEXT);
                canvas.text(plot.x - 10 - w, y - LINE_H / 2, &label, TEXT, INK);
            }
        }
        let (left, top) = (plot.x - 1, plot.y - 1);
        canvas.fill(Rect::new(left, top, plot.w + 2, 1), FRAME);
        canvas.fill(Rect::new(left, bottom, plot.w + 2, 1), FRAME);
        canvas.fill(Rect::new(left, top, 1, plot.h + 2), FRAME);
        canvas.fill(Rect::new(plot.x + plot.w, top, 1, plot.h + 2), FRAME);

        let x_label_w = width(&self.x_label, TEXT);
        let x_label_x = plot.x + (plot.w - x_label_w) / 2;
        canvas.text(x_label_x, layout.x_label_y(), &self.x_label, TEXT, INK);
        let y_label_w = width(&self.y_label, TEXT);
        let y_label_y = plot.y + i32::midpoint(plot.h, y_label_w);
        canvas.text_up(EDGE, y_label_y, &self.y_label, TEXT, INK);
    }

    /// The polylines and their point markers, clipped to the plot area.
    fn draw_series(&self, canvas: &mut Canvas, layout: &Layout) {
        // A point at the very edge shows half its marker rather than
        // drawing over the frame and tick labels.
        canvas.set_clip(Some(layout.plot));
        for series in &self.series {
            let pixels: Vec<(f64, f64)> = self
                .shown(series)
                .into_iter()
                .filter_map(|(x, y)| Some((layout.at_x(x)?, layout.at_y(y)?)))
                .collect();
            for pair in pixels.windows(2) {
                canvas.line(pair[0], pair[1], 3, series.colour);
            }
            for &(x, y) in &pixels {
                canvas.marker(px(x), px(y), MARKER_R, series.marker, series.colour);
            }
        }
        canvas.set_clip(None);
    }

    /// One entry per series (line sample, marker, name) under the plot.
    fn draw_legend(&self, canvas: &mut Canvas, layout: &Layout) {
        let mut row_y = layout.x_label_y() + LINE_H + 18;
        for row in &layout.legend_rows {
            let mut x = layout.plot.x;
            for &i in row {
                let series = &self.series[i];
                let mid = row_y + LINE_H / 2;
                canvas.fill(Rect::new(x, mid - 1, SWATCH, 3), series.colour);
                let marker_x = x + SWATCH / 2;
                canvas.marker(marker_x, mid, MARKER_R, series.marker, series.colour);
                canvas.text(x + SWATCH + 8, row_y, &series.name, TEXT, INK);
                x += SWATCH + 8 + width(&series.name, TEXT) + 24;
            }
            row_y += LEGEND_ROW;
        }
    }
}

impl Layout {
    /// Pixel column of `v`; both ends of the axis are inside the plot.
    fn at_x(&self, v: f64) -> Option<f64> {
        let p = self.plot;
        (self.x.fraction(v)).map(|f| f64::from(p.x) + f * f64::from(p.w - 1))
    }

    /// Pixel row of `v` (up is larger).
    fn at_y(&self, v: f64) -> Option<f64> {
        let p = self.plot;
        (self.y.fraction(v)).map(|f| f64::from(p.y + p.h - 1) - f * f64::from(p.h - 1))
    }

    /// Top of the x axis label: under the tick labels.
    fn x_label_y(&self) -> i32 {
        self.plot.y + self.plot.h + 10 + LINE_H + 14
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        let series = (0..4)
            .map(|i| {
                let (colour, marker) = style(i);
                let k = f64::from(u8::try_from(i).expect("small") + 1);
                Series {
                    name: format!("system {i} (median of 3)"),
                    colour,
                    marker,
                    points: vec![(1.0, 100.0 * k), (8.0, 700.0 * k), (64.0, 2000.0 * k)],
                }
            })
            .collect();
        Chart {
            title: "B1: commits/s against clients".into(),
            x_label: "clients".into(),
            y_label: "commits/s".into(),
            x_scale: Scale::Log2,
            y_scale: Scale::Linear,
            series,
        }
    }

    fn decode(bytes: Vec<u8>) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    /// Renders, encodes and decodes a chart: its size is the layout's, and
    /// every series' colour is there in quantity (line and markers), the
    /// series' pixels all inside the frame but for the legend's.
    #[test]
    fn renders_every_series_inside_the_frame() {
        let chart = sample();
        let layout = chart.layout();
        let (info, rgb) = decode(chart.render().encode_png().expect("encodes"));
        assert_eq!(info.width, 960);
        assert_eq!(i32::try_from(info.height).expect("small"), layout.height);
        let w = info.width as usize;
        let legend_top = usize::try_from(layout.plot.y + layout.plot.h + 20).expect(">= 0");
        for s in &chart.series {
            let (mut inside, mut outside) = (0, 0);
            for (i, px) in rgb.chunks_exact(3).enumerate() {
                if px == s.colour {
                    let (x, y) = (i % w, i / w);
                    let r = layout.plot;
                    let within = |v: usize, lo: i32, len: i32| {
                        (lo..lo + len).contains(&i32::try_from(v).expect("small"))
                    };
                    if within(x, r.x, r.w) && within(y, r.y, r.h) {
                        inside += 1;
                    } else {
                        assert!(y > legend_top, "{} pixel at ({x}, {y})", s.name);
                        outside += 1;
                    }
                }
            }
            assert!(inside > 300, "{}: {inside} pixels in the plot", s.name);
            assert!(outside > 50, "{}: {outside} pixels in the legend", s.name);
        }
    }

    /// Points a log axis cannot show are left out instead of breaking the
    /// chart; a series with none still gets its legend entry.
    #[test]
    fn unshowable_points_are_dropped() {
        let mut chart = sample();
        chart.y_scale = Scale::Log10;
        chart.series[0].points = vec![(1.0, 0.0), (-2.0, 5.0), (f64::NAN, 1.0)];
        assert!(chart.shown(&chart.series[0]).is_empty());
        assert_eq!(chart.shown(&chart.series[1]).len(), 3);
        let canvas = chart.render();
        assert!(canvas.width() == 960 && canvas.height() > 440);
        assert!(chart.texts().contains(&"system 0 (median of 3)".to_owned()));
    }

    /// A long legend wraps onto more rows and the image grows to hold it.
    #[test]
    fn legend_wraps() {
        let short = sample().layout();
        let mut chart = sample();
        for s in &mut chart.series {
            s.name = format!("{} with a rather long description", s.name);
        }
        let long = chart.layout();
        assert!(long.legend_rows.len() > short.legend_rows.len());
        assert!(long.height > short.height);
    }
}
