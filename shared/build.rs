// Rebuild when a migration is added or changed: `sqlx::migrate!` embeds the
// migrations folder at compile time but does not track it on stable Rust.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
