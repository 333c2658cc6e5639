//! Manifest parsing for the four accepted kinds (Docker schema2 manifest,
//! Docker manifest list, OCI image manifest, OCI image index): which media
//! type a pushed document is, which blobs and child manifests it references,
//! its `subject`, and the descriptor the referrers API lists for it.

use std::collections::BTreeMap;

use berth_reference::Digest;
use serde::Deserialize;

use crate::error::{ApiError, ErrorCode};

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

const SCHEMA1_TYPES: [&str; 3] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+prettyjws; charset=utf-8",
];

/// A descriptor as found in manifests.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// External URLs (non-distributable layers).
    #[serde(default)]
    pub urls: Vec<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default)]
    pub artifact_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    fs_layers: Option<serde_json::Value>,
}

/// What the registry needs to know about a manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The media type it is stored and served with.
    pub media_type: String,
    /// Blobs that must exist in the repository: the config, then the layers
    /// (non-distributable layers with `urls` are left out).
    pub blobs: Vec<(Digest, i64)>,
    /// Child manifests (index / manifest list entries).
    pub children: Vec<Digest>,
    /// The `subject` manifest, if any.
    pub subject: Option<Digest>,
    /// `artifactType` for the referrers API: the manifest's own, else the
    /// config's media type for image manifests.
    pub artifact_type: Option<String>,
    /// Annotations, copied into referrers descriptors.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// True for the media types this registry stores.
pub fn is_supported(media_type: &str) -> bool {
    matches!(
        media_type,
        DOCKER_MANIFEST | DOCKER_LIST | OCI_MANIFEST | OCI_INDEX
    )
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::msg(ErrorCode::ManifestInvalid, message)
}

/// Strips parameters (`; charset=...`) and whitespace from a Content-Type.
pub fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Parses and checks a pushed manifest. `content_type` is the request's
/// `Content-Type` (may be empty).
pub fn parse(body: &[u8], content_type: &str) -> Result<Manifest, ApiError> {
    let ct = bare_media_type(content_type);
    if SCHEMA1_TYPES.contains(&content_type.trim()) || SCHEMA1_TYPES.contains(&ct) {
        return Err(invalid(
            "Docker schema 1 manifests are not supported: push with a current client \
             (schema 2 or OCI)",
        ));
    }
    let doc: Document = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("manifest is not valid JSON of a known shape: {e}")))?;
    if doc.schema_version == Some(1) || doc.fs_layers.is_some() {
        return Err(invalid(
            "Docker schema 1 manifests are not supported: push with a current client \
             (schema 2 or OCI)",
        ));
    }
    let generic = ct.is_empty()
        || ct == "application/json"
        || ct == "application/octet-stream"
        || ct == "text/plain";
    let media_type = if !generic {
        if let Some(mt) = &doc.media_type {
            if mt != ct {
                return Err(invalid(format!(
                    "mediaType {mt:?} in the manifest does not match the Content-Type {ct:?}"
                )));
            }
        }
        ct.to_owned()
    } else if let Some(mt) = &doc.media_type {
        mt.clone()
    } else if doc.manifests.is_some() {
        OCI_INDEX.to_owned()
    } else if doc.config.is_some() {
        OCI_MANIFEST.to_owned()
    } else {
        return Err(invalid(
            "cannot tell the manifest's type: set Content-Type or mediaType",
        ));
    };
    if !is_supported(&media_type) {
        return Err(invalid(format!(
            "unsupported manifest media type {media_type:?}: expected one of {DOCKER_MANIFEST}, \
             {DOCKER_LIST}, {OCI_MANIFEST}, {OCI_INDEX}"
        ))
        .status(axum::http::StatusCode::BAD_REQUEST));
    }
    if doc.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let descriptor_digest = |field: &str, d: &Descriptor| -> Result<Digest, ApiError> {
        if d.size < 0 {
            return Err(invalid(format!("{field}: size must not be negative")));
        }
        Digest::parse(&d.digest)
            .map_err(|e| invalid(format!("{field}: digest {:?}: {e}", d.digest)))
    };
    let mut m = Manifest {
        media_type: media_type.clone(),
        blobs: Vec::new(),
        children: Vec::new(),
        subject: None,
        artifact_type: doc.artifact_type.clone(),
        annotations: doc.annotations.clone(),
    };
    let is_index = media_type == DOCKER_LIST || media_type == OCI_INDEX;
    if is_index {
        if doc.config.is_some() || doc.layers.is_some() {
            return Err(invalid("an index must not have config or layers"));
        }
        let Some(children) = &doc.manifests else {
            return Err(invalid("an index needs a manifests array"));
        };
        for (i, d) in children.iter().enumerate() {
            m.children
                .push(descriptor_digest(&format!("manifests[{i}]"), d)?);
        }
    } else {
        if doc.manifests.is_some() {
            return Err(invalid("an image manifest must not have manifests"));
        }
        let Some(config) = &doc.config else {
            return Err(invalid("an image manifest needs a config descriptor"));
        };
        m.blobs
            .push((descriptor_digest("config", config)?, config.size));
        let layers = doc.layers.as_deref().unwrap_or(&[]);
        if doc.layers.is_none() && media_type == DOCKER_MANIFEST {
            return Err(invalid("a Docker image manifest needs a layers array"));
        }
        for (i, d) in layers.iter().enumerate() {
            let digest = descriptor_digest(&format!("layers[{i}]"), d)?;
            if !d.urls.is_empty() && is_non_distributable(&d.media_type) {
                continue;
            }
            m.blobs.push((digest, d.size));
        }
        if m.artifact_type.is_none() {
            m.artifact_type = Some(config.media_type.clone()).filter(|s| !s.is_empty());
        }
    }
    if let Some(s) = &doc.subject {
        if media_type == DOCKER_MANIFEST || media_type == DOCKER_LIST {
            return Err(invalid(
                "subject is only allowed in OCI manifests and indexes",
            ));
        }
        m.subject = Some(descriptor_digest("subject", s)?);
    }
    Ok(m)
}

