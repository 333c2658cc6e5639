//! The event bus: every object change is published here, kept in a bounded
//! ring for `--since` replay, and fanned out to `/events` subscribers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// How many past events are kept for replay (Docker keeps 256).
const RING: usize = 1024;

/// The actor of an event: the object and its attributes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Actor {
    /// Object ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Attributes (`name`, `image`, labels, `exitCode`, …).
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, serialised as Docker's `EventMessage`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Deprecated: the action (kept for old clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Deprecated: the actor ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Deprecated: the image of a container event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Object type: container, image, volume, network, daemon, …
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened.
    #[serde(rename = "Action")]
    pub action: String,
    /// Which object.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// "local" or "swarm".
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i128,
}

/// Publishes and replays events.
pub struct EventBus {
    ring: Mutex<VecDeque<Event>>,
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(RING);
        EventBus {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            tx,
        }
    }

    /// Publishes an event of `kind`/`action` about object `id`.
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        let nanos =
            i128::from(now.timestamp()) * 1_000_000_000 + i128::from(now.timestamp_subsec_nanos());
        let from = if kind == "container" {
            attributes.get("image").cloned()
        } else {
            None
        };
        let ev = Event {
            status: Some(action.to_string()),
            id: Some(id.to_string()),
            from,
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
        };
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// Subscribes to live events, returning the past events at or after
    /// `since_nanos` too (taken atomically with the subscription, so none is
    /// lost or repeated).
    pub fn subscribe(&self, since_nanos: Option<i128>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let ring = self.ring.lock();
        let rx = self.tx.subscribe();
        let past = match (since_nanos, ring) {
            (Some(since), Ok(ring)) => ring
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        (past, rx)
    }
}

/// Builds an attribute map from pairs.
pub fn attrs<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_and_live() {
        let bus = EventBus::new();
        bus.publish(
            "image",
            "tag",
            "sha256:1",
            attrs([("name", "a:1".to_string())]),
        );
        let (past, mut rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].action, "tag");
        bus.publish("image", "delete", "sha256:1", BTreeMap::new());
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.action, "delete");
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["Type"], "image");
        assert_eq!(json["Actor"]["ID"], "sha256:1");
        let (none, _) = bus.subscribe(None);
        assert!(none.is_empty());
    }
}
