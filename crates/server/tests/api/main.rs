//! The admin API over real HTTP: the real app on port 0 with a temporary SQLite file.

mod attacks;
mod audit;
mod auditors;
mod authorization;
mod binary;
mod completion;
mod connections;
mod contract;
mod devices;
mod errors;
mod events;
mod exports;
mod hardening;
mod helpers;
mod identity;
mod instances;
mod kdc;
mod layers;
mod middleware;
mod oidc;
mod oidc_logout;
mod oidc_refusals;
mod openapi;
mod outage;
mod postgres;
mod protocol;
mod queries;
mod real_site;
mod real_site_requests;
mod removal;
mod site_requests;
mod site_user_check;
mod spa;
mod stand_in;
mod tls;

pub use helpers::*;
