//! The error type of [`crate::apply_layer`].

use std::io;

/// Why applying a layer failed. Every variant names the tar entry at fault
/// (its cleaned, root-relative name unless the name itself is the problem).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The entry's name is not acceptable (for instance it escapes the root).
    #[error("invalid tar entry {name:?}: {reason}")]
    InvalidEntry {
        /// The entry name as found in the archive.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry would turn a directory into a non-directory or the other
    /// way round, which the caller forbade (`docker cp`).
    #[error("cannot overwrite {existing} \"{name}\" with {new} \"{name}\"")]
    KindChange {
        /// The entry name.
        name: String,
        /// "directory" or "non-directory": what is there.
        existing: &'static str,
        /// What the archive has.
        new: &'static str,
    },
    /// A symlink whose (relative) target, resolved lexically from the
    /// symlink's directory, leaves the layer root.
    #[error("invalid symlink {name:?} -> {target:?}: target escapes the layer root")]
    SymlinkEscape {
        /// The symlink's name.
        name: String,
        /// Its target, verbatim.
        target: String,
    },
    /// A hardlink whose target escapes the root, is missing or unusable.
    #[error("invalid hardlink {name:?} -> {target:?}: {reason}")]
    InvalidHardlink {
        /// The link's name.
        name: String,
        /// Its target as found in the archive.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A character or block device in a layer applied without
    /// [`crate::ApplyOptions::allow_devices`].
    #[error("device node {name:?} is not allowed in an imported layer")]
    DeviceNotAllowed {
        /// The device entry's name.
        name: String,
    },
    /// The archive itself could not be read or parsed.
    #[error("invalid layer tar ({context}): {source}")]
    Tar {
        /// Where in the archive: the entry being read, or the one before.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation failed while extracting an entry.
    #[error("extracting {name:?}: {op}: {source}")]
    Io {
        /// The entry being extracted.
        name: String,
        /// The operation that failed, e.g. "creating file".
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}
