//! What happens in the product, one function per step: each writes its change together with
//! its audit entry (one transaction, in the store), then announces it (an event for the admin
//! center's pages, a signal for the site that has work waiting).
//!
//! Routes, the connector protocol, the sweeper, demo mode and the command line call these;
//! nothing here knows HTTP, and the store below knows nothing of this layer.

pub mod actions;
pub mod bulk;
pub mod connectors;
pub mod devices;
pub mod site_requests;
