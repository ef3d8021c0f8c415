//! Attach Center: the admin center for Configuration Manager tenant attach, as a Leptos SPA.

pub mod api;
pub mod app;
pub mod components;
pub mod format;
pub mod live;
pub mod order;
pub mod pages;
pub mod paths;
pub mod session;
pub mod url_state;
