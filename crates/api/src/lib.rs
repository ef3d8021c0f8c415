//! Wire types of the admin REST API v1 (`shared/design/api-v1.md`).
//!
//! Serde only: the server and the SPA both compile these, so a field renamed on one side fails to
//! compile on the other. Timestamps travel as RFC 3339 UTC strings, as the contract puts them, so
//! the wasm bundle needs no date crate.

pub mod actions;
pub mod audit;
pub mod bulk;
pub mod collection;
pub mod connectors;
pub mod devices;
pub mod error;
pub mod events;
pub mod fields;
pub mod identity;
pub mod protocol;
pub mod site_requests;
pub mod views;
mod wire_enum;

pub use actions::{
    ActionState, ConfigurationManagerAction, ConfigurationManagerActionType, DeviceAction,
    TriggerConfigurationManagerAction,
};
pub use audit::{ActorType, AuditActivity, AuditEvent, AuditResult};
pub use bulk::{BulkAction, BulkActionState, NewBulkAction};
pub use collection::Collection;
pub use connectors::{
    reports_full_details_of, CheckResult, Cloud, ConnectivityCheck, Connector, ConnectorStatus,
    OnboardingToken, UploadScope,
};
pub use devices::{
    ClientHealthState, ComplianceState, ConfigurationManagerClientInformation, Device,
    DeviceCollection, ManagedBy, OwnerType,
};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use events::{ConnectorEvent, DevicesEvent, Event};
pub use identity::{Me, NewRoleDefinition, Permission, RoleDefinition, SignIn, User, UserRoles};
pub use site_requests::{
    NewSiteRequest, SiteAnswer, SiteRequest, SiteRequestKind, SiteRequestState,
};
pub use views::{DeviceView, DeviceViewChange, DeviceViewQuery, NewDeviceView};

/// Base path of the admin API.
pub const API_BASE: &str = "/api/v1";

/// Header that carries a response's request id.
pub const REQUEST_ID_HEADER: &str = "request-id";

/// Header a client may send so the server uses its id as the request id.
pub const CLIENT_REQUEST_ID_HEADER: &str = "client-request-id";
