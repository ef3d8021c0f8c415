mod actions;
mod bulk;
mod columns;
mod filters;
mod grid;
mod list;
mod overview;
mod site;
mod trail;
pub mod view_state;

pub use list::AllDevices;
pub use overview::DeviceOverview;
