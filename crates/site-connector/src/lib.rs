//! A Configuration Manager hierarchy's service connection point: a real site through its
//! AdminService ([`admin_service`]) or a simulated hierarchy, attached to the admin center through
//! the connector protocol's work loop (the `connector-protocol` crate), run as the `site-connector`
//! command ([`run`]).

pub mod admin_service;
pub mod run;

pub use connector_protocol::{client, secret_file, site, source, state};
pub use connector_protocol::{
    DeviceSource, Outcome, ProtocolClient, ProtocolError, SiteConnector, SiteError, SiteOptions,
};
pub use simulated_hierarchy as hierarchy;
pub use simulated_hierarchy::{HierarchyConfig, SimulatedHierarchy, SimulatedSite};
