use serde::{Deserialize, Serialize};

use crate::{Connector, DeviceAction, SiteRequest};

/// `event: connector` data: the connector as it is now, or its id once it is gone.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorEvent {
    pub id: String,
    /// `None` when the connector was removed (offboarding completed).
    pub connector: Option<Connector>,
}

/// `event: devices` data: an upload changed this many devices of a connector.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicesEvent {
    pub connector_id: String,
    pub changed: u64,
}

/// One Server-Sent Event of `GET /api/v1/events`; the SSE event name is the variant's.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    DeviceAction(DeviceAction),
    Connector(ConnectorEvent),
    Devices(DevicesEvent),
    /// A site request changed state (without its answer: read it with a GET).
    SiteRequest(SiteRequest),
    /// A bulk action started, moved on, ended or was canceled.
    BulkAction(crate::bulk::BulkAction),
}

impl Event {
    /// The SSE event names, as the server sends them and the SPA listens for them.
    pub const DEVICE_ACTION: &'static str = "deviceAction";
    pub const CONNECTOR: &'static str = "connector";
    pub const DEVICES: &'static str = "devices";
    pub const SITE_REQUEST: &'static str = "siteRequest";
    pub const BULK_ACTION: &'static str = "bulkAction";

    pub fn name(&self) -> &'static str {
        match self {
            Self::DeviceAction(_) => Self::DEVICE_ACTION,
            Self::Connector(_) => Self::CONNECTOR,
            Self::Devices(_) => Self::DEVICES,
            Self::SiteRequest(_) => Self::SITE_REQUEST,
            Self::BulkAction(_) => Self::BULK_ACTION,
        }
    }
}
