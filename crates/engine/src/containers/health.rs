//! Health checks (`HEALTHCHECK`, `--health-*`): the test runs inside the
//! container (through `berth shim-exec`) on its interval; results go into
//! `State.Health` (status, failing streak, the last five results) and
//! `health_status` events, as Docker does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::events::attrs;
use crate::images::now_rfc3339;
use crate::Engine;

const SECOND: u64 = 1_000_000_000;

fn dur(v: &Value, default_secs: u64) -> Duration {
    match v.as_u64().filter(|n| *n > 0) {
        Some(ns) => Duration::from_nanos(ns),
        None => Duration::from_nanos(default_secs * SECOND),
    }
}

/// The command a health test runs, or None for no check.
fn probe_command(test: &Value) -> Option<Vec<String>> {
    let t: Vec<String> = test
        .as_array()?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    match t.first().map(String::as_str) {
        Some("CMD") if t.len() > 1 => Some(t[1..].to_vec()),
        Some("CMD-SHELL") if t.len() > 1 => {
            Some(vec!["/bin/sh".into(), "-c".into(), t[1..].join(" ")])
        }
        _ => None,
    }
}

impl Engine {
    /// Starts the health-check loop of a running container, if it has one.
    pub(crate) fn spawn_health(self: &Arc<Self>, id: &str) {
        let Ok(rec) = self.resolve_container(id) else {
            return;
        };
        let hc = rec
            .config
            .get("Healthcheck")
            .cloned()
            .unwrap_or(Value::Null);
        let Some(cmd) = probe_command(&hc["Test"]) else {
            return;
        };
        let interval = dur(&hc["Interval"], 30);
        let timeout = dur(&hc["Timeout"], 30);
        let start_period = Duration::from_nanos(hc["StartPeriod"].as_u64().unwrap_or(0));
        let start_interval = dur(&hc["StartInterval"], 5);
        let retries = hc["Retries"].as_u64().filter(|r| *r > 0).unwrap_or(3);
        let run = rec.state.started_at.clone();
        let engine = self.clone();
        let id = rec.id.clone();
        self.rt.spawn(async move {
            let began = tokio::time::Instant::now();
            loop {
                let in_start = began.elapsed() < start_period;
                tokio::time::sleep(if in_start {
                    start_interval.min(interval)
                } else {
                    interval
                })
                .await;
                let Ok(rec) = engine.resolve_container(&id) else {
                    return;
                };
                if !rec.state.running || rec.state.started_at != run {
                    return;
                }
                if rec.state.paused {
                    continue;
                }
                let start = now_rfc3339();
                let (code, output) = engine.run_captured(&id, &cmd, timeout).await;
                let end = now_rfc3339();
                let e = engine.clone();
                let id2 = id.clone();
                let run2 = run.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    e.record_health(&id2, &run2, code, output, start, end, in_start, retries)
                })
                .await;
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn record_health(
        &self,
        id: &str,
        run: &str,
        code: i64,
        output: String,
        start: String,
        end: String,
        in_start: bool,
        retries: u64,
    ) {
        let Ok(mut rec) = self.resolve_container(id) else {
            return;
        };
        if !rec.state.running || rec.state.started_at != run {
            return;
        }
        let mut h = rec
            .state
            .health
            .clone()
            .unwrap_or_else(|| json!({"Status": "starting", "FailingStreak": 0, "Log": []}));
        let before = h["Status"].as_str().unwrap_or("starting").to_string();
        let mut log: Vec<Value> = h["Log"].as_array().cloned().unwrap_or_default();
        log.push(json!({"Start": start, "End": end, "ExitCode": code, "Output": output}));
        let skip = log.len().saturating_sub(5);
        log.drain(..skip);
        h["Log"] = json!(log);
        if code == 0 {
            h["FailingStreak"] = json!(0);
            h["Status"] = json!("healthy");
        } else if !in_start {
            let streak = h["FailingStreak"].as_u64().unwrap_or(0) + 1;
            h["FailingStreak"] = json!(streak);
            if streak >= retries {
                h["Status"] = json!("unhealthy");
            }
        }
        let after = h["Status"].as_str().unwrap_or("starting").to_string();
        rec.state.health = Some(h);
        if self.save_container(&rec).is_err() {
            return;
        }
        if after != before {
            let mut a: BTreeMap<String, String> = attrs([
                ("name", rec.name.trim_start_matches('/').to_string()),
                ("image", rec.image.clone()),
            ]);
            a.insert("health_status".into(), after.clone());
            self.events
                .publish("container", &format!("health_status: {after}"), &rec.id, a);
        }
    }
}
