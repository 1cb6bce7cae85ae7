#![deny(warnings)]
#[path = "../../shapes.rs"]
mod shapes;
