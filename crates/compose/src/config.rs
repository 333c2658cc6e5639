//! `docker compose config` output: the resolved project as canonical YAML
//! (or JSON), and the `--services`, `--volumes`, `--images` listings.
//! Output is deterministic: maps are sorted, fields in compose's order.

use crate::engine::Naming;
use crate::error::{ComposeError, Result};
use crate::model::Project;

/// The project as `docker compose config` prints it. `env_file` entries
/// are left out: their variables are already in `environment`.
fn printable(project: &Project) -> Project {
    let mut p = project.clone();
    for s in p.services.values_mut() {
        s.env_file.clear();
    }
    p
}

/// Canonical YAML of the resolved project.
pub fn to_yaml(project: &Project) -> Result<String> {
    serde_norway::to_string(&printable(project))
        .map_err(|e| ComposeError::Invalid(format!("cannot render the project as YAML: {e}")))
}

/// The resolved project as indented JSON (`config --format json`).
pub fn to_json(project: &Project) -> Result<String> {
    serde_json::to_string_pretty(&printable(project))
        .map_err(|e| ComposeError::Invalid(format!("cannot render the project as JSON: {e}")))
}

/// `config --services`: active services in start order.
pub fn services(project: &Project) -> Vec<String> {
    project.start_order()
}

/// `config --volumes`: volume keys, sorted.
pub fn volumes(project: &Project) -> Vec<String> {
    project.volumes.keys().cloned().collect()
}

/// `config --images`: the image of each active service (the default name
/// for services that are only built), in service name order.
pub fn images(project: &Project, naming: Naming) -> Vec<String> {
    project
        .services
        .values()
        .map(|s| s.image_or_default(&project.name, naming.separator()))
        .collect()
}
