pub mod dialog;
pub mod error_banner;
pub mod permission;
pub mod shell;
pub mod toast;
