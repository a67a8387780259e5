//! `refinery::embed_migrations!` reads `schemas/migrations` at compile time,
//! but cargo does not know that: without this, a new migration file is not
//! embedded until something else in this crate changes.
fn main() {
    println!("cargo:rerun-if-changed=../../schemas/migrations");
}
