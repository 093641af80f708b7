//! Inline SVG charts for the HTML report: no script, no external resource, fixed size.

use std::fmt::Write as _;

use super::html::escape;
use super::threshold::fmt_num;

const W: f64 = 1000.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 50.0;

/// One line of a line chart.
pub struct Line<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// A shaded span of the x axis (a fault window).
pub struct Band<'a> {
    pub from: f64,
    pub to: f64,
    pub label: &'a str,
}

/// "Nice" tick step for a range: 1, 2 or 5 times a power of ten, about `n` ticks.
fn nice_step(range: f64, n: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"100%\" \
         role=\"img\" aria-label=\"{t}\" class=\"chart\"><title>{t}</title>\
         <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>",
        t = escape(title)
    );
}

/// Horizontal grid lines and y tick labels for values `0..=y_max`.
fn y_grid(out: &mut String, y_max: f64) {
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let ys = nice_step(y_max, 5.0);
    let mut y = 0.0;
    while y <= y_max * 1.0001 {
        let py = TOP + ph - y / y_max * ph;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#444\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            py + 4.0,
            fmt_num(y)
        );
        y += ys;
    }
}

/// The two axis lines and their labels.
fn frame(out: &mut String, x_label: &str, y_label: &str) {
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#888\"/>\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222\">{}</text>\
         <text x=\"16\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222\" \
         transform=\"rotate(-90 16 {:.1})\">{}</text>",
        TOP + ph,
        TOP + ph,
        LEFT + pw,
        TOP + ph,
        LEFT + pw / 2.0,
        H - 10.0,
        escape(x_label),
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        escape(y_label)
    );
}

fn axes(out: &mut String, x_max: f64, y_max: f64, x_label: &str, y_label: &str) {
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    y_grid(out, y_max);
    let xs = nice_step(x_max, 10.0);
    let mut x = 0.0;
    while x <= x_max * 1.0001 {
        let px = LEFT + x / x_max * pw;
        let _ = write!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
            TOP + ph,
            TOP + ph + 5.0,
            TOP + ph + 19.0,
            fmt_num(x)
        );
        x += xs;
    }
    frame(out, x_label, y_label);
}

fn legend(out: &mut String, items: &[(&str, &str)]) {
    let mut x = LEFT + 10.0;
    for (name, color) in items {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"8\" width=\"14\" height=\"10\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"17\" font-size=\"12\" fill=\"#222\">{}</text>",
            x + 18.0,
            escape(name)
        );
        x += 30.0 + 7.0 * name.len() as f64;
    }
}

/// A line chart of `lines` over x in `[0, x_max]`, with shaded `bands`.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line<'_>],
    bands: &[Band<'_>],
) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1.0);
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    for b in bands {
        let x0 = LEFT + (b.from / x_max).clamp(0.0, 1.0) * pw;
        let x1 = LEFT + (b.to / x_max).clamp(0.0, 1.0) * pw;
        let _ = write!(
            out,
            "<rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{ph:.1}\" fill=\"#f8d7da\" \
             opacity=\"0.7\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#a12\">{}</text>",
            (x1 - x0).max(1.0),
            x0 + 3.0,
            TOP + 14.0,
            escape(b.label)
        );
    }
    axes(&mut out, x_max, y_max, x_label, y_label);
    for l in lines {
        if l.points.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, (x, y)) in l.points.iter().enumerate() {
            let px = LEFT + x / x_max * pw;
            let py = TOP + ph - (y / y_max).clamp(0.0, 1.0) * ph;
            let _ = write!(d, "{}{px:.1},{py:.1}", if i == 0 { "M" } else { " L" });
        }
        let dash = if l.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
            l.color
        );
    }
    let items: Vec<(&str, &str)> = lines.iter().map(|l| (l.name, l.color)).collect();
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}

/// A bar chart with one labelled bar per entry (equal widths).
pub fn bar_chart(title: &str, x_label: &str, y_label: &str, bars: &[(String, u64)]) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let y_max = bars.iter().map(|b| b.1).max().unwrap_or(0) as f64;
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    // The x ticks are the bars' own labels.
    y_grid(&mut out, y_max);
    let n = bars.len().max(1) as f64;
    let bw = pw / n;
    let label_every = (bars.len() / 12).max(1);
    for (i, (label, count)) in bars.iter().enumerate() {
        let h = *count as f64 / y_max * ph;
        let x = LEFT + i as f64 * bw;
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#3b6fb6\">\
             <title>{}: {count}</title></rect>",
            x + 1.0,
            TOP + ph - h,
            (bw - 2.0).max(1.0),
            escape(label)
        );
        if i % label_every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                x + bw / 2.0,
                TOP + ph + 16.0,
                escape(label)
            );
        }
    }
    frame(&mut out, x_label, y_label);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 10.0), 1.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
    }

    #[test]
    fn charts_are_svg_and_escape_labels() {
        let l = line_chart(
            "t<1>",
            "s",
            "ms",
            &[Line {
                name: "p50",
                color: "#000",
                points: vec![(0.0, 1.0), (1.0, 2.0)],
                dashed: false,
            }],
            &[Band {
                from: 0.2,
                to: 0.5,
                label: "A&B",
            }],
        );
        assert!(l.starts_with("<svg") && l.ends_with("</svg>"));
        assert!(l.contains("t&lt;1&gt;") && l.contains("A&amp;B") && l.contains("<path"));
        let b = bar_chart("h", "ms", "n", &[("1".into(), 3), ("2".into(), 0)]);
        assert!(b.contains("<rect") && b.ends_with("</svg>"));
    }
}
