//! An RGB raster with the few primitives the charts need (rectangles,
//! thick lines, markers, bitmap text) and its PNG encoding. Drawing is
//! unantialiased on purpose: every pixel of a series is exactly its colour,
//! which keeps the images small and lets tests find the series by colour.

use {super::font, anyhow::Context};

/// An RGB colour.
pub type Rgb = [u8; 3];

/// A rectangle in canvas pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

impl Rect {
    /// The rectangle at (`x`, `y`) of `w` x `h` pixels.
    pub const fn new(x: i32, y: i32, w: i32, h: i32) -> Self {
        Self { x, y, w, h }
    }

    /// Whether pixel (`x`, `y`) lies inside.
    fn contains(self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }
}

/// Point marker shapes, so series stay apart even where colours are hard
/// to tell (print, colour blindness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled diamond.
    Diamond,
    /// A filled upward triangle.
    Triangle,
}

/// Rounds a drawing coordinate to a pixel. Coordinates come from a chart a
/// few thousand pixels wide at most, so the conversion cannot overflow.
#[allow(clippy::cast_possible_truncation)]
pub fn px(v: f64) -> i32 {
    v.round() as i32
}

/// An RGB image being drawn, with a clip rectangle every primitive honours.
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    clip: Rect,
}

impl Canvas {
    /// A `width` x `height` canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let pixels = background.repeat(width as usize * height as usize);
        Self {
            width,
            height,
            pixels,
            clip: Self::full(width, height),
        }
    }

    fn full(width: u32, height: u32) -> Rect {
        let side = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        Rect {
            x: 0,
            y: 0,
            w: side(width),
            h: side(height),
        }
    }

    /// Width in pixels.
    #[cfg(test)] // Read back by tests only.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[cfg(test)] // Read back by tests only.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Restricts drawing to `clip` (the whole canvas when `None`).
    pub fn set_clip(&mut self, clip: Option<Rect>) {
        self.clip = clip.unwrap_or_else(|| Self::full(self.width, self.height));
    }

    /// The colour of pixel (`x`, `y`), if it is on the canvas.
    #[cfg(test)] // Read back by tests only.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some([self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]])
    }

    /// Sets one pixel; outside the clip rectangle it is left alone.
    pub fn put(&mut self, x: i32, y: i32, c: Rgb) {
        if !self.clip.contains(x, y) {
            return;
        }
        // Inside the clip, which lies within the canvas: both are >= 0.
        let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
            return;
        };
        let i = (y * self.width as usize + x) * 3;
        self.pixels[i..i + 3].copy_from_slice(&c);
    }

    /// Fills `r`.
    pub fn fill(&mut self, r: Rect, c: Rgb) {
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                self.put(x, y, c);
            }
        }
    }

    /// Draws a `thickness`-pixel line from (`x0`, `y0`) to (`x1`, `y1`) by
    /// stamping a square at every step along its longer axis.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), thickness: i32, c: Rgb) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let steps = px(dx.abs().max(dy.abs()).ceil()).max(1);
        let half = (thickness - 1) / 2;
        for i in 0..=steps {
            let t = f64::from(i) / f64::from(steps);
            let (x, y) = (px(from.0 + dx * t), px(from.1 + dy * t));
            self.fill(
                Rect {
                    x: x - half,
                    y: y - half,
                    w: thickness,
                    h: thickness,
                },
                c,
            );
        }
    }

    /// Draws a filled `marker` of radius `r` centred on (`cx`, `cy`).
    pub fn marker(&mut self, cx: i32, cy: i32, r: i32, shape: Marker, c: Rgb) {
        for dy in -r..=r {
            for dx in -r..=r {
                let inside = match shape {
                    Marker::Circle => dx * dx + dy * dy <= r * r + r / 2,
                    Marker::Square => true,
                    Marker::Diamond => dx.abs() + dy.abs() <= r,
                    // Apex at the top: the half-width grows linearly from 0
                    // at dy = -r to r at dy = r.
                    Marker::Triangle => 2 * dx.abs() <= dy + r,
                };
                if inside {
                    self.put(cx + dx, cy + dy, c);
                }
            }
        }
    }

    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel
    /// a `scale` x `scale` block. Characters without a glyph draw as `?`.
    pub fn text(&mut self, x: i32, y: i32, text: &str, scale: u32, c: Rgb) {
        self.glyphs(text, scale, c, |col, row| (x + col, y + row));
    }

    /// Draws `text` turned 90 degrees anticlockwise (read bottom to top)
    /// with its baseline start at the bottom-left corner (`x`, `y`): for
    /// the y axis label.
    pub fn text_up(&mut self, x: i32, y: i32, text: &str, scale: u32, c: Rgb) {
        self.glyphs(text, scale, c, |col, row| (x + row, y - col));
    }

    /// Plots the pixels of `text`, mapping (column, row) in unrotated text
    /// pixels to the canvas through `at`.
    fn glyphs(&mut self, text: &str, scale: u32, colour: Rgb, at: impl Fn(i32, i32) -> (i32, i32)) {
        let fallback = font::glyph('?').expect("'?' has a glyph");
        let size = i32::try_from(scale).unwrap_or(1);
        let advance = i32::try_from(font::ADVANCE * scale).unwrap_or(0);
        for (index, ch) in (0i32..).zip(text.chars()) {
            let glyph = font::glyph(ch).unwrap_or(fallback);
            let below = i32::try_from(font::drop(ch)).unwrap_or(0);
            for (row, fy) in (0..font::HEIGHT).zip(below..) {
                for (col, fx) in (0..font::WIDTH).zip(0i32..) {
                    if !font::is_set(*glyph, col, row) {
                        continue;
                    }
                    for by in 0..size {
                        for bx in 0..size {
                            let (x, y) = at(index * advance + fx * size + bx, fy * size + by);
                            self.put(x, y, colour);
                        }
                    }
                }
            }
        }
    }

    /// The image as an 8-bit RGB PNG.
    pub fn encode_png(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("writing the PNG header")?;
        writer
            .write_image_data(&self.pixels)
            .context("writing the PNG data")?;
        writer.finish().context("finishing the PNG")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb = [255, 255, 255];
    const RED: Rgb = [200, 0, 0];

    fn count(canvas: &Canvas, c: Rgb) -> usize {
        (0..canvas.height())
            .flat_map(|y| (0..canvas.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| canvas.pixel(x, y) == Some(c))
            .count()
    }

    #[test]
    fn clip_keeps_drawing_inside() {
        let mut canvas = Canvas::new(20, 10, WHITE);
        let clip = Rect {
            x: 5,
            y: 2,
            w: 10,
            h: 6,
        };
        canvas.set_clip(Some(clip));
        canvas.line((-50.0, 5.0), (80.0, 5.0), 3, RED);
        assert_eq!(count(&canvas, RED), 10 * 3);
        assert_eq!(canvas.pixel(4, 5), Some(WHITE));
        assert_eq!(canvas.pixel(5, 5), Some(RED));
        assert_eq!(canvas.pixel(15, 5), Some(WHITE));
        canvas.set_clip(None);
        canvas.put(0, 0, RED);
        canvas.put(-1, 0, RED);
        canvas.put(20, 0, RED);
        assert_eq!(canvas.pixel(0, 0), Some(RED));
        assert_eq!(canvas.pixel(20, 0), None);
    }

    #[test]
    fn text_draws_glyph_pixels_scaled() {
        let mut canvas = Canvas::new(40, 20, WHITE);
        canvas.text(1, 1, "-", 2, RED);
        // '-' is one 5-pixel row: 10 x 2 canvas pixels at scale 2.
        assert_eq!(count(&canvas, RED), 20);
        let mut up = Canvas::new(20, 40, WHITE);
        up.text_up(1, 30, "-", 2, RED);
        assert_eq!(count(&up, RED), 20);
    }

    #[test]
    fn markers_are_filled_and_distinct() {
        let mut shapes = Vec::new();
        for shape in [
            Marker::Circle,
            Marker::Square,
            Marker::Diamond,
            Marker::Triangle,
        ] {
            let mut canvas = Canvas::new(20, 20, WHITE);
            canvas.marker(10, 10, 4, shape, RED);
            assert_eq!(canvas.pixel(10, 10), Some(RED), "{shape:?} centre");
            assert!(count(&canvas, RED) > 30, "{shape:?} is filled");
            shapes.push(canvas.pixels);
        }
        // The square fills its whole 9 x 9 box.
        assert_eq!(shapes[1].chunks(3).filter(|p| *p == RED).count(), 81);
        for (i, a) in shapes.iter().enumerate() {
            for b in &shapes[i + 1..] {
                assert_ne!(a, b, "two marker shapes draw alike");
            }
        }
    }

    #[test]
    fn png_round_trips() {
        let mut canvas = Canvas::new(7, 3, WHITE);
        canvas.put(6, 2, RED);
        let bytes = canvas.encode_png().expect("encodes");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!((info.width, info.height), (7, 3));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(&buf[..3], &WHITE);
        assert_eq!(&buf[info.buffer_size() - 3..info.buffer_size()], &RED);
    }
}
