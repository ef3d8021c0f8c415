pub mod dialog;
pub mod error_banner;
pub mod shell;
pub mod toast;
