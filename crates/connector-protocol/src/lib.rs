//! The site's side of the connector protocol: a client for each call ([`client`]), the connector's
//! work loop ([`site`]) over whatever answers for the site ([`source::DeviceSource`]), and what a
//! connector keeps between runs ([`state`], written through [`secret_file`]). The `site-connector`
//! binary runs it over a real site's AdminService; the admin server's demo mode, the tests and the
//! benchmark run it over a simulated hierarchy (the `simulated-hierarchy` crate).

pub mod client;
pub mod requests;
pub mod secret_file;
pub mod site;
pub mod source;
pub mod state;
pub mod users;

pub use client::{ProtocolClient, ProtocolError};
pub use site::{Outcome, SiteConnector, SiteError, SiteOptions};
pub use source::DeviceSource;
