//! physlearn: simulator of physical learning networks (Temporal Contrastive Learning).
pub mod io;
pub mod physics;
