mod actions;
mod list;
mod overview;

pub use list::AllDevices;
pub use overview::DeviceOverview;
