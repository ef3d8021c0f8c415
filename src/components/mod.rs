pub mod error_banner;
pub mod shell;
