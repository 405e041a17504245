//! One module per command.
pub mod bulk;
pub mod demo;
pub mod inspect;
pub mod keygen;
pub mod migrate;
pub mod rekey;
pub mod scan;
pub mod serve;
pub mod transfer;
