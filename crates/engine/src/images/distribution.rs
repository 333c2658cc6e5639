//! `docker pull`, `docker push` and `docker login` through the registry
//! client: manifests resolved (an index narrowed to the host's platform),
//! layers fetched in parallel into the content store (resumed when a
//! connection breaks, skipped when already present) and unpacked through
//! the layer store; pushes send only what the registry lacks (mounting
//! blobs across repositories when it can), gzip-compressing layers kept
//! uncompressed. Progress goes out as Docker's JSON messages, which the
//! docker CLI renders as its progress bars.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use berth_content::image::{
    Descriptor, ImageConfig, Manifest, MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER_GZIP,
    MEDIA_DOCKER_MANIFEST,
};
use berth_reference::{Digest, Reference};
use berth_registry_client::{BlobSource, Client, ClientConfig, Credentials, Repository};
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use super::{ImageRecord, IMAGES, REFS};
use crate::error::{EngineError, Result};
use crate::layers::KeepBlob;
use crate::Engine;

/// Compressed forms of layers pushed before (diff ID → blob), so a layer
/// kept uncompressed is compressed once.
pub const DISTRIBUTION: Table = Table("distribution");

/// A layer's compressed blob, as pushed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PushedBlob {
    digest: String,
    size: u64,
    /// Repositories (`domain/path`) known to have it (cross-repo mounts).
    repos: Vec<String>,
}

/// Registry settings of the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `--insecure-registry` / `insecure-registries`.
    pub insecure: Vec<String>,
    /// `--registry-mirror` / `registry-mirrors`.
    pub mirrors: Vec<String>,
    /// berth's `--allowed-registry`: when not empty, only these registry
    /// hosts are ever contacted (tests keep the daemon off the internet).
    pub allowed: Vec<String>,
}

impl RegistryConfig {
    /// `/info`'s `RegistryConfig`, as dockerd builds it: insecure CIDR
    /// blocks (plus `::1/128` and `127.0.0.0/8`, always insecure), an index
    /// entry per insecure `host[:port]`, Docker Hub's with the mirrors
    /// (normalised to end in `/`).
    pub fn info(&self) -> Value {
        let mut mirrors: Vec<String> = Vec::new();
        for m in &self.mirrors {
            let m = format!("{}/", m.trim_end_matches('/'));
            if !mirrors.contains(&m) {
                mirrors.push(m);
            }
        }
        let mut cidrs: Vec<String> = Vec::new();
        let mut indexes = std::collections::BTreeMap::new();
        let defaults = ["::1/128".to_string(), "127.0.0.0/8".to_string()];
        for r in self.insecure.iter().chain(defaults.iter()) {
            let lower = r.to_ascii_lowercase();
            let r = if lower.starts_with("http://") {
                &r[7..]
            } else if lower.starts_with("https://") {
                &r[8..]
            } else {
                r.as_str()
            };
            match canonical_cidr(r) {
                Some(c) => {
                    if !cidrs.contains(&c) {
                        cidrs.push(c);
                    }
                }
                None => {
                    indexes.insert(
                        r.to_string(),
                        json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}),
                    );
                }
            }
        }
        indexes.insert(
            "docker.io".to_string(),
            json!({"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true}),
        );
        json!({
            "AllowNondistributableArtifactsCIDRs": null,
            "AllowNondistributableArtifactsHostnames": null,
            "InsecureRegistryCIDRs": cidrs,
            "IndexConfigs": indexes,
            "Mirrors": mirrors,
        })
    }
}

/// `10.1.2.3/8` → `10.0.0.0/8` (Go's `net.ParseCIDR` network); `None`
/// when `s` is no CIDR block.
fn canonical_cidr(s: &str) -> Option<String> {
    let (addr, prefix) = s.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    match addr.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Some(format!(
                "{}/{prefix}",
                std::net::Ipv4Addr::from(u32::from(a) & mask)
            ))
        }
        std::net::IpAddr::V6(a) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Some(format!(
                "{}/{prefix}",
                std::net::Ipv6Addr::from(u128::from(a) & mask)
            ))
        }
        _ => None,
    }
}

/// A progress sink: Docker's JSON messages.
pub type Progress = Arc<dyn Fn(Value) + Send + Sync>;

