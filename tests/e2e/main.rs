//! End to end: the real server (in this process, on a free port, with a temporary database) serving
//! the release build of the SPA from `dist/`, driven in headless Chromium through chromedriver.
#![cfg(not(target_arch = "wasm32"))]

mod actions;
mod blade;
mod browser;
mod connectors;
mod devices;
mod helpers;
mod identity;
mod polish;
mod provider;
mod screenshots;
mod site_pages;

pub use helpers::*;
