//! The berth engine: the daemon's state and every operation the API exposes,
//! composed from the content store, the layer store and the metadata store.
//! Nothing here knows about HTTP; the `api` crate maps these calls to routes.
#![recursion_limit = "256"]

pub mod build;
pub mod containers;
pub mod detach;
pub mod error;
pub mod events;
pub mod exec_root;
pub mod images;
pub mod layers;
pub mod networks;

/// Re-exports for the API: image references.
pub mod reference {
    pub use berth_reference::*;
}

/// Re-exports for the API: registry credentials.
pub mod registry {
    pub use berth_registry_client::credentials::decode_registry_auth;
    pub use berth_registry_client::Credentials;
}
pub mod system;
pub mod volumes;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_content::BlobStore;
use berth_store::Store;

use error::io_context;
pub use error::{EngineError, ErrorKind, Result};
use images::{ImageRecord, IMAGES};
use layers::{parse_digest, LayerRecord, LayerStore, LAYERS};

/// How the daemon was configured (flags and daemon.json, merged).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Root of persistent state (`--data-root`).
    pub data_root: PathBuf,
    /// Root of runtime state (`--exec-root`).
    pub exec_root: PathBuf,
    /// `--label` values, `key=value`.
    pub labels: Vec<String>,
    /// `--debug`.
    pub debug: bool,
    /// The storage driver (only `overlay2`).
    pub storage_driver: String,
    /// Networking settings.
    pub network: networks::NetworkConfig,
    /// Registry settings.
    pub registry: images::distribution::RegistryConfig,
}

/// The engine: one per daemon.
pub struct Engine {
    /// Configuration.
    pub config: EngineConfig,
    /// Metadata.
    pub store: Store,
    /// Blobs.
    pub blobs: BlobStore,
    /// Unpacked layers.
    pub layers: LayerStore,
    /// Event bus.
    pub events: events::EventBus,
    /// Serialises changes to image records, references and layers.
    image_lock: Mutex<()>,
    /// Serialises container creation and renames (name uniqueness).
    container_lock: Mutex<()>,
    /// Per-container state-change channels.
    watches: Mutex<HashMap<String, tokio::sync::watch::Sender<containers::lifecycle::Gen>>>,
    /// Attaches waiting for a container to start.
    attach_pending: Mutex<HashMap<String, usize>>,
    /// Signalled when an attach stops waiting (a start waits for none to be left).
    attach_settled: std::sync::Condvar,
    /// The `berth shim` of the next start, started ahead.
    standby: containers::standby::Standby,
    /// A thread is making the next container's directory.
    ready_dir_busy: Arc<std::sync::atomic::AtomicBool>,
    /// The daemon's async runtime (monitors, restart timers).
    rt: tokio::runtime::Handle,
    /// Volumes (`<data-root>/volumes`).
    pub volumes: berth_volumes::VolumeStore,
    /// Networking state (ports, proxies, DNS servers, name tables).
    pub(crate) net: networks::NetState,
    /// Serialises network creation, removal and address allocation.
    pub(crate) network_lock: Mutex<()>,
    /// Exec instances (in memory, as Docker keeps them).
    execs: Mutex<HashMap<String, containers::exec::ExecRecord>>,
    /// The volumes each running container holds mounted (released once, at
    /// its stop, whatever part of a start failed).
    pub(crate) volume_holds: Mutex<HashMap<String, Vec<String>>>,
    /// Set when the daemon is shutting down: monitors whose connections
    /// the runtime closes must not take that for a container's exit.
    closing: std::sync::atomic::AtomicBool,
    /// Persistent daemon ID (shown by `info`).
    pub id: String,
}

