//! What a connector keeps between runs, in a state file private to its owner
//! ([`crate::secret_file`]): its credential (so a restart needs no new onboarding token) and the
//! full sync it was uploading (so an interrupted upload lands exactly once: completed under its
//! id when all of it was sent, replaced by a new one otherwise).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name in the state folder.
pub const FILE_NAME: &str = "connector-state.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectorState {
    /// The admin center it attached to.
    pub server: String,
    pub connector_id: String,
    /// `<connector id>.<secret>`, as onboarding returned it.
    pub credential: String,
    pub hierarchy_id: String,
    /// The full sync being uploaded, until its completion was answered.
    #[serde(default)]
    pub full_sync_in_progress: Option<String>,
    /// How many batches that sync has, once all of them were sent: a run that stops before
    /// then starts a new full sync (which discards what the old one staged).
    #[serde(default)]
    pub full_sync_batches: Option<u32>,
}

/// The state file of one connector.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file in `folder` (created, private to its owner, when missing).
    pub fn in_folder(folder: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(folder)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            path: folder.join(FILE_NAME),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; `None` when there is none yet. A file that cannot be read as a state
    /// is an error, never silently replaced: it holds a credential.
    pub fn load(&self) -> anyhow::Result<Option<ConnectorState>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|error| {
                anyhow::anyhow!("{} is not a connector state: {error}", self.path.display())
            })?)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    pub fn save(&self, state: &ConnectorState) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(state).expect("a state serializes");
        crate::secret_file::write(&self.path, &bytes)
    }

    /// Forgets the connector (it was offboarded or its credential revoked).
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}
