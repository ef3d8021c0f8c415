use admin_api::{
    Collection, ConfigurationManagerAction, ConfigurationManagerActionType, DeviceAction,
    TriggerConfigurationManagerAction,
};

use super::{get, post, ApiError, API_BASE};

/// Asks for a ConfigMgr action on a device. The idempotency key makes a retried request (or a
/// double click) return the same action.
pub async fn trigger(
    device_id: &str,
    action: ConfigurationManagerActionType,
    idempotency_key: &str,
) -> Result<DeviceAction, ApiError> {
    let id: String = js_sys::encode_uri_component(device_id).into();
    post(
        &format!("{API_BASE}/devices/{id}/triggerConfigurationManagerAction"),
        &TriggerConfigurationManagerAction {
            configuration_manager_action: ConfigurationManagerAction { action },
        },
        &[("Idempotency-Key", idempotency_key)],
    )
    .await
}

/// The device's latest actions, newest first.
pub async fn for_device(device_id: &str) -> Result<Collection<DeviceAction>, ApiError> {
    let id: String = js_sys::encode_uri_component(device_id).into();
    get(&format!("{API_BASE}/devices/{id}/deviceActions?$top=50")).await
}
