//! A hierarchy's connector, from its onboarding token to its removal: a token is made, the site
//! attaches with it and reports itself, an administrator asks it to offboard, and it is removed
//! when the site confirms or the grace period ends.

use admin_api::protocol::{OnboardResponse, SiteInfo};
use admin_api::{Connector, ConnectorEvent, DevicesEvent, Event, OnboardingToken};
use time::OffsetDateTime;

use crate::error::AppResult;
use crate::state::{to_time, AppState};
use crate::store::audit::Actor;
use crate::store::connectors::NewConnector;
use crate::store::{timestamp, Store};
use crate::{secrets, Config};

/// Makes a one-time onboarding token; only its hash is kept.
pub async fn new_onboarding_token(
    store: &Store,
    config: &Config,
    actor: &Actor,
) -> AppResult<OnboardingToken> {
    let token = secrets::generate("cmot_");
    let now = OffsetDateTime::now_utc();
    let expires = now + to_time(config.onboarding_token_lifetime);
    store
        .insert_onboarding_token(&secrets::hash(&token), actor, now, expires)
        .await?;
    Ok(OnboardingToken {
        token,
        expires_date_time: timestamp(expires),
    })
}

/// Attaches a hierarchy with a live onboarding token (used up by it) and gives it its
/// credential, shown only now.
pub async fn onboard(
    state: &AppState,
    token: &str,
    hierarchy_id: String,
    request_id: &str,
) -> AppResult<OnboardResponse> {
    let connector_id = uuid::Uuid::new_v4().to_string();
    let secret = secrets::generate("cmsec_");
    let now = state.now();
    state
        .store
        .onboard(
            &secrets::hash(token),
            &NewConnector {
                id: connector_id.clone(),
                hierarchy_id,
                credential_hash: secrets::hash(&secret),
                onboarded_at: timestamp(now),
            },
            &crate::request_id::acting_in(Actor::connector(&connector_id), request_id),
            now,
        )
        .await?;
    tracing::info!(connector = %connector_id, "site onboarded");
    announce(state, &connector_id).await;
    Ok(OnboardResponse {
        credential: format!("{connector_id}.{secret}"),
        connector_id,
    })
}

/// The site says what it is (name, version, sites, upload scope).
pub async fn report_site(state: &AppState, connector_id: &str, info: &SiteInfo) -> AppResult<()> {
    state
        .store
        .report_site(connector_id, info, state.now())
        .await?;
    announce(state, connector_id).await;
    Ok(())
}

/// Starts offboarding: the site is told on its next poll. The connector as it is now, or `None`
/// when there is no such connector. Repeating it changes nothing.
pub async fn request_offboard(
    state: &AppState,
    id: &str,
    actor: &Actor,
) -> AppResult<Option<Connector>> {
    let now = state.now();
    if !state.store.request_offboard(id, actor, now).await? {
        return Ok(None);
    }
    // Read and announced before the site is told: an online site confirms at once, and the
    // connector could be gone (and its removal announced) before this read or event.
    let Some(connector) = state
        .store
        .connector(id, now, state.online_window())
        .await?
    else {
        return Ok(None);
    };
    tracing::info!(connector = %id, actor = %actor.name, "offboarding requested");
    // Written with the change on PostgreSQL (see Store::write_connector_event).
    state.live.committed(Event::Connector(ConnectorEvent {
        id: id.to_owned(),
        connector: Some(connector.clone()),
    }));
    state.live.signal_site(id).await;
    Ok(Some(connector))
}

/// Removes an offboarded connector with its devices and cancels its open actions; nothing when
/// it is already gone.
pub async fn complete_offboard(
    state: &AppState,
    connector_id: &str,
    actor: &Actor,
) -> AppResult<()> {
    let Some(done) = state
        .store
        .complete_offboard(connector_id, actor, state.now())
        .await?
    else {
        return Ok(());
    };
    tracing::info!(
        connector = connector_id,
        canceled = done.canceled.len(),
        devices = done.removed_devices,
        "offboarding complete"
    );
    // Written with the change (see store::write_event).
    for action in done.canceled {
        state.live.committed(Event::DeviceAction(action));
    }
    for request in done.canceled_requests {
        state.live.committed(Event::SiteRequest(request));
    }
    state.live.committed(Event::Devices(DevicesEvent {
        connector_id: connector_id.to_owned(),
        changed: done.removed_devices,
    }));
    state.live.committed(Event::Connector(ConnectorEvent {
        id: connector_id.to_owned(),
        connector: None,
    }));
    state.live.signal_site(connector_id).await;
    Ok(())
}

/// Completes the offboardings no site confirmed within the grace period.
pub async fn complete_overdue_offboardings(state: &AppState) -> AppResult<()> {
    let due = state
        .store
        .offboardings_due(state.now() - to_time(state.config.offboard_grace))
        .await?;
    for connector_id in due {
        complete_offboard(state, &connector_id, &Actor::system()).await?;
    }
    Ok(())
}

/// The connector as the admin API shows it after a change, announced as a `connector` event:
/// on PostgreSQL the change wrote it (see [`Store::write_connector_event`]) and the relays deliver
/// it; on SQLite it is read now, after the commit, and sent to the streams.
///
/// [`Store::write_connector_event`]: crate::store::Store::write_connector_event
pub(crate) async fn announce(state: &AppState, id: &str) {
    if state.store.is_shared() {
        return;
    }
    match state
        .store
        .connector(id, state.now(), state.online_window())
        .await
    {
        Ok(connector) => state.live.committed(Event::Connector(ConnectorEvent {
            id: id.to_owned(),
            connector,
        })),
        Err(error) => {
            tracing::error!(%error, connector = id, "could not read a connector to publish")
        }
    }
}
