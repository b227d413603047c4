//! `--name value` options (repeatable), and everything after `--`.

use std::collections::HashMap;
use std::str::FromStr;

use crate::AnyResult;

pub struct Args {
    values: HashMap<String, Vec<String>>,
    pub rest: Vec<String>,
}

impl Args {
    pub fn parse(mut argv: impl Iterator<Item = String>) -> Self {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut rest = Vec::new();
        while let Some(arg) = argv.next() {
            if arg == "--" {
                rest.extend(argv.by_ref());
                break;
            }
            if let Some(name) = arg.strip_prefix("--") {
                let value = argv.next().unwrap_or_default();
                values.entry(name.to_owned()).or_default().push(value);
            } else {
                rest.push(arg);
            }
        }
        Self { values, rest }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .get(name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    pub fn required(&self, name: &str) -> AnyResult<&str> {
        self.str(name)
            .ok_or_else(|| format!("--{name} is required").into())
    }

    pub fn num<T: FromStr>(&self, name: &str, default: T) -> AnyResult<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.str(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--{name} {v}: {e}").into()),
        }
    }
}

/// The `p`-th percentile (0–100) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// VmRSS or VmHWM of a process, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
