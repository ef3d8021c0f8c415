use admin_api::{
    Collection, ConfigurationManagerAction, ConfigurationManagerActionType, DeviceAction,
    TriggerConfigurationManagerAction,
};

use super::{get, post, ApiError, API_BASE};

/// A fresh key for one action request: a random UUID, or where the page is not a secure context
/// (no `crypto.randomUUID`), random bits and the time, in hex (whole numbers: formatting a float
/// would pull float printing into the bundle).
pub fn new_idempotency_key() -> String {
    let window = web_sys::window().expect("a browser window");
    window
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_else(|_| {
            let bits = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
            format!("{bits:x}-{:x}", js_sys::Date::now() as u64)
        })
}

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
