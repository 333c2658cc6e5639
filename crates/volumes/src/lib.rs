//! Docker-compatible volumes for berth: the `local` driver's volume store
//! (named and anonymous volumes under `<data-root>/volumes`, crash-safe
//! creation, reference-counted mounts of `type`/`device` volumes), the
//! filters of `volume ls`/`volume prune`, Docker's copy-up of image content
//! into new volumes, safe mount points inside a container's root
//! filesystem, and the parsers of `-v`, `--mount`, `HostConfig.Binds` and
//! `HostConfig.Mounts` with Docker's error texts.
//!
//! The engine owns references (which container uses which volume) and
//! calls [`VolumeStore::mount`]/[`VolumeStore::unmount`] around a
//! container's life; everything here is synchronous and thread-safe.

#![warn(missing_docs)]

mod copy;
mod error;
mod filters;
mod local;
mod rootfs;
mod spec;
mod store;
mod units;

pub use copy::{copy_up, copy_up_in_root};
pub use error::{ErrorKind, Result, VolumeError};
pub use filters::{Filters, LIST_FILTERS, PRUNE_FILTERS};
pub use local::{check_bind_propagation, parse_mount_options, validate_opts, VALID_OPTS};
pub use rootfs::{safe_mountpoint, volume_subpath, MountTarget};
pub use spec::{
    bind_source_missing, clean_path, parse_bind, parse_mount_flag, parse_mount_spec,
    parse_volume_flag, parse_volumes_from, split_volume_flags, tmpfs_options, types,
    validate_mount_spec, BindOptions, DriverConfig, ImageOptions, MountPoint, MountSpec,
    TmpfsOptions, VolumeFlag, VolumeOptions, DEFAULT_PROPAGATION, PROPAGATIONS,
};
pub use store::{
    generate_name, validate_name, CreateOptions, UsageData, Volume, VolumeStore, ANONYMOUS_LABEL,
    DATA_DIR, LOCAL_DRIVER, META_FILE,
};
pub use units::ram_in_bytes;
