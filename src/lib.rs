//! physlearn: simulator of physical learning networks (Temporal Contrastive Learning).
pub mod chem;
pub mod ep;
pub mod generate;
pub mod io;
pub mod learning;
pub mod netlist;
pub mod physics;
pub mod protocol;
pub mod sim;
pub mod synapse;
pub mod train;
