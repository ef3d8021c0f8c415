//! A simulated Configuration Manager hierarchy's service connection point: the site side of the
//! connector protocol, for demo data and tests.

pub mod admin_service;
pub mod client;
pub mod hierarchy;
pub mod run;
pub mod secret_file;
pub mod site;
pub mod source;
pub mod state;

pub use client::{ProtocolClient, ProtocolError};
pub use hierarchy::{HierarchyConfig, SimulatedHierarchy};
pub use site::{Outcome, SiteConnector, SiteError, SiteOptions};
pub use source::DeviceSource;
