use admin_api::actions::UNSUPPORTED_GRAPH_ACTIONS;
use admin_api::{Collection, DeviceAction, TriggerConfigurationManagerAction};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::domain::actions;
use crate::error::{AppError, AppJson, AppResult};
use crate::query::{decode_skiptoken, encode_skiptoken, next_link, parse_page_options};
use crate::state::AppState;
use crate::store::actions::ActionRequest;
use crate::store::SeqCursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/devices/{id}/triggerConfigurationManagerAction",
            post(trigger),
        )
        .route("/devices/{id}/deviceActions", get(list_for_device))
        .route("/deviceActions/{id}", get(one))
}

#[utoipa::path(
    post,
    path = "/api/v1/devices/{id}/triggerConfigurationManagerAction",
    tag = "deviceActions",
    summary = "Run a ConfigMgr client action",
    description = "Queues refreshMachinePolicy, refreshUserPolicy or appEvaluation for the device's site. \
        The same Idempotency-Key, or an identical action still pending or active, returns that action.",
    params(
        ("id" = String, Path, description = "Device id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Returns the same action for the same key"),
    ),
    request_body = TriggerConfigurationManagerAction,
    responses(
        (status = 202, description = "The action, queued or already standing", body = DeviceAction,
            headers(("Location" = String, description = "/api/v1/deviceActions/{actionId}"))),
        (status = 400, description = "A bad body; Graph's other actions are notSupported", body = admin_api::ErrorBody),
        (status = 404, description = "No such device", body = admin_api::ErrorBody),
        (status = 409, description = "The hierarchy is offboarding, or the key was used for another action", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn trigger(
    user: Authorized<require::ConfigurationManagerAction>,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<serde_json::Value>,
) -> AppResult<Response> {
    let requested = parse_trigger(body)?;
    let idempotency_key = idempotency_key(&headers)?;
    let action = actions::request(
        &state,
        &ActionRequest {
            device_id: &device_id,
            action: requested.configuration_manager_action.action,
            requested_by: &user.actor(),
            idempotency_key: idempotency_key.as_deref(),
        },
    )
    .await?;
    let location = format!("/api/v1/deviceActions/{}", action.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(action),
    )
        .into_response())
}

/// Graph's body, strictly: Graph's other action values are `notSupported`, anything else unknown
/// is `badRequest`.
fn parse_trigger(body: serde_json::Value) -> AppResult<TriggerConfigurationManagerAction> {
    let action = body
        .pointer("/configurationManagerAction/action")
        .and_then(serde_json::Value::as_str);
    if let Some(action) = action.filter(|a| UNSUPPORTED_GRAPH_ACTIONS.contains(a)) {
        return Err(AppError::NotSupported {
            message: format!(
                "The action '{action}' is not supported for Configuration Manager devices here. \
                 Use refreshMachinePolicy, refreshUserPolicy or appEvaluation."
            ),
            target: Some("configurationManagerAction.action".into()),
        });
    }
    serde_json::from_value(body).map_err(|e| AppError::BadRequest {
        message: format!("The request body does not fit: {e}"),
        target: Some("configurationManagerAction".into()),
    })
}

fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= admin_api::actions::MAX_IDEMPOTENCY_KEY
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(AppError::bad_request(
            "Idempotency-Key",
            "The Idempotency-Key header must be 1 to 200 visible ASCII characters, without spaces.",
        )),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/devices/{id}/deviceActions",
    tag = "deviceActions",
    summary = "A device's actions, newest first",
    params(
        ("id" = String, Path, description = "Device id"),
        ("$top" = Option<u32>, Query, description = "Page size, 1 to 1000"),
        ("$skiptoken" = Option<String>, Query, description = "Opaque cursor from @odata.nextLink"),
    ),
    responses(
        (status = 200, description = "A page of actions", body = Collection<DeviceAction>),
        (status = 404, description = "No such device", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn list_for_device(
    _: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<DeviceAction>>> {
    let options = parse_page_options(query.as_deref(), &["$top", "$skiptoken"])?;
    let after: Option<SeqCursor> = options
        .skiptoken
        .as_deref()
        .map(decode_skiptoken)
        .transpose()?;
    if state.store.device(&device_id).await?.is_none() {
        return Err(AppError::NotFound(format!(
            "There is no device with id '{device_id}'."
        )));
    }
    let (actions, next) = state
        .store
        .device_actions(&device_id, after.as_ref(), options.top)
        .await?;
    let path = format!("/api/v1/devices/{device_id}/deviceActions");
    Ok(Json(Collection {
        value: actions,
        next_link: next.map(|cursor| next_link(&path, &options, &encode_skiptoken(&cursor))),
        count: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/deviceActions/{id}",
    tag = "deviceActions",
    summary = "Get a device action",
    params(("id" = String, Path, description = "Action id")),
    responses(
        (status = 200, description = "The action", body = DeviceAction),
        (status = 404, description = "No such action", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn one(
    _: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<DeviceAction>> {
    state
        .store
        .device_action(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("There is no device action with id '{id}'.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graphs_other_actions_are_not_supported_and_unknown_ones_bad() {
        let body = |action: &str| json!({"configurationManagerAction": {"action": action}});
        assert!(parse_trigger(body("refreshUserPolicy")).is_ok());
        assert!(matches!(
            parse_trigger(body("wakeUpClient")),
            Err(AppError::NotSupported { .. })
        ));
        assert!(matches!(
            parse_trigger(body("reboot")),
            Err(AppError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_trigger(
                json!({"configurationManagerAction": {"action": "appEvaluation", "extra": 1}})
            ),
            Err(AppError::BadRequest { .. })
        ));
    }
}