fn short12(d: &str) -> String {
    d.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Docker's text progress bar (`[====>      ]  1.2MB/3.4MB`).
fn bar(current: u64, total: u64) -> String {
    let width = 50usize;
    let filled = if total > 0 {
        ((current as f64 / total as f64) * width as f64) as usize
    } else {
        0
    }
    .min(width);
    let mut b = "=".repeat(filled);
    if filled < width {
        b.push('>');
        b.push_str(&" ".repeat(width - filled - 1));
    }
    format!(
        "[{b}] {:>8}/{}",
        berth_format_size(current),
        berth_format_size(total)
    )
}

fn berth_format_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", units[i])
            .replace(".000", "")
            .trim_end_matches('0')
            .to_string()
    }
}

fn map_err(e: berth_registry_client::Error, what: &str) -> EngineError {
    use berth_registry_client::ErrorKind as K;
    let msg = e.to_string();
    match e.kind() {
        K::NotFound => EngineError::not_found(msg),
        K::Unauthorized | K::Forbidden => {
            if what.is_empty() || msg.contains("pull access denied") || msg.contains("denied") {
                EngineError::not_found(msg)
            } else {
                EngineError::not_found(format!("{what}: {msg}"))
            }
        }
        K::InvalidParameter => EngineError::invalid(msg),
        _ => EngineError::internal(msg),
    }
}

/// The host's platform as OCI names it.
fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    };
    ("linux", arch)
}

impl Engine {
    /// The registry client (made on first use).
    pub fn registry_client(&self) -> Result<&Client> {
        static CLIENT: OnceLock<std::result::Result<Client, String>> = OnceLock::new();
        let r = CLIENT.get_or_init(|| {
            Client::new(ClientConfig {
                insecure_registries: self.config.registry.insecure.clone(),
                mirrors: self.config.registry.mirrors.clone(),
                user_agent: format!("berth/{}", crate::system::VERSION),
                ..Default::default()
            })
            .map_err(|e| e.to_string())
        });
        r.as_ref()
            .map_err(|e| EngineError::invalid(format!("registry settings: {e}")))
    }

