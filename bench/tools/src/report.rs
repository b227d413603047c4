//! The results of a `bench/run`: every measurement beside the limit measured in
//! the same run, as JSON, as a Markdown table, and as a PNG chart of how much of
//! each limit aegis reaches.
//!
//! Input: `--meta FILE` (one JSON object: date, commit, machine, settings) and
//! `--in FILE` (one JSON object per line and measurement):
//!
//! ```json
//! {"id": "token_me", "section": "Token check", "name": "GET /me (aiohttp)",
//!  "unit": "req/s", "better": "higher", "aegis": 41000, "limit": 80000,
//!  "aegis_detail": "p50 1.4 ms, p99 3.1 ms", "limit_detail": "…", "limit_what": "…",
//!  "target": 5, "target_op": "<", "check": {"ok": true, "what": "…"}, "extra": {…}}
//! ```
//!
//! `ratio` is the share of the limit reached: aegis / limit when higher is
//! better, limit / aegis when lower is better. `pass` is the target (and the
//! check) when there is one, else null.

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::{json, Value};

use crate::args::Args;
use crate::AnyResult;

pub fn main(args: &Args) -> AnyResult<()> {
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(args.required("meta")?)?)?;
    let mut rows = Vec::new();
    for line in std::fs::read_to_string(args.required("in")?)?.lines() {
        if !line.trim().is_empty() {
            rows.push(complete(serde_json::from_str(line)?));
        }
    }
    let mut doc = meta.clone();
    doc["measurements"] = Value::Array(rows.clone());
    std::fs::write(
        args.required("json")?,
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    std::fs::write(args.required("md")?, markdown(&meta, &rows))?;
    if let Some(png) = args.str("png") {
        chart(&meta, &rows, png, args.str("font"))?;
    }
    Ok(())
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64).filter(|x| x.is_finite())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Adds `ratio` and `pass`.
fn complete(mut m: Value) -> Value {
    let higher = text(&m, "better") != "lower";
    let ratio = match (num(&m, "aegis"), num(&m, "limit")) {
        (Some(a), Some(l)) if a > 0.0 && l > 0.0 => Some(if higher { a / l } else { l / a }),
        _ => None,
    };
    let target = match (num(&m, "aegis"), num(&m, "target")) {
        (Some(a), Some(t)) => Some(match text(&m, "target_op") {
            "<" => a < t,
            "<=" => a <= t,
            ">" => a > t,
            _ => a >= t,
        }),
        (None, Some(_)) => Some(false),
        _ => None,
    };
    let check = m
        .get("check")
        .and_then(|c| c.get("ok"))
        .and_then(Value::as_bool);
    let pass = match (target, check) {
        (None, None) => None,
        (t, c) => Some(t.unwrap_or(true) && c.unwrap_or(true)),
    };
    m["ratio"] = json!(ratio);
    m["pass"] = json!(pass);
    m
}

/// 41,234 / 3.42 / 0.251 — thousands separators for large values, three
/// significant digits for small ones.
pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// 41.2k / 3.42 — for the chart.
fn short(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        fmt(v)
    }
}

fn value_cell(v: Option<f64>, unit: &str, detail: &str) -> String {
    let mut s = match v {
        Some(v) => format!("{} {unit}", fmt(v)),
        None => "—".to_owned(),
    };
    if !detail.is_empty() {
        let _ = write!(s, " ({detail})");
    }
    s
}

fn target_cell(m: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(t) = num(m, "target") {
        let op = match text(m, "target_op") {
            "" => "≥",
            "<=" => "≤",
            ">=" => "≥",
            op => op,
        };
        parts.push(format!("{op} {} {}", fmt(t), text(m, "unit")));
    }
    if let Some(c) = m.get("check") {
        parts.push(text(c, "what").to_owned());
    }
    parts.join("; ")
}