fn is_non_distributable(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.docker.image.rootfs.foreign.")
        || media_type.starts_with("application/vnd.oci.image.layer.nondistributable.")
}

/// Parses a stored manifest for garbage collection: only what it
/// references. Lenient about everything else, strict about digests.
pub fn references(body: &[u8]) -> Result<(Vec<Digest>, Option<Digest>), String> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut push = |d: &Descriptor| -> Result<(), String> {
        out.push(Digest::parse(&d.digest).map_err(|e| format!("{}: {e}", d.digest))?);
        Ok(())
    };
    if let Some(c) = &doc.config {
        push(c)?;
    }
    for d in doc.layers.iter().flatten() {
        push(d)?;
    }
    for d in doc.manifests.iter().flatten() {
        push(d)?;
    }
    let subject = match &doc.subject {
        Some(s) => Some(Digest::parse(&s.digest).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok((out, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn docker_manifest() {
        let body = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": d('a'), "size": 10},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d('b'), "size": 20},
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": d('c'), "size": 30, "urls": ["https://x"]}
            ]
        });
        let m = parse(body.to_string().as_bytes(), DOCKER_MANIFEST).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.blobs.len(), 2, "foreign layer skipped");
        // No Content-Type: taken from the body.
        let m = parse(body.to_string().as_bytes(), "").unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        // Mismatch between header and body.
        let e = parse(body.to_string().as_bytes(), OCI_MANIFEST).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ManifestInvalid);
    }

    #[test]
    fn index_and_subject() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": d('a'), "size": 1}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('f'), "size": 1},
            "artifactType": "application/x-sig"
        });
        let m = parse(body.to_string().as_bytes(), OCI_INDEX).unwrap();
        assert_eq!(m.children.len(), 1);
        assert_eq!(m.subject.unwrap().to_string(), d('f'));
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sig"));
        let (refs, subject) = references(body.to_string().as_bytes()).unwrap();
        assert_eq!(refs.len(), 1);
        assert!(subject.is_some());
    }

    #[test]
    fn rejects() {
        for (body, ct) in [
            ("not json".to_owned(), OCI_MANIFEST),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#.to_owned(), ""),
            (
                r#"{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1},"layers":[]}"#
                    .to_owned(),
                OCI_MANIFEST,
            ),
            (
                r#"{"schemaVersion":2,"config":{"digest":"x","size":1}}"#.to_owned(),
                "application/x-unknown",
            ),
            (
                r#"{"schemaVersion":2,"layers":[]}"#.to_owned(),
                OCI_MANIFEST,
            ),
            (
                r#"{"schemaVersion":3,"manifests":[]}"#.to_owned(),
                OCI_INDEX,
            ),
        ] {
            let e = parse(body.as_bytes(), ct).unwrap_err();
            assert_eq!(e.code(), ErrorCode::ManifestInvalid, "{body}");
        }
    }
}
