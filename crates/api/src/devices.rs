use serde::{Deserialize, Serialize};

use crate::fields::{Field, FieldType};
use crate::wire_enum::wire_enum;

wire_enum!(
    /// Who manages the device's workloads.
    ManagedBy { ConfigMgr = "configMgr", CoManaged = "coManaged", Intune = "intune" }
);

wire_enum!(
    OwnerType { Company = "company", Personal = "personal", Unknown = "unknown" }
);

wire_enum!(
    ComplianceState {
        Compliant = "compliant",
        Noncompliant = "noncompliant",
        ConfigManager = "configManager",
        InGracePeriod = "inGracePeriod",
        Unknown = "unknown",
    }
);

wire_enum!(
    /// Health of the Configuration Manager client as its site last evaluated it.
    ClientHealthState { Healthy = "healthy", Unhealthy = "unhealthy", Unknown = "unknown" }
);

/// The columns All devices shows until the operator chooses others, which are also the export's
/// when its `$select` does not say.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "deviceName",
    "managedBy",
    "ownerType",
    "complianceState",
    "operatingSystem",
    "osVersion",
    "userPrincipalName",
    "lastSyncDateTime",
];

/// Every field of a [`Device`], in the order `$select` and the CSV export know them. The
/// client information is stored as its three fields; a site sends every field but the server's
/// own (`id` is the key, the hierarchy's name, site code and the check-in come from the
/// connector and the sync).
pub const DEVICE_FIELDS: &[Field] = &[
    Field::text("id", "id").filterable().selectable().required(),
    Field::text("deviceName", "device_name")
        .listed()
        .from_site()
        .searched()
        .required(),
    Field::one_of("managedBy", "managed_by", ManagedBy::WIRE)
        .listed()
        .from_site()
        .required(),
    Field::one_of("ownerType", "owner_type", OwnerType::WIRE)
        .listed()
        .from_site()
        .required(),
    Field::one_of("complianceState", "compliance_state", ComplianceState::WIRE)
        .listed()
        .from_site()
        .required(),
    Field::text("operatingSystem", "operating_system")
        .listed()
        .from_site(),
    Field::text("osVersion", "os_version").listed().from_site(),
    Field::text("userPrincipalName", "user_principal_name")
        .listed()
        .from_site()
        .searched(),
    Field::text("userDisplayName", "user_display_name")
        .listed()
        .from_site(),
    Field::date_time("lastSyncDateTime", "last_sync_at").listed(),
    Field::date_time("enrolledDateTime", "enrolled_at")
        .listed()
        .from_site(),
    Field::text("serialNumber", "serial_number")
        .listed()
        .from_site()
        .searched(),
    Field::text("manufacturer", "manufacturer")
        .listed()
        .from_site(),
    Field::text("model", "model").listed().from_site(),
    Field::text("azureADDeviceId", "azure_ad_device_id")
        .listed()
        .from_site(),
    Field::text("domainName", "domain_name")
        .listed()
        .from_site(),
    Field::text("sku", "sku").listed().from_site(),
    Field::text("connectorId", "connector_id")
        .filterable()
        .selectable()
        .required(),
    Field::text("hierarchyName", "hierarchy_name").listed(),
    Field::text("siteCode", "site_code").listed(),
    Field::object("configurationManagerClientInformation").selectable(),
    Field::text(
        "configurationManagerClientInformation/clientIdentifier",
        "client_identifier",
    )
    .from_site(),
    Field::text(
        "configurationManagerClientInformation/clientVersion",
        "client_version",
    )
    .sortable()
    .filterable()
    .from_site(),
    Field::new(
        "configurationManagerClientInformation/isBlocked",
        "client_is_blocked",
        FieldType::Bool,
    )
    .from_site(),
    Field::one_of(
        "clientHealthState",
        "client_health_state",
        ClientHealthState::WIRE,
    )
    .listed()
    .from_site()
    .required(),
    Field::date_time("lastPolicyRequestDateTime", "last_policy_request_at")
        .listed()
        .from_site(),
    Field::date_time("lastActiveDateTime", "last_active_at")
        .listed()
        .from_site(),
    Field::new("collections", "collections", FieldType::List)
        .selectable()
        .from_site()
        .required(),
];

/// Declares a device struct: its own fields, then the fields a site sends for a device, written
/// once here. [`crate::protocol::SiteDevice`] is the first alone (what a site uploads);
/// [`Device`] adds what the server knows (the connector, the hierarchy, the sync time).
macro_rules! device_struct {
    ($(#[$attr:meta])* pub struct $name:ident { $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$field_attr])* pub $field: $ty,)*
            pub id: String,
            pub device_name: String,
            pub managed_by: ManagedBy,
            pub owner_type: OwnerType,
            pub compliance_state: ComplianceState,
            pub operating_system: Option<String>,
            pub os_version: Option<String>,
            pub user_principal_name: Option<String>,
            pub user_display_name: Option<String>,
            pub enrolled_date_time: Option<String>,
            pub serial_number: Option<String>,
            pub manufacturer: Option<String>,
            pub model: Option<String>,
            #[serde(rename = "azureADDeviceId")]
            pub azure_ad_device_id: Option<String>,
            pub domain_name: Option<String>,
            pub sku: Option<String>,
            pub configuration_manager_client_information: Option<ConfigurationManagerClientInformation>,
            pub client_health_state: ClientHealthState,
            pub last_policy_request_date_time: Option<String>,
            pub last_active_date_time: Option<String>,
            pub collections: Vec<DeviceCollection>,
        }
    };
}
pub(crate) use device_struct;

device_struct! {
    /// A device uploaded by a Configuration Manager site. `None` where the site did not report it.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Device {
        pub last_sync_date_time: Option<String>,
        pub connector_id: String,
        pub hierarchy_name: Option<String>,
        pub site_code: Option<String>,
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationManagerClientInformation {
    pub client_identifier: String,
    pub client_version: Option<String>,
    pub is_blocked: bool,
}

/// A ConfigMgr collection the device is a member of.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCollection {
    pub id: String,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for state in ComplianceState::ALL {
            let json = serde_json::to_string(state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(ComplianceState::from_wire(state.as_str()), Some(*state));
        }
        assert_eq!(ManagedBy::from_wire("ConfigMgr"), None, "eq is exact");
    }

    #[test]
    fn device_uses_graph_field_names() {
        let device = Device {
            id: "d1".into(),
            device_name: "PC-0001".into(),
            managed_by: ManagedBy::CoManaged,
            owner_type: OwnerType::Company,
            compliance_state: ComplianceState::Compliant,
            operating_system: Some("Windows".into()),
            os_version: None,
            user_principal_name: None,
            user_display_name: None,
            last_sync_date_time: None,
            enrolled_date_time: None,
            serial_number: None,
            manufacturer: None,
            model: None,
            azure_ad_device_id: Some("a".into()),
            domain_name: None,
            sku: None,
            connector_id: "c1".into(),
            hierarchy_name: None,
            site_code: None,
            configuration_manager_client_information: None,
            client_health_state: ClientHealthState::Unknown,
            last_policy_request_date_time: None,
            last_active_date_time: None,
            collections: vec![],
        };
        let json = serde_json::to_value(&device).unwrap();
        assert_eq!(json["managedBy"], "coManaged");
        assert_eq!(json["azureADDeviceId"], "a");
        assert!(
            json["osVersion"].is_null(),
            "unreported fields are null, not absent"
        );
        assert!(json.get("configurationManagerClientInformation").is_some());
    }
}
