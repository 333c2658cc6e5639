//! Service dependency graph: cycle detection (naming the cycle), start
//! order (topological, ties broken by name), stop order, and the services
//! `up SERVICE...` has to start.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ComposeError, Result};
use crate::model::Project;

fn edges(p: &Project) -> BTreeMap<&str, Vec<&str>> {
    p.services
        .iter()
        .map(|(name, s)| {
            let deps = s
                .depends_on
                .keys()
                .map(String::as_str)
                .filter(|d| p.services.contains_key(*d))
                .collect();
            (name.as_str(), deps)
        })
        .collect()
}

/// Fails with the first dependency cycle found (`a -> b -> a`).
pub(crate) fn check_cycles(p: &Project) -> Result<()> {
    let graph = edges(p);
    let mut done: BTreeSet<&str> = BTreeSet::new();
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Result<()> {
        if let Some(i) = path.iter().position(|x| *x == n) {
            let mut cycle: Vec<&str> = path[i..].to_vec();
            cycle.push(n);
            return Err(ComposeError::Cycle(cycle.join(" -> ")));
        }
        if done.contains(n) {
            return Ok(());
        }
        path.push(n);
        for d in graph.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            visit(d, graph, path, done)?;
        }
        path.pop();
        done.insert(n);
        Ok(())
    }
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}

impl Project {
    /// All active services, dependencies before dependents; services that
    /// are ready at the same time come in name order.
    pub fn start_order(&self) -> Vec<String> {
        self.order_of(self.services.keys().cloned().collect())
    }

    /// The reverse of [`Project::start_order`]: dependents stop first.
    pub fn stop_order(&self) -> Vec<String> {
        let mut order = self.start_order();
        order.reverse();
        order
    }

    /// Orders a subset of services by their dependencies (Kahn's algorithm,
    /// stable by name).
    fn order_of(&self, subset: BTreeSet<String>) -> Vec<String> {
        let graph = edges(self);
        let mut pending: BTreeMap<&str, BTreeSet<&str>> = subset
            .iter()
            .map(|n| {
                let deps = graph
                    .get(n.as_str())
                    .map(|d| d.iter().copied().filter(|d| subset.contains(*d)).collect())
                    .unwrap_or_default();
                (n.as_str(), deps)
            })
            .collect();
        let mut order = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let ready: Vec<&str> = pending
                .iter()
                .filter(|(_, deps)| deps.is_empty())
                .map(|(n, _)| *n)
                .collect();
            if ready.is_empty() {
                // A cycle (rejected at load time); keep what is left by name.
                order.extend(pending.keys().map(|s| s.to_string()));
                break;
            }
            for n in ready {
                pending.remove(n);
                for deps in pending.values_mut() {
                    deps.remove(n);
                }
                order.push(n.to_string());
            }
        }
        order
    }

    /// The services `up`/`start`/`create` must handle for the given names,
    /// in start order: the named ones plus, unless `no_deps`, everything
    /// they depend on (transitively). No names means every active service.
    pub fn services_to_start(&self, names: &[String], no_deps: bool) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(self.start_order());
        }
        let mut selected: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<String> = Vec::new();
        for n in names {
            if !self.services.contains_key(n) {
                return Err(ComposeError::NoSuchService(n.clone()));
            }
            queue.push(n.clone());
        }
        while let Some(n) = queue.pop() {
            if !selected.insert(n.clone()) || no_deps {
                continue;
            }
            if let Some(s) = self.services.get(&n) {
                for dep in s.depends_on.keys() {
                    if self.services.contains_key(dep) && !selected.contains(dep) {
                        queue.push(dep.clone());
                    }
                }
            }
        }
        Ok(self.order_of(selected))
    }

    /// Active services that depend on `name` directly or transitively (the
    /// ones to restart or stop with it), in stop order.
    pub fn dependents_of(&self, name: &str) -> Vec<String> {
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut queue = vec![name.to_string()];
        while let Some(n) = queue.pop() {
            for (svc, s) in &self.services {
                if s.depends_on.contains_key(&n) && found.insert(svc.clone()) {
                    queue.push(svc.clone());
                }
            }
        }
        let mut order = self.order_of(found);
        order.reverse();
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dependency, Service};

    fn project(deps: &[(&str, &[&str])]) -> Project {
        let mut p = Project::default();
        for (name, ds) in deps {
            let mut s = Service {
                name: name.to_string(),
                image: Some("x".into()),
                ..Default::default()
            };
            for d in *ds {
                s.depends_on.insert(
                    d.to_string(),
                    Dependency {
                        condition: "service_started".into(),
                        restart: false,
                        required: true,
                    },
                );
            }
            p.services.insert(name.to_string(), s);
        }
        p
    }

    #[test]
    fn orders() {
        let p = project(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
            ("worker", &["db"]),
            ("proxy", &["web"]),
        ]);
        assert_eq!(p.start_order(), ["cache", "db", "web", "worker", "proxy"]);
        assert_eq!(p.stop_order(), ["proxy", "worker", "web", "db", "cache"]);
        assert_eq!(
            p.services_to_start(&["proxy".into()], false).unwrap(),
            ["cache", "db", "web", "proxy"]
        );
        assert_eq!(
            p.services_to_start(&["proxy".into()], true).unwrap(),
            ["proxy"]
        );
        assert!(matches!(
            p.services_to_start(&["nope".into()], false),
            Err(ComposeError::NoSuchService(n)) if n == "nope"
        ));
        assert_eq!(p.dependents_of("db"), ["proxy", "worker", "web"]);
        check_cycles(&p).unwrap();
    }

    #[test]
    fn cycles_are_named() {
        let p = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(
            check_cycles(&p).unwrap_err().to_string(),
            "dependency cycle detected: a -> b -> c -> a"
        );
        let p = project(&[("a", &["a"])]);
        assert_eq!(
            check_cycles(&p).unwrap_err().to_string(),
            "dependency cycle detected: a -> a"
        );
    }
}
