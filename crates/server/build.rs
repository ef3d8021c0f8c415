//! `sqlx::migrate!` embeds the files of `migrations/` (one folder per backend) when the crate compiles, and Cargo reruns
//! it only when a file it already knows changes: a migration added on its own would be left out
//! of the build (and of the tests) until some source file changed. Watching the folder fixes that.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