    pub(crate) fn check_allowed(&self, domain: &str) -> Result<()> {
        let allowed = &self.config.registry.allowed;
        if allowed.is_empty() {
            return Ok(());
        }
        let host = domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain);
        if allowed.iter().any(|a| a == domain || a == host) {
            return Ok(());
        }
        Err(EngineError::not_found(format!(
            "pull access denied for {domain}: this daemon may only contact the registries {} (--allowed-registry)",
            allowed.join(", ")
        )))
    }

    /// A client for `r`'s repository, once its registry is allowed.
    fn repository_client(
        &self,
        r: &Reference,
        creds: Option<Credentials>,
    ) -> Result<Arc<berth_registry_client::RepositoryClient>> {
        self.check_allowed(r.domain())?;
        let client = self.registry_client()?;
        Ok(Arc::new(
            client.repository(&Repository::from_reference(r), creds),
        ))
    }

    /// `POST /images/create?fromImage=`: resolves `reference` (`latest`
    /// when it names no tag; errors here are the HTTP answer), then pulls
    /// with progress messages.
    pub async fn pull_image(
        self: &Arc<Self>,
        reference: &Reference,
        platform: Option<&str>,
        creds: Option<Credentials>,
        progress: Progress,
    ) -> Result<()> {
        let reference = if reference.tag().is_none() && reference.digest().is_none() {
            reference
                .with_tag("latest")
                .map_err(|e| EngineError::invalid(e.to_string()))?
        } else {
            reference.clone()
        };
        let rc = self.repository_client(&reference, creds)?;
        let new = self.pull_tag(&rc, &reference, platform, &progress).await?;
        progress(json!({"status": pull_status(&reference.familiar_string(), new)}));
        Ok(())
    }

    /// `docker pull -a`: every tag of the repository (the API's `fromImage`
    /// without tag), one after the other, then one status line for the
    /// repository, as Docker does.
    pub async fn pull_all_tags(
        self: &Arc<Self>,
        repository: &Reference,
        platform: Option<&str>,
        creds: Option<Credentials>,
        progress: Progress,
    ) -> Result<()> {
        let name = repository.name_only();
        let rc = self.repository_client(&name, creds)?;
        let tags = rc.tags().await.map_err(|e| {
            if matches!(
                e.kind(),
                berth_registry_client::ErrorKind::Unauthorized
                    | berth_registry_client::ErrorKind::Forbidden
                    | berth_registry_client::ErrorKind::NotFound
            ) {
                EngineError::not_found(format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
                    name.familiar_name()
                ))
            } else {
                map_err(e, "listing the tags")
            }
        })?;
        let mut new = false;
        for tag in tags {
            let r = name
                .with_tag(&tag)
                .map_err(|e| EngineError::invalid(format!("tag {tag:?} from the registry: {e}")))?;
            new |= self.pull_tag(&rc, &r, platform, &progress).await?;
        }
        progress(json!({"status": pull_status(&name.familiar_name(), new)}));
        Ok(())
    }

    /// Pulls one tag or digest; true when layers came down or the tag now
    /// names another image (Docker's "newer image").
    async fn pull_tag(
        self: &Arc<Self>,
        rc: &Arc<berth_registry_client::RepositoryClient>,
        reference: &Reference,
        platform: Option<&str>,
        progress: &Progress,
    ) -> Result<bool> {
        let repo = rc.repository().clone();
        let wanted = match reference.digest() {
            Some(d) => d.to_string(),
            None => reference.tag().unwrap_or("latest").to_string(),
        };
        let denied = format!(
            "pull access denied for {}, repository does not exist or may require 'docker login'",
            reference.familiar_name()
        );
        let top = rc.fetch_manifest(&wanted).await.map_err(|e| {
            let m = e.to_string();
            if m.contains("manifest unknown") || m.contains("not found") && !m.contains("denied") {
                EngineError::not_found(format!(
                    "manifest for {} not found: manifest unknown: manifest unknown",
                    reference.familiar_string()
                ))
            } else if matches!(
                e.kind(),
                berth_registry_client::ErrorKind::Unauthorized
                    | berth_registry_client::ErrorKind::Forbidden
            ) {
                EngineError::not_found(format!("{denied}: {m}"))
            } else {
                map_err(e, "")
            }
        })?;
        let manifest_digest = top.digest.clone();
        let (manifest_bytes, manifest_digest_used) = if top.is_index() {
            let index = top.index().map_err(|e| map_err(e, "reading the index"))?;
            let (os, arch) = host_platform();
            let want = platform.unwrap_or("");
            let (want_os, want_arch) = match want.split('/').collect::<Vec<_>>().as_slice() {
                [o, a, ..] => (o.to_string(), a.to_string()),
                [o] if !o.is_empty() => (o.to_string(), arch.to_string()),
                _ => (os.to_string(), arch.to_string()),
            };
            let pick = index.manifests.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == want_os && p.architecture == want_arch)
            });
            let Some(pick) = pick else {
                return Err(EngineError::not_found(format!(
                    "no matching manifest for {want_os}/{want_arch} in the manifest list entries"
                )));
            };
            let d = Digest::parse(&pick.digest)
                .map_err(|e| EngineError::invalid(format!("bad digest in the index: {e}")))?;
            let m = rc
                .fetch_manifest(&d.to_string())
                .await
                .map_err(|e| map_err(e, "fetching the platform's manifest"))?;
            (m, d)
        } else {
            if let Some(p) = platform {
                let (os, arch) = host_platform();
                if !p.is_empty() && p != format!("{os}/{arch}") && p != os {
                    return Err(EngineError::invalid(format!(
                        "image with reference {} was found but does not match the specified platform: wanted {p}",
                        reference.familiar_string()
                    )));
                }
            }
            (top.clone(), manifest_digest.clone())
        };
        let manifest: Manifest = manifest_bytes
            .manifest()
            .map_err(|e| map_err(e, "reading the manifest"))?;
        progress(
            json!({"status": format!("Pulling from {}", repo.path()), "id": reference.tag().unwrap_or(&wanted)}),
        );
        // The config first: it names the layers' diff IDs.
        let cfg_digest = Digest::parse(&manifest.config.digest)
            .map_err(|e| EngineError::invalid(format!("bad config digest: {e}")))?;
        let mut cfg_bytes = Vec::new();
        let mut r = rc
            .fetch_blob(&cfg_digest, u64::try_from(manifest.config.size).ok())
            .await
            .map_err(|e| map_err(e, "fetching the image config"))?;
        r.read_to_end(&mut cfg_bytes)
            .await
            .map_err(|e| EngineError::internal(format!("fetching the image config: {e}")))?;
        let cfg: ImageConfig = serde_json::from_slice(&cfg_bytes)
            .map_err(|e| EngineError::invalid(format!("invalid image config: {e}")))?;
        if cfg.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(EngineError::invalid(format!(
                "the manifest lists {} layers but the image config {}",
                manifest.layers.len(),
                cfg.rootfs.diff_ids.len()
            )));
        }
        let id = format!("sha256:{}", berth_content::blobs::sha256_hex(&cfg_bytes));
        let already = self.store.get::<ImageRecord>(IMAGES, &id)?.is_some();
        // Layers: three at a time, as Docker.
        let sem = Arc::new(tokio::sync::Semaphore::new(3));
        let mut tasks = Vec::new();
        for (layer, diff_id) in manifest.layers.iter().zip(cfg.rootfs.diff_ids.iter()) {
            let sid = short12(&layer.digest);
            if self.layer_record(diff_id).is_some() {
                progress(json!({"status": "Already exists", "progressDetail": {}, "id": sid}));
                continue;
            }
            progress(json!({"status": "Pulling fs layer", "progressDetail": {}, "id": sid}));
            let engine = self.clone();
            let rc = rc.clone();
            let layer = layer.clone();
            let diff_id = diff_id.clone();
            let progress = progress.clone();
            let sem = sem.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire().await;
                engine.pull_layer(&rc, &layer, &diff_id, progress).await
            }));
        }
        let downloaded = !tasks.is_empty();
        let mut staged = Vec::new();
        let mut first_err = None;
        for t in tasks {
            match t.await {
                Ok(Ok(s)) => staged.push(s),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(EngineError::internal(format!("pull task: {e}")));
                }
            }
        }
        if let Some(e) = first_err {
            for s in &staged {
                self.layers.discard(s);
            }
            return Err(e);
        }
        // Store it all in one transaction.
        let engine = self.clone();
        let tag_ref = reference.digest().is_none().then(|| reference.clone());
        let retagged = match &tag_ref {
            Some(t) => self.store.get::<String>(REFS, &t.to_string())?.as_deref() != Some(&id),
            None => false,
        };
        let digest_ref = reference.name_only().with_digest(manifest_digest.clone());
        let diff_ids = cfg.rootfs.diff_ids.clone();
        let manifest_raw = manifest_bytes.bytes.to_vec();
        let _ = manifest_digest_used;
        let id2 = id.clone();
        let stored = tokio::task::spawn_blocking(move || -> Result<()> {
            engine.blobs.put(&cfg_bytes, Some(&cfg_digest))?;
            let m = engine.blobs.put(&manifest_raw, None)?;
            let _g = engine.image_lock.lock();
            engine.sync_data_root();
            engine.store.write(|tx| -> Result<()> {
                for s in &staged {
                    engine.layers.adopt(tx, s)?;
                }
                let rec = match tx.get::<ImageRecord>(IMAGES, &id2)? {
                    Some(r) => r,
                    None => ImageRecord {
                        id: id2.clone(),
                        layers: diff_ids.clone(),
                        manifest: Some(m.to_string()),
                        parent: None,
                        last_tag_time: None,
                        added: chrono::Utc::now().timestamp(),
                    },
                };
                tx.put(IMAGES, &id2, &rec)?;
                if let Some(t) = &tag_ref {
                    engine.set_ref(tx, t, &id2)?;
                }
                tx.put(REFS, &digest_ref.to_string(), &id2.to_string())?;
                Ok(())
            })?;
            Ok(())
        })
        .await
        .map_err(|e| EngineError::internal(format!("storing the image: {e}")))?;
        stored?;
        self.events.publish(
            "image",
            "pull",
            &reference.familiar_string(),
            crate::events::attrs([("name", reference.familiar_string())]),
        );
        progress(json!({"status": format!("Digest: {manifest_digest}")}));
        Ok(!already || downloaded || retagged)
    }

    /// One layer: downloaded into a temporary blob (resumed up to three
    /// times when the connection breaks), then unpacked.
    async fn pull_layer(
        self: &Arc<Self>,
        rc: &berth_registry_client::RepositoryClient,
        layer: &Descriptor,
        diff_id: &str,
        progress: Progress,
    ) -> Result<crate::layers::StagedLayer> {
        let sid = short12(&layer.digest);
        let digest = Digest::parse(&layer.digest)
            .map_err(|e| EngineError::invalid(format!("bad layer digest: {e}")))?;
        let tmp_dir = self.config.data_root.join("tmp");
        std::fs::create_dir_all(&tmp_dir)
            .map_err(|e| EngineError::internal(format!("creating {}: {e}", tmp_dir.display())))?;
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| EngineError::internal(format!("temporary file: {e}")))?;
        let mut file = tmp
            .reopen()
            .map_err(|e| EngineError::internal(format!("temporary file: {e}")))?;
        let total = u64::try_from(layer.size).unwrap_or(0);
        let mut hasher = berth_registry_client::BlobHasher::for_digest(&digest);
        let mut got: u64 = 0;
        let mut attempts = 0;
        let mut last_report = std::time::Instant::now();
        loop {
            let reader = if got == 0 {
                rc.fetch_blob(&digest, Some(total)).await
            } else {
                rc.resume_blob(&digest, Some(total), hasher.clone()).await
            };
            let mut reader = match reader {
                Ok(r) => r,
                Err(e) if attempts < 3 && e.is_transport() => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempts)).await;
                    continue;
                }
                Err(e) => return Err(map_err(e, "downloading a layer")),
            };
            let mut buf = vec![0u8; 256 << 10];
            let mut broke = None;
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        file.write_all(&buf[..n])
                            .map_err(|e| EngineError::internal(format!("writing a layer: {e}")))?;
                        got += n as u64;
                        if last_report.elapsed() > std::time::Duration::from_millis(100) {
                            last_report = std::time::Instant::now();
                            progress(json!({"status": "Downloading",
                                "progressDetail": {"current": got, "total": total},
                                "progress": bar(got, total), "id": sid}));
                        }
                    }
                    Err(e) => {
                        broke = Some(e);
                        break;
                    }
                }
            }
            match broke {
                None => break,
                Some(e) if attempts < 3 && got < total => {
                    attempts += 1;
                    tracing::info!("layer {sid}: connection broke at {got} bytes ({e}); resuming");
                    continue;
                }
                Some(e) => {
                    return Err(EngineError::internal(format!(
                        "downloading layer {sid}: {e}"
                    )))
                }
            }
        }
        progress(json!({"status": "Verifying Checksum", "progressDetail": {}, "id": sid}));
        progress(json!({"status": "Download complete", "progressDetail": {}, "id": sid}));
        progress(
            json!({"status": "Extracting", "progressDetail": {"current": 0, "total": total}, "progress": bar(0, total), "id": sid}),
        );
        let engine = self.clone();
        let path = tmp.path().to_path_buf();
        let want_diff = diff_id.to_string();
        let staged = tokio::task::spawn_blocking(move || -> Result<crate::layers::StagedLayer> {
            let f = std::fs::File::open(&path)
                .map_err(|e| EngineError::internal(format!("reading a layer: {e}")))?;
            let s = engine
                .layers
                .stage(f, KeepBlob::AsReceived, Some(&digest), false, |d| {
                    engine.layer_record(d)
                })?;
            if s.record.diff_id != want_diff {
                engine.layers.discard(&s);
                return Err(EngineError::invalid(format!(
                    "layer {} unpacks to {}, but the image config expects {want_diff}",
                    digest, s.record.diff_id
                )));
            }
            Ok(s)
        })
        .await
        .map_err(|e| EngineError::internal(format!("unpacking a layer: {e}")))??;
        drop(tmp);
        progress(json!({"status": "Pull complete", "progressDetail": {}, "id": sid}));
        Ok(staged)
    }

    /// `POST /images/{name}/push`: pushes one tag (or all tags of the
    /// repository when `tag` is empty).
    pub async fn push_image(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        creds: Option<Credentials>,
        progress: Progress,
    ) -> Result<()> {
        let base =
            Reference::parse_normalized(name).map_err(|e| EngineError::invalid(e.to_string()))?;
        let mut targets: Vec<Reference> = Vec::new();
        match tag.filter(|t| !t.is_empty()).or(base.tag()) {
            Some(t) => targets.push(
                base.name_only()
                    .with_tag(t)
                    .map_err(|e| EngineError::invalid(e.to_string()))?,
            ),
            None => {
                for (r, _) in self.image_refs()? {
                    if let Ok(rr) = Reference::parse_normalized(&r) {
                        if rr.name() == base.name() && rr.tag().is_some() {
                            targets.push(rr);
                        }
                    }
                }
            }
        }
        if targets.is_empty() {
            return Err(EngineError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                base.familiar_name()
            )));
        }
        let mut images = Vec::new();
        for t in &targets {
            let rec = self.resolve_image(&t.to_string()).map_err(|_| {
                EngineError::not_found(format!(
                    "An image does not exist locally with the tag: {}",
                    t.familiar_string()
                ))
            })?;
            images.push((t.clone(), rec));
        }
        self.check_allowed(base.domain())?;
        let client = self.registry_client()?;
        let repo = Repository::from_reference(&base);
        let rc = Arc::new(client.repository(&repo, creds));
        progress(json!({"status": format!("The push refers to repository [{}]", base.name())}));
        for (target, rec) in images {
            let cfg_bytes = self.blobs.read(&crate::layers::parse_digest(&rec.id)?)?;
            // Layers, top first as Docker lists them.
            let mut descs = vec![Descriptor::default(); rec.layers.len()];
            for d in rec.layers.iter().rev() {
                progress(json!({"status": "Preparing", "progressDetail": {}, "id": short12(d)}));
            }
            for (i, diff_id) in rec.layers.iter().enumerate().rev() {
                let (digest, size) = self.compressed_layer(diff_id).await?;
                let sid = short12(diff_id);
                let d = Digest::parse(&digest)
                    .map_err(|e| EngineError::internal(format!("layer digest: {e}")))?;
                let mut pushed: Option<PushedBlob> = self.store.get(DISTRIBUTION, diff_id)?;
                let repo_key = format!("{}/{}", repo.domain(), repo.path());
                let mut mounted = false;
                if let Some(p) = &pushed {
                    for other in p.repos.iter().filter(|r| *r != &repo_key) {
                        if let Some((dom, path)) = other.split_once('/') {
                            if dom == repo.domain()
                                && rc.mount_blob(path, &d).await.unwrap_or(false)
                            {
                                progress(
                                    json!({"status": format!("Mounted from {path}"), "progressDetail": {}, "id": sid}),
                                );
                                mounted = true;
                                break;
                            }
                        }
                    }
                }
                if !mounted {
                    progress(
                        json!({"status": "Pushing", "progressDetail": {"current": 0, "total": size}, "progress": bar(0, size), "id": sid}),
                    );
                    let r = rc
                        .push_blob(&d, size, BlobSource::file(self.blobs.path(&d)))
                        .await
                        .map_err(|e| map_err(e, "pushing a layer"))?;
                    match r {
                        berth_registry_client::BlobPush::Exists => progress(
                            json!({"status": "Layer already exists", "progressDetail": {}, "id": sid}),
                        ),
                        _ => progress(json!({"status": "Pushed", "progressDetail": {}, "id": sid})),
                    }
                }
                let entry = pushed.get_or_insert(PushedBlob {
                    digest: digest.clone(),
                    size,
                    repos: Vec::new(),
                });
                if !entry.repos.contains(&repo_key) {
                    entry.repos.push(repo_key);
                }
                let entry = entry.clone();
                self.store
                    .write(|tx| tx.put(DISTRIBUTION, diff_id, &entry))?;
                descs[i] = Descriptor {
                    media_type: MEDIA_DOCKER_LAYER_GZIP.into(),
                    digest,
                    size: i64::try_from(size).unwrap_or(i64::MAX),
                    ..Default::default()
                };
            }
            let cfg_digest = Digest::parse(&rec.id)
                .map_err(|e| EngineError::internal(format!("image ID: {e}")))?;
            rc.push_blob(
                &cfg_digest,
                cfg_bytes.len() as u64,
                BlobSource::bytes(cfg_bytes.clone()),
            )
            .await
            .map_err(|e| map_err(e, "pushing the image config"))?;
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_DOCKER_MANIFEST,
                "config": {"mediaType": MEDIA_DOCKER_CONFIG, "size": cfg_bytes.len(), "digest": rec.id},
                "layers": descs.iter().map(|d| json!({"mediaType": d.media_type, "size": d.size, "digest": d.digest})).collect::<Vec<_>>(),
            });
            let body = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| EngineError::internal(e.to_string()))?;
            let tag = target.tag().unwrap_or("latest").to_string();
            let mdigest = rc
                .push_manifest(&tag, MEDIA_DOCKER_MANIFEST, body.clone().into())
                .await
                .map_err(|e| map_err(e, "pushing the manifest"))?;
            // The repository digest is known now (`RepoDigests`).
            let dref = target.name_only().with_digest(mdigest.clone());
            let id = rec.id.clone();
            self.store
                .write(|tx| tx.put(REFS, &dref.to_string(), &id))?;
            progress(json!({"status": format!("{tag}: digest: {mdigest} size: {}", body.len())}));
            progress(
                json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": mdigest.to_string(), "Size": body.len()}}),
            );
            self.events.publish(
                "image",
                "push",
                &target.familiar_string(),
                crate::events::attrs([("name", target.familiar_string())]),
            );
        }
        Ok(())
    }

    /// A gzip blob of a layer (the one stored, or made once and kept).
    async fn compressed_layer(self: &Arc<Self>, diff_id: &str) -> Result<(String, u64)> {
        let rec = self.layer_record(diff_id).ok_or_else(|| {
            EngineError::internal(format!("layer {diff_id} is missing from the layer store"))
        })?;
        if rec.compression == berth_content::image::Compression::Gzip {
            return Ok((rec.blob.clone(), rec.blob_size));
        }
        if let Some(p) = self.store.get::<PushedBlob>(DISTRIBUTION, diff_id)? {
            if let Ok(d) = Digest::parse(&p.digest) {
                if self.blobs.contains(&d) {
                    return Ok((p.digest, p.size));
                }
            }
        }
        let engine = self.clone();
        let diff = diff_id.to_string();
        tokio::task::spawn_blocking(move || -> Result<(String, u64)> {
            let src = Digest::parse(&rec.blob)
                .map_err(|e| EngineError::internal(format!("layer blob: {e}")))?;
            let mut input = engine.blobs.open_blob(&src)?;
            let mut w = engine.blobs.writer()?;
            {
                let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::fast());
                std::io::copy(&mut input, &mut gz)
                    .map_err(|e| EngineError::internal(format!("compressing a layer: {e}")))?;
                gz.finish()
                    .map_err(|e| EngineError::internal(format!("compressing a layer: {e}")))?;
            }
            let (d, size) = w.commit(None)?;
            let entry = PushedBlob {
                digest: d.to_string(),
                size,
                repos: Vec::new(),
            };
            engine
                .store
                .write(|tx| tx.put(DISTRIBUTION, &diff, &entry))?;
            Ok((d.to_string(), size))
        })
        .await
        .map_err(|e| EngineError::internal(format!("compressing a layer: {e}")))?
    }

    /// `POST /auth`: checks credentials against a registry.
    pub async fn registry_login(&self, server: &str, creds: &Credentials) -> Result<Value> {
        let domain = normalize_server(server);
        self.check_allowed(&domain)?;
        let client = self.registry_client()?;
        let login = client.login(&domain, creds).await.map_err(|e| {
            let m = e.to_string();
            if matches!(
                e.kind(),
                berth_registry_client::ErrorKind::Unauthorized
                    | berth_registry_client::ErrorKind::Forbidden
            ) {
                EngineError::new(crate::error::ErrorKind::Unauthorized, m)
            } else {
                map_err(e, "")
            }
        })?;
        Ok(json!({"Status": login.status, "IdentityToken": login.identity_token}))
    }
}

