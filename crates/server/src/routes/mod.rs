//! The admin API under `/api/v1`: each resource module brings its own router, merged here.

pub mod actions;
pub mod audit;
pub mod bulk;
pub mod connectors;
mod csv;
pub mod devices;
pub mod events;
pub mod oidc;
pub mod openapi;
pub mod roles;
pub mod session;
pub mod site_requests;
pub mod views;

use axum::Router;

use crate::error::unknown_route;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(devices::router())
        .merge(actions::router())
        .merge(site_requests::router())
        .merge(connectors::router())
        .merge(events::router())
        .merge(session::router())
        .merge(oidc::router())
        .merge(roles::router())
        .merge(audit::router())
        .merge(views::router())
        .merge(bulk::router())
        .merge(openapi::router())
        .fallback(unknown_route)
}
