//! The self-contained HTML page: the Markdown summary rendered lightly (headings, paragraphs,
//! tables, bold and code), the charts as inline SVG, and the scenario. No scripts.

use std::fmt::Write as _;

use super::Report;

impl Report {
    pub fn html(&self) -> String {
        let mut o = String::new();
        let _ = write!(
            o,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Switchboard load test: {}</title>\
             <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#111}}table{{border-collapse:collapse;margin:1em 0}}\
             td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
             code,pre{{background:#f3f4f6;padding:2px 4px}}pre{{padding:8px;overflow:auto}}.bad{{color:#b91c1c}}.ok{{color:#15803d}}</style></head><body>",
            esc(&self.scenario)
        );
        let md = self.markdown(None);
        // A light Markdown rendering of the summary: headings, paragraphs and tables.
        let mut in_table = false;
        for line in md.lines() {
            if line.starts_with('|') {
                if line.starts_with("|---") {
                    continue;
                }
                if !in_table {
                    o.push_str("<table>");
                    in_table = true;
                }
                o.push_str("<tr>");
                for cell in line.trim_matches('|').split('|') {
                    let _ = write!(o, "<td>{}</td>", inline(cell.trim()));
                }
                o.push_str("</tr>");
                continue;
            }
            if in_table {
                o.push_str("</table>");
                in_table = false;
            }
            if let Some(h) = line.strip_prefix("# ") {
                let _ = write!(o, "<h1>{}</h1>", inline(h));
            } else if let Some(li) = line.strip_prefix("- ") {
                let _ = write!(o, "<div>&bull; {}</div>", inline(li));
            } else if !line.trim().is_empty() {
                let _ = write!(o, "<p>{}</p>", inline(line));
            }
        }
        if in_table {
            o.push_str("</table>");
        }
        let verdict = if self.loss_total == 0 && self.errors_total == 0 {
            "<p class=\"ok\">No loss, no errors.</p>"
        } else {
            "<p class=\"bad\">Loss or errors: see above.</p>"
        };
        o.push_str(verdict);
        for (_, c) in self.charts() {
            o.push_str("<div>");
            o.push_str(&c.to_svg());
            o.push_str("</div>");
        }
        let _ = write!(
            o,
            "<h2>Scenario</h2><pre>{}</pre></body></html>",
            esc(&self.scenario_toml)
        );
        o
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `**bold**` and `` `code` `` only.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let e = esc(s);
    let mut bold = false;
    let mut code = false;
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' && chars.peek() == Some(&'*') {
            chars.next();
            out.push_str(if bold { "</b>" } else { "<b>" });
            bold = !bold;
        } else if c == '`' {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
        } else {
            out.push(c);
        }
    }
    if bold {
        out.push_str("</b>");
    }
    if code {
        out.push_str("</code>");
    }
    out
}
