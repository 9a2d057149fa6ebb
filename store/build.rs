// `sqlx::migrate!` embeds the migrations at build time but only notices changes to files it has
// already seen; this makes a new migration file rebuild the crate too.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
