pub mod audit;
pub mod connectors;
pub mod devices;
pub mod home;
pub mod not_found;
pub mod roles;
pub mod sign_in;