impl Engine {
    /// Marks the engine as shutting down: from now on no exit is recorded
    /// (running containers outlive the daemon under their shims and are
    /// picked up again by [`Engine::recover_containers`]).
    pub fn begin_shutdown(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether any container runs (or is paused) by the records; true when
    /// the records cannot be read, so callers err on the side of keeping
    /// what running containers need.
    pub fn any_container_running(&self) -> bool {
        self.container_records()
            .map(|cs| cs.iter().any(|c| c.state.running))
            .unwrap_or(true)
    }

    /// Whether [`Engine::begin_shutdown`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Opens the engine on its data root: creates the layout, opens the
    /// store, and sweeps away whatever an interrupted operation left. Must
    /// be called inside the daemon's tokio runtime; call
    /// [`Engine::recover_containers`] next.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        if config.storage_driver != "overlay2" {
            return Err(EngineError::invalid(format!(
                "unsupported storage driver: {} (berth supports only overlay2)",
                config.storage_driver
            )));
        }
        let root = &config.data_root;
        std::fs::create_dir_all(root)
            .map_err(io_context(format!("creating data root {}", root.display())))?;
        berth_snapshot::init_layer::ensure(&root.join("init"))
            .map_err(|e| EngineError::internal(e.to_string()))?;
        let store = Store::open(&root.join("berth.db"))?;
        let blobs = BlobStore::open(&root.join("blobs"))?;
        let layers = LayerStore::open(&root.join("overlay2"), blobs.clone())?;
        let volumes = berth_volumes::VolumeStore::open(&root.join("volumes"))
            .map_err(crate::volumes::verr)?;
        let id = daemon_id(root)?;
        let engine = Engine {
            config,
            store,
            blobs,
            layers,
            events: events::EventBus::new(),
            image_lock: Mutex::new(()),
            container_lock: Mutex::new(()),
            watches: Mutex::new(HashMap::new()),
            attach_pending: Mutex::new(HashMap::new()),
            attach_settled: std::sync::Condvar::new(),
            standby: Default::default(),
            ready_dir_busy: Default::default(),
            volume_holds: Mutex::new(HashMap::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
            execs: Mutex::new(HashMap::new()),
            volumes,
            net: networks::NetState::default(),
            network_lock: Mutex::new(()),
            rt: tokio::runtime::Handle::try_current().map_err(|_| {
                EngineError::internal("the engine must be opened inside the async runtime")
            })?,
            id,
        };
        engine.sweep()?;
        engine.init_networks()?;
        Ok(Arc::new(engine))
    }

    /// Removes blobs and layer directories that no record names (left by an
    /// interrupted import or load, or a crash during `rmi`).
    fn sweep(&self) -> Result<()> {
        let layers: Vec<(String, LayerRecord)> = self.store.list(LAYERS)?;
        let images: Vec<(String, ImageRecord)> = self.store.list(IMAGES)?;
        let known_layers: HashSet<String> = layers.iter().map(|(k, _)| k.clone()).collect();
        let removed_dirs = self.layers.sweep(&known_layers)?;
        let mut keep: HashSet<String> = layers.iter().map(|(_, r)| r.blob.clone()).collect();
        for (_, r) in &images {
            keep.insert(r.id.clone());
            if let Some(m) = &r.manifest {
                keep.insert(m.clone());
            }
        }
        let mut removed_blobs = 0;
        for d in self.blobs.list()? {
            if !keep.contains(&d.to_string()) {
                self.blobs.delete(&d)?;
                removed_blobs += 1;
            }
        }
        if removed_dirs + removed_blobs > 0 {
            tracing::info!("cleaned up {removed_dirs} unused layer directories and {removed_blobs} unused blobs");
        }
        // Records whose files vanished are reported, never silently dropped.
        for (_, r) in &images {
            if !self.blobs.contains(&parse_digest(&r.id)?) {
                tracing::warn!("image {} has lost its config blob", r.id);
            }
        }
        Ok(())
    }

    /// Deletes those of `blobs` (digest strings) that no record names and no
    /// operation in progress holds (leases are taken on blob digests too): the leftovers of a failed import or load.
    pub(crate) fn drop_unreferenced_blobs(&self, blobs: &[String]) {
        let _g = self.image_lock.lock();
        let Ok(layers) = self.store.list::<LayerRecord>(LAYERS) else {
            return;
        };
        let Ok(images) = self.store.list::<ImageRecord>(IMAGES) else {
            return;
        };
        for b in blobs {
            let used = self.layers.is_leased(b)
                || layers.iter().any(|(_, r)| &r.blob == b)
                || images
                    .iter()
                    .any(|(_, r)| &r.id == b || r.manifest.as_ref() == Some(b));
            if !used {
                if let Ok(d) = parse_digest(b) {
                    let _ = self.blobs.delete(&d);
                }
            }
        }
    }

    /// Flushes everything written under the data root to disk, so that the
    /// metadata committed next never points at data a power cut could lose.
    pub(crate) fn sync_data_root(&self) {
        if let Ok(f) = std::fs::File::open(&self.config.data_root) {
            let _ = rustix::fs::syncfs(&f);
        }
    }
}

fn daemon_id(root: &Path) -> Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| EngineError::internal(format!("random: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    let tmp = root.join("engine-id.tmp");
    std::fs::write(&tmp, &id).map_err(io_context(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &p).map_err(io_context(format!("writing {}", p.display())))?;
    Ok(id)
}
