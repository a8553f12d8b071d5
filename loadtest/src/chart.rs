//! Line charts as SVG (for the HTML report) and PNG (for docs), with no font or plotting
//! dependency: SVG text is rendered by the browser; the PNG uses a built-in 3x5 pixel font.

use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub color: (u8, u8, u8),
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// A horizontal reference line (e.g. the p99 target).
    pub hline: Option<(f64, String)>,
}

const W: usize = 900;
const H: usize = 320;
const ML: usize = 70;
const MR: usize = 20;
const MT: usize = 34;
const MB: usize = 46;

struct Scale {
    x_max: f64,
    y_max: f64,
    x_ticks: Vec<f64>,
    y_ticks: Vec<f64>,
}

/// A round step giving about `n` ticks up to `max`.
fn nice_ticks(max: f64, n: usize) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let ticks = (0..=((top / step).round() as usize))
        .map(|i| i as f64 * step)
        .collect();
    (top, ticks)
}

fn fmt_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v == v.trunc() || v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl Chart {
    fn scale(&self) -> Scale {
        let pts = self.series.iter().flat_map(|s| s.points.iter());
        let x_max = pts.clone().map(|p| p.0).fold(0.0, f64::max);
        let mut y_max = pts.map(|p| p.1).fold(0.0, f64::max);
        if let Some((y, _)) = self.hline {
            y_max = y_max.max(y * 1.1);
        }
        let (x_max, x_ticks) = nice_ticks(x_max, 10);
        let (y_max, y_ticks) = nice_ticks(y_max, 5);
        Scale {
            x_max,
            y_max,
            x_ticks,
            y_ticks,
        }
    }

    fn px(&self, s: &Scale, x: f64, y: f64) -> (f64, f64) {
        let pw = (W - ML - MR) as f64;
        let ph = (H - MT - MB) as f64;
        (
            ML as f64 + x / s.x_max * pw,
            (H - MB) as f64 - (y / s.y_max).min(1.05) * ph,
        )
    }

    pub fn to_svg(&self) -> String {
        let s = self.scale();
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = write!(
            o,
            r#"<text x="{}" y="20" font-size="15" font-weight="bold">{}</text>"#,
            ML,
            esc(&self.title)
        );
        for y in &s.y_ticks {
            let (_, py) = self.px(&s, 0.0, *y);
            let _ = write!(
                o,
                r##"<line x1="{ML}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - MR,
                ML - 6,
                py + 4.0,
                fmt_num(*y)
            );
        }
        for x in &s.x_ticks {
            let (px, _) = self.px(&s, *x, 0.0);
            let _ = write!(
                o,
                r#"<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
                H - MB + 16,
                fmt_num(*x)
            );
        }
        let _ = write!(
            o,
            r##"<line x1="{ML}" y1="{}" x2="{}" y2="{}" stroke="#111"/><line x1="{ML}" y1="{MT}" x2="{ML}" y2="{}" stroke="#111"/>"##,
            H - MB,
            W - MR,
            H - MB,
            H - MB
        );
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (ML + W - MR) / 2,
            H - 8,
            esc(&self.x_label),
            (MT + H - MB) / 2,
            esc(&self.y_label)
        );
        if let Some((y, label)) = &self.hline {
            let (_, py) = self.px(&s, 0.0, *y);
            let _ = write!(
                o,
                r##"<line x1="{ML}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#9ca3af" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#6b7280">{}</text>"##,
                W - MR,
                W - MR - 4,
                py - 4.0,
                esc(label)
            );
        }
        for (i, ser) in self.series.iter().enumerate() {
            let (r, g, b) = ser.color;
            let pts: Vec<String> = ser
                .points
                .iter()
                .map(|(x, y)| {
                    let (px, py) = self.px(&s, *x, *y);
                    format!("{px:.1},{py:.1}")
                })
                .collect();
            let _ = write!(
                o,
                r#"<polyline fill="none" stroke="rgb({r},{g},{b})" stroke-width="2" points="{}"/>"#,
                pts.join(" ")
            );
            let lx = W - MR - 180;
            let ly = MT + 6 + i * 16;
            let _ = write!(
                o,
                r#"<rect x="{lx}" y="{ly}" width="14" height="4" fill="rgb({r},{g},{b})"/><text x="{}" y="{}">{}</text>"#,
                lx + 20,
                ly + 6,
                esc(&ser.name)
            );
        }
        o.push_str("</svg>");
        o
    }

    pub fn to_png(&self) -> Vec<u8> {
        let s = self.scale();
        let mut c = Canvas::new(W, H);
        c.text(ML as i64, 10, &self.title, 3, (0, 0, 0));
        for y in &s.y_ticks {
            let (_, py) = self.px(&s, 0.0, *y);
            c.line(ML as f64, py, (W - MR) as f64, py, (229, 231, 235), 1);
            let t = fmt_num(*y);
            c.text(
                ML as i64 - 8 - Canvas::text_width(&t, 2),
                py as i64 - 5,
                &t,
                2,
                (0, 0, 0),
            );
        }
        for x in &s.x_ticks {
            let (px, _) = self.px(&s, *x, 0.0);
            let t = fmt_num(*x);
            c.text(
                px as i64 - Canvas::text_width(&t, 2) / 2,
                (H - MB + 8) as i64,
                &t,
                2,
                (0, 0, 0),
            );
        }
        let x_label_w = Canvas::text_width(&self.x_label, 2);
        c.text(
            ((ML + W - MR) / 2) as i64 - x_label_w / 2,
            (H - 16) as i64,
            &self.x_label,
            2,
            (0, 0, 0),
        );
        c.text(4, (MT - 14) as i64, &self.y_label, 2, (0, 0, 0));
        c.line(
            ML as f64,
            (H - MB) as f64,
            (W - MR) as f64,
            (H - MB) as f64,
            (17, 17, 17),
            1,
        );
        c.line(
            ML as f64,
            MT as f64,
            ML as f64,
            (H - MB) as f64,
            (17, 17, 17),
            1,
        );
        if let Some((y, label)) = &self.hline {
            let (_, py) = self.px(&s, 0.0, *y);
            let mut x = ML as f64;
            while x < (W - MR) as f64 {
                c.line(
                    x,
                    py,
                    (x + 6.0).min((W - MR) as f64),
                    py,
                    (156, 163, 175),
                    1,
                );
                x += 10.0;
            }
            let w = Canvas::text_width(label, 2);
            c.text(
                (W - MR) as i64 - w - 4,
                py as i64 - 14,
                label,
                2,
                (107, 114, 128),
            );
        }
        for (i, ser) in self.series.iter().enumerate() {
            for w in ser.points.windows(2) {
                let (x0, y0) = self.px(&s, w[0].0, w[0].1);
                let (x1, y1) = self.px(&s, w[1].0, w[1].1);
                c.line(x0, y0, x1, y1, ser.color, 2);
            }
            let lx = (W - MR - 180) as f64;
            let ly = (MT + 6 + i * 16) as f64;
            for d in 0..4 {
                c.line(lx, ly + d as f64, lx + 14.0, ly + d as f64, ser.color, 1);
            }
            c.text(lx as i64 + 20, ly as i64 - 2, &ser.name, 2, (0, 0, 0));
        }
        c.encode()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: (u8, u8, u8)) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        self.px[i] = c.0;
        self.px[i + 1] = c.1;
        self.px[i + 2] = c.2;
    }

    /// A line `thick` pixels wide (simple DDA: plenty for charts).
    fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: (u8, u8, u8), thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let x = (x0 + (x1 - x0) * t).round() as i64;
            let y = (y0 + (y1 - y0) * t).round() as i64;
            for dx in 0..thick {
                for dy in 0..thick {
                    self.set(x + dx, y + dy, c);
                }
            }
        }
    }

    fn text_width(t: &str, scale: i64) -> i64 {
        t.chars().count() as i64 * 4 * scale
    }

    fn text(&mut self, x: i64, y: i64, t: &str, scale: i64, c: (u8, u8, u8)) {
        for (i, ch) in t.chars().enumerate() {
            let rows = glyph(ch.to_ascii_uppercase());
            for (ry, row) in rows.iter().enumerate() {
                for rx in 0..3 {
                    if row & (0b100 >> rx) != 0 {
                        for sx in 0..scale {
                            for sy in 0..scale {
                                self.set(
                                    x + (i as i64 * 4 + rx) * scale + sx,
                                    y + ry as i64 * scale + sy,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().expect("PNG header into a Vec");
            wr.write_image_data(&self.px).expect("PNG data into a Vec");
        }
        out
    }
}

/// 3x5 pixel glyphs, one row per entry, bit 2 = left column.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 2, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        ':' => [0, 2, 0, 2, 0],
        '/' => [1, 1, 2, 4, 4],
        '%' => [5, 1, 2, 4, 5],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '=' => [0, 7, 0, 7, 0],
        '<' => [1, 2, 4, 2, 1],
        '>' => [4, 2, 1, 2, 4],
        '_' => [0, 0, 0, 0, 7],
        _ => [0, 0, 0, 0, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "Latency <p99>".into(),
            x_label: "seconds".into(),
            y_label: "ms".into(),
            series: vec![Series {
                name: "p99".into(),
                color: (220, 38, 38),
                points: vec![(0.0, 1.0), (1.0, 30.0), (2.0, 5.0)],
            }],
            hline: Some((25.0, "target 25 ms".into())),
        }
    }

    #[test]
    fn svg_is_well_formed_and_escaped() {
        let svg = chart().to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Latency &lt;p99&gt;"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn png_decodes_with_the_chart_size() {
        let bytes = chart().to_png();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!(
            (reader.info().width, reader.info().height),
            (W as u32, H as u32)
        );
    }

    #[test]
    fn ticks_are_round() {
        let (top, ticks) = nice_ticks(93.0, 5);
        assert_eq!(top, 100.0);
        assert_eq!(ticks.len(), 6);
        let (top, _) = nice_ticks(0.0, 5);
        assert_eq!(top, 1.0);
    }
}
