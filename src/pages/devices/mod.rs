mod actions;
mod list;
mod overview;
pub mod view_state;

pub use list::AllDevices;
pub use overview::DeviceOverview;
