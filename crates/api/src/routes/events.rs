//! `GET /events`: past events since `since`, then live ones until `until`,
//! filtered as Docker filters them.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_engine::events::Event;
use berth_engine::images::parse_filters;
use berth_engine::EngineError;

use super::State as S;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::stream::json_lines;

const FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Whether `ev` passes every filter.
pub fn matches(ev: &Event, f: &BTreeMap<String, Vec<String>>) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        f.get(key).is_none_or(|vals| vals.iter().any(|v| pred(v)))
    };
    let id_or_name = |v: &str| {
        ev.actor.id == v
            || (v.len() >= 3
                && ev
                    .actor
                    .id
                    .trim_start_matches("sha256:")
                    .starts_with(v.trim_start_matches("sha256:")))
            || ev.actor.attributes.get("name").is_some_and(|n| n == v)
    };
    let of_type = |t: &str, v: &str| ev.kind == t && id_or_name(v);
    any("type", &|v| ev.kind == v)
        && any("event", &|v| {
            ev.action == v || ev.action.split(':').next() == Some(v)
        })
        && any("scope", &|v| ev.scope == v)
        && any("container", &|v| of_type("container", v))
        && any("network", &|v| of_type("network", v))
        && any("volume", &|v| of_type("volume", v))
        && any("daemon", &|v| of_type("daemon", v))
        && any("image", &|v| {
            let norm = |s: &str| s.strip_suffix(":latest").unwrap_or(s).to_string();
            (ev.kind == "image"
                && (id_or_name(v)
                    || ev
                        .actor
                        .attributes
                        .get("name")
                        .is_some_and(|n| norm(n) == norm(v))))
                || ev
                    .actor
                    .attributes
                    .get("image")
                    .is_some_and(|i| norm(i) == norm(v))
        })
        && f.get("label").is_none_or(|vals| {
            vals.iter().all(|l| match l.split_once('=') {
                Some((k, val)) => ev.actor.attributes.get(k).is_some_and(|x| x == val),
                None => ev.actor.attributes.contains_key(l.as_str()),
            })
        })
}

pub async fn events(State(e): State<S>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let since = q.timestamp_nanos("since")?;
    let until = q.timestamp_nanos("until")?;
    let filters = parse_filters(q.get("filters")).map_err(ApiError)?;
    for k in filters.keys() {
        if !FILTERS.contains(&k.as_str()) {
            return Err(ApiError(EngineError::invalid(format!(
                "invalid filter '{k}'"
            ))));
        }
    }
    // Docker replays the buffered events when either bound is given.
    let (past, mut rx) = e.events.subscribe(since.or(until.map(|_| 0)));
    let (tx, body) = json_lines();
    tokio::spawn(async move {
        for ev in past {
            if until.is_some_and(|u| ev.time_nano > u) {
                return;
            }
            if matches(&ev, &filters)
                && tx
                    .send(serde_json::to_value(&ev).unwrap_or_default())
                    .is_err()
            {
                return;
            }
        }
        loop {
            let now = chrono::Utc::now();
            let now_ns = i128::from(now.timestamp()) * 1_000_000_000
                + i128::from(now.timestamp_subsec_nanos());
            let wait = match until {
                Some(u) if u <= now_ns => return,
                Some(u) => {
                    std::time::Duration::from_nanos(u64::try_from(u - now_ns).unwrap_or(u64::MAX))
                }
                None => std::time::Duration::from_secs(3600),
            };
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(ev) => {
                        if until.is_some_and(|u| ev.time_nano > u) {
                            return;
                        }
                        if matches(&ev, &filters) && tx.send(serde_json::to_value(&ev).unwrap_or_default()).is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
                _ = tokio::time::sleep(wait) => {
                    if until.is_some() { return; }
                }
                _ = tx.closed() => return,
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
