//! The self-contained HTML report (filled in below the first version).

use super::model::Scorecard;

/// Renders `card` as one HTML page.
pub fn render(card: &Scorecard) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>esr {}</title></head>\
         <body><h1>esr scorecard {}</h1><svg width=\"10\" height=\"10\"></svg><pre>{}</pre></body></html>",
        escape(&card.run_id),
        escape(&card.run_id),
        escape(&card.render_text())
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
