//! Attach Center: the admin center for Configuration Manager tenant attach, as a Leptos SPA.

pub mod api;
pub mod app;
pub mod components;
pub mod format;
pub mod live;
pub mod pages;
pub mod session;