/// Docker's last line of a pull.
fn pull_status(name: &str, new: bool) -> String {
    if new {
        format!("Status: Downloaded newer image for {name}")
    } else {
        format!("Status: Image is up to date for {name}")
    }
}

/// `https://index.docker.io/v1/` and friends → the registry's domain.
pub fn normalize_server(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_info_as_dockerd() {
        let c = RegistryConfig {
            insecure: vec![
                "10.1.2.3/8".into(),
                "http://myreg:5000".into(),
                "10.0.0.0/8".into(),
            ],
            mirrors: vec![
                "https://mirror.example".into(),
                "https://mirror.example/".into(),
            ],
            allowed: vec![],
        };
        let v = c.info();
        assert_eq!(
            v["InsecureRegistryCIDRs"],
            json!(["10.0.0.0/8", "::1/128", "127.0.0.0/8"])
        );
        assert_eq!(v["Mirrors"], json!(["https://mirror.example/"]));
        assert_eq!(
            v["IndexConfigs"]["myreg:5000"],
            json!({"Name": "myreg:5000", "Mirrors": [], "Secure": false, "Official": false})
        );
        assert_eq!(v["IndexConfigs"]["docker.io"]["Mirrors"], v["Mirrors"]);
        let plain = RegistryConfig::default().info();
        assert_eq!(plain["Mirrors"], json!([]));
        assert_eq!(plain["IndexConfigs"].as_object().map(|m| m.len()), Some(1));
    }
}