fn markdown(meta: &Value, rows: &[Value]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# aegis against this machine's limits\n");
    let _ = writeln!(
        md,
        "Written by `bench/run` on {} (commit {}{}). Machine: {}. Load average before the run: {}; after: {}.\n",
        text(meta, "date"),
        text(meta, "commit"),
        if meta.get("dirty").and_then(Value::as_bool) == Some(true) {
            " with uncommitted changes"
        } else {
            ""
        },
        text(meta, "machine"),
        text(meta, "load_before"),
        text(meta, "load_after"),
    );
    if let Some(settings) = meta.get("settings").and_then(Value::as_object) {
        let list: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(md, "Settings: {}.\n", list.join(", ").replace('"', ""));
    }
    let _ = writeln!(
        md,
        "*Ratio* is the share of the limit aegis reaches (aegis ÷ limit for rates, limit ÷ aegis for times and memory).\n"
    );
    let _ = writeln!(
        md,
        "| measurement | aegis | limit | ratio | target | result |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---|---|");
    for m in rows {
        let unit = text(m, "unit");
        let ratio = num(m, "ratio").map_or("—".to_owned(), |r| format!("{:.0}%", r * 100.0));
        let pass = match m.get("pass").and_then(Value::as_bool) {
            Some(true) => "pass",
            Some(false) => "**fail**",
            None => "",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            text(m, "name"),
            value_cell(num(m, "aegis"), unit, text(m, "aegis_detail")),
            value_cell(num(m, "limit"), unit, text(m, "limit_detail")),
            ratio,
            target_cell(m),
            pass,
        );
    }
    let _ = writeln!(md, "\n## What each limit is\n");
    for m in rows {
        let what = text(m, "limit_what");
        if !what.is_empty() {
            let _ = writeln!(md, "- **{}**: {}", text(m, "name"), what);
        }
    }
    let notes: Vec<&str> = meta
        .get("notes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !notes.is_empty() {
        let _ = writeln!(md, "\n## Notes\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

const FONT: &str = "bench-sans";

fn chart(meta: &Value, rows: &[Value], out: &str, font: Option<&str>) -> AnyResult<()> {
    let path = font.ok_or("--font TTF is required for the chart")?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(path)?.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| format!("{path}: not a usable font"))?;

    let shown: Vec<&Value> = rows.iter().filter(|m| num(m, "ratio").is_some()).collect();
    let (w, row_h, top, bottom) = (1600i32, 34i32, 110i32, 70i32);
    let h = top + bottom + row_h * shown.len().max(1) as i32;
    let root = BitMapBackend::new(out, (w as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE)?;

    let title = TextStyle::from((FONT, 26).into_font()).color(&BLACK);
    let small = TextStyle::from((FONT, 15).into_font()).color(&RGBColor(80, 80, 80));
    let label = TextStyle::from((FONT, 16).into_font()).color(&BLACK);
    root.draw_text(
        "aegis as a share of this machine's limits",
        &title,
        (20, 14),
    )?;
    root.draw_text(
        &format!(
            "bench/run, {}, commit {}; {}; load average before {}",
            text(meta, "date"),
            text(meta, "commit"),
            text(meta, "machine"),
            text(meta, "load_before")
        ),
        &small,
        (20, 50),
    )?;
    root.draw_text(
        "bar = aegis ÷ limit (rates) or limit ÷ aegis (times, memory); green: meets its target (or check), red: misses it, blue: no target",
        &small,
        (20, 72),
    )?;

    // Bars from x0 (0%) to x1 (100%); beyond 100% (aegis above the measured
    // floor, e.g. noise) the bar runs on to at most 125%.
    let (x0, x1) = (560i32, 1180i32);
    let scale = |r: f64| x0 + ((x1 - x0) as f64 * r.clamp(0.0, 1.25)) as i32;
    let grid = RGBColor(220, 220, 220);
    for pct in [0, 25, 50, 75, 100] {
        let x = scale(pct as f64 / 100.0);
        root.draw(&PathElement::new(
            vec![(x, top - 6), (x, top + row_h * shown.len() as i32)],
            grid.stroke_width(1),
        ))?;
        root.draw_text(
            &format!("{pct}%"),
            &small.pos(Pos::new(HPos::Center, VPos::Top)),
            (x, top + row_h * shown.len() as i32 + 6),
        )?;
    }
    for (i, m) in shown.iter().enumerate() {
        let y = top + row_h * i as i32;
        let ratio = num(m, "ratio").unwrap_or(0.0);
        let color = match m.get("pass").and_then(Value::as_bool) {
            Some(true) => RGBColor(46, 125, 50),
            Some(false) => RGBColor(198, 40, 40),
            None => RGBColor(21, 101, 192),
        };
        let name = text(m, "name");
        let name = if name.chars().count() > 62 {
            format!("{}…", name.chars().take(61).collect::<String>())
        } else {
            name.to_owned()
        };
        root.draw_text(
            &name,
            &label.pos(Pos::new(HPos::Right, VPos::Center)),
            (x0 - 10, y + row_h / 2),
        )?;
        root.draw(&Rectangle::new(
            [(x0, y + 6), (scale(ratio).max(x0 + 2), y + row_h - 6)],
            color.filled(),
        ))?;
        let unit = text(m, "unit");
        let note = format!(
            "{:.0}%  {} vs {} {unit}",
            ratio * 100.0,
            short(num(m, "aegis").unwrap_or(f64::NAN)),
            short(num(m, "limit").unwrap_or(f64::NAN)),
        );
        root.draw_text(
            &note,
            &small.pos(Pos::new(HPos::Left, VPos::Center)),
            (scale(ratio).max(x0 + 2) + 8, y + row_h / 2),
        )?;
    }
    root.present()?;
    Ok(())
}
